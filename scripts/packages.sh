#!/bin/bash
# Installs the Debian/Ubuntu packages berth's build, demo and tests need (idempotent,
# quiet, no stdin). Usage: scripts/packages.sh [build|test]
set -euo pipefail

# nftables: the default bridge network's NAT, isolation and published ports.
want=(busybox-static libseccomp-dev pkg-config ca-certificates nftables)
if [ "${1:-build}" = test ]; then
    # runc/crun: comparison peers; iproute2: netns tests; util-linux: `script` for ptys;
    # podman/containerd/skopeo: interop tests (drop-in runtime, image archives);
    # catatonit: run --init; nftables: bridge networks' NAT and isolation rules;
    # curl: requests to published ports from test network namespaces.
    # buildah: `berth build` compared with `buildah bud` (tests/interop/build-buildah.sh).
    # iptables: the firewall fallback's tests (BERTH_FIREWALL=iptables).
    # qemu-user-static, binutils-aarch64-linux-gnu: `build --platform linux/arm64`
    # runs an arm64 program the test assembles, through a binfmt handler it registers.
    want+=(qemu-user-static binutils-aarch64-linux-gnu runc crun iproute2 util-linux procps podman conmon catatonit containerd skopeo uidmap jq docker-registry apache2-utils openssl nftables curl buildah iptables)
fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "packages.sh: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
