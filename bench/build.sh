#!/usr/bin/env bash
# `berth build` against `podman build` (Buildah inside) on the same contexts, side by
# side in one run.
#
#   bench/build.sh [--runs N] [--berth PATH] [--out DIR]
#
# Context A (the issue's): FROM busybox, 3 RUN, COPY of 1000 small files, 1 RUN.
#   cold      every step runs (--no-cache; the base image is present)
#   cached    nothing changed
#   touch     one copied file's mtime changed
#   content   one copied file's content changed
# Context B: FROM busybox, COPY of 10,000 small files, 1 RUN: cold and cached.
# Both tools use their own scratch stores, the same busybox image, no network.
set -euo pipefail

die() { printf 'build-bench: error: %s\n' "$*" >&2; exit 1; }
info() { printf 'build-bench: %s\n' "$*" >&2; }

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)
runs=10
berth=$repo_root/target/release/berth
out=""
while (($#)); do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--berth) berth=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
done
((EUID == 0)) || die "must run as root"
[[ -x $berth ]] || die "no berth binary at $berth (scripts/build-release.sh)"
for c in hyperfine podman jq; do
	command -v "$c" >/dev/null || die "$c is missing (apt-get install hyperfine podman jq)"
done
out=${out:-$repo_root/target/bench/build-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

tag=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
tmp=$(mktemp -d /tmp/berth-build.XXXXXX)
b_run=/run/bb-$tag
p_run=/run/bp-$tag
export BERTH_ROOT=$tmp/berth BERTH_RUNROOT=$b_run
export CONTAINERS_CONF=$tmp/containers.conf
podman=(podman --root "$tmp/podman" --runroot "$p_run" --storage-driver overlay)

cleanup() {
	trap - EXIT
	"$berth" system reset -f >/dev/null 2>&1 || true
	"${podman[@]}" system reset -f >/dev/null 2>&1 || true
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

info "preparing the busybox image for berth and podman"
"$repo_root/scripts/busybox-bundle.sh" "$tmp/bundle" true >/dev/null
tar -C "$tmp/bundle/rootfs" -cf "$tmp/busybox.tar" .
"$berth" import -c 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest >/dev/null
"${podman[@]}" import --change 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest >/dev/null

a=$tmp/ctx-a
mkdir -p "$a/files"
for i in $(seq -w 1 1000); do echo "file $i" >"$a/files/f$i"; done
cat >"$a/Dockerfile" <<'EOF'
FROM busybox
RUN echo one > /one
RUN echo two > /two
RUN echo three > /three
COPY files /files
RUN ls /files | wc -l > /count
EOF
b=$tmp/ctx-b
mkdir -p "$b/files"
(cd "$b/files" && for d in $(seq -w 1 100); do mkdir "d$d"; for i in $(seq -w 1 100); do echo "$d $i" >"d$d/f$i"; done; done)
cat >"$b/Dockerfile" <<'EOF'
FROM busybox
COPY files /files
RUN du -s /files > /size
EOF

hf() { # name, then hyperfine arguments
	local name=$1
	shift
	hyperfine -N --warmup 1 --runs "$runs" --export-json "$out/$name.json" "$@" >"$out/$name.txt" 2>&1 ||
		{ cat "$out/$name.txt" >&2; die "hyperfine $name failed"; }
}
bb="$berth build -q"
pb="${podman[*]} build -q --network none"

info "context A: cold ($runs runs each)"
hf a-cold -n "berth cold" "$bb --no-cache -t a $a" -n "podman cold" "$pb --no-cache -t a $a"
info "context A: cached"
$bb -t a "$a" >/dev/null
$pb -t a "$a" >/dev/null
hf a-cached -n "berth cached" "$bb -t a $a" -n "podman cached" "$pb -t a $a"
info "context A: one file touched"
hf a-touch --prepare "touch $a/files/f0500" \
	-n "berth touch" "$bb -t a $a" -n "podman touch" "$pb -t a $a"
info "context A: one file's content changed"
hf a-content --prepare "sh -c 'date +%s%N > $a/files/f0500'" \
	-n "berth content" "$bb -t a $a" -n "podman content" "$pb -t a $a"
info "context B (10,000 files): cold and cached"
hf b-cold -n "berth cold 10k" "$bb --no-cache -t b $b" -n "podman cold 10k" "$pb --no-cache -t b $b"
$bb -t b "$b" >/dev/null
$pb -t b "$b" >/dev/null
hf b-cached -n "berth cached 10k" "$bb -t b $b" -n "podman cached 10k" "$pb -t b $b"

median() { jq -r ".results[] | select(.command == \"$2\") | .median" "$out/$1.json"; }
{
	echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); $runs runs each; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "| case | berth s | podman s | berth / podman |"
	echo "| --- | --- | --- | --- |"
	for c in "a-cold:cold" "a-cached:cached" "a-touch:touch" "a-content:content" "b-cold:cold 10k" "b-cached:cached 10k"; do
		f=${c%%:*}
		n=${c#*:}
		bm=$(median "$f" "berth $n")
		pm=$(median "$f" "podman $n")
		printf '| %s | %.3f | %.3f | %.2fx |\n' "$f" "$bm" "$pm" "$(echo "$bm / $pm" | bc -l)"
	done
} | tee "$out/summary.md"
