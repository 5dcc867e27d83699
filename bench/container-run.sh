#!/usr/bin/env bash
# Whole-command container latency and monitor memory: berth against podman and raw runc.
#
#   bench/container-run.sh [--runs N] [--berth PATH] [--out DIR]
#
# Times, with hyperfine, in one run so the ratios are comparable:
#   run --rm busybox true   berth and podman run --rm --network none / runc run
#   run -d                  berth and podman run -d --network none (removed afterwards)
#   exec                    berth exec / podman exec into a running container
# and reads the idle RSS of one berth-monitor against one conmon. Everything lives
# in a scratch directory; podman gets its own root, runroot and containers.conf
# (see ../shared/PEERS.md for why), and nothing touches the host's networking.
set -euo pipefail

die() { printf 'container-run: error: %s\n' "$*" >&2; exit 1; }
info() { printf 'container-run: %s\n' "$*" >&2; }

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)
runs=50
berth=$repo_root/target/release/berth
out=""
while (($#)); do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--berth) berth=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
done
((EUID == 0)) || die "must run as root"
[[ -x $berth ]] || die "no berth binary at $berth (scripts/build-release.sh)"
[[ -x $(dirname "$berth")/berth-monitor ]] || die "no berth-monitor next to $berth"
for c in hyperfine podman runc conmon jq; do
	command -v "$c" >/dev/null || die "$c is missing (apt-get install hyperfine podman runc conmon jq)"
done
out=${out:-$repo_root/target/bench/container-run-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

tag=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
tmp=$(mktemp -d /tmp/berth-crun.XXXXXX)
# Unix socket paths must stay short: the run roots live directly under /run.
b_run=/run/bb-$tag
p_run=/run/bp-$tag
export BERTH_ROOT=$tmp/berth BERTH_RUNROOT=$b_run
export CONTAINERS_CONF=$tmp/containers.conf
podman=(podman --root "$tmp/podman" --runroot "$p_run" --storage-driver overlay)

cleanup() {
	trap - EXIT
	# The whole scratch store, its default network's bridge and nft chains included.
	"$berth" system reset -f >/dev/null 2>&1 || true
	"${podman[@]}" rm -f -t 0 --all >/dev/null 2>&1 || true
	"${podman[@]}" system reset -f >/dev/null 2>&1 || true
	runc --root "$tmp/runc" list -q 2>/dev/null | while read -r id; do
		runc --root "$tmp/runc" delete -f "$id" >/dev/null 2>&1 || true
	done
	umount -R "$tmp/podman" 2>/dev/null || true
	rm -rf "$tmp" "$b_run" "$p_run"
}
trap cleanup EXIT

cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

info "preparing the busybox image for berth and podman, and a runc bundle"
"$repo_root/scripts/busybox-bundle.sh" "$tmp/bundle" true >/dev/null
tar -C "$tmp/bundle/rootfs" -cf "$tmp/busybox.tar" .
"$berth" import -c 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest >/dev/null
"${podman[@]}" import --change 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest >/dev/null

hf() { # name, then hyperfine arguments
	local name=$1
	shift
	hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/$name.json" "$@" >"$out/$name.txt" 2>&1 ||
		{ cat "$out/$name.txt" >&2; die "hyperfine $name failed"; }
}

info "run --rm busybox true ($runs runs each)"
hf run-rm \
	-n "berth run --rm" "$berth run --rm --network none busybox true" \
	-n "podman run --rm" "${podman[*]} run --rm --network none busybox true" \
	-n "runc run" "sh -c 'exec runc --root $tmp/runc run --bundle $tmp/bundle c\$\$'"

info "run -d busybox sleep 1000"
hf run-d \
	-n "berth run -d" "$berth run -d --network none busybox sleep 1000" \
	-n "podman run -d" "${podman[*]} run -d --network none busybox sleep 1000"
"$berth" rm -f $("$berth" ps -aq) >/dev/null
"${podman[@]}" rm -f -t 0 --all >/dev/null

info "exec into a running container"
bid=$("$berth" run -d --network none busybox sleep 1000)
pid=$("${podman[@]}" run -d --network none busybox sleep 1000)
hf exec \
	-n "berth exec" "$berth exec $bid true" \
	-n "podman exec" "${podman[*]} exec $pid true"

info "idle monitor memory"
sleep 2
mon=$(cat "$b_run/containers/$bid/monitor.pid")
conmon=$("${podman[@]}" inspect -f '{{.State.ConmonPid}}' "$pid")
rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
{
	echo "| process | VmRSS kB | RssAnon kB | RssFile kB |"
	echo "| --- | --- | --- | --- |"
	echo "| berth-monitor | $(rss "$mon" VmRSS) | $(rss "$mon" RssAnon) | $(rss "$mon" RssFile) |"
	echo "| conmon | $(rss "$conmon" VmRSS) | $(rss "$conmon" RssAnon) | $(rss "$conmon" RssFile) |"
} >"$out/rss.md"

median() { jq -r ".results[] | \"\(.command)\t\(.median * 1000 | . * 10 | round / 10)\"" "$out/$1.json"; }
{
	echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); $runs runs each"
	echo
	echo "| command | median ms |"
	echo "| --- | --- |"
	for b in run-rm run-d exec; do
		median "$b" | while IFS=$'\t' read -r c m; do echo "| $c | $m |"; done
	done
	echo
	cat "$out/rss.md"
} | tee "$out/summary.md"
