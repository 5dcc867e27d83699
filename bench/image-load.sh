#!/usr/bin/env bash
# `berth import` / `berth load` of a Debian bookworm minbase image against
# `podman import` / `podman load`, each into an empty store, plus disk use and
# peak RSS.
#
#   bench/image-load.sh [--runs N] [--berth PATH] [--out DIR]
#
# The rootfs tarball (debootstrap --variant=minbase bookworm, ~130 MB) is
# cached in ${BERTH_BENCH_CACHE:-/var/cache/berth-bench}. Docker archives
# (1 layer and 4 layers) are made with podman (import, build FROM scratch with
# ADD of rootfs parts, save). See docs/benchmarks.md.
set -euo pipefail

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
CACHE=${BERTH_BENCH_CACHE:-/var/cache/berth-bench}
readonly ROOTFS_TAR_NAME=$SUITE-minbase-rootfs.tar

die() { printf 'image-load: error: %s\n' "$*" >&2; exit 1; }
info() { printf 'image-load: %s\n' "$*" >&2; }

usage() {
	cat <<'EOF'
usage: bench/image-load.sh [--runs N] [--berth PATH] [--out DIR]

  --runs N      timed runs per command (default 5; 1 warmup run extra)
  --berth PATH  berth binary (default: <repo>/target/release/berth)
  --out DIR     results dir (default: <repo>/target/bench/image-load-<UTC stamp>)

Must run as root. Installs hyperfine, podman, buildah, debootstrap, jq and time
with apt-get when missing. Env: BERTH_BENCH_CACHE (rootfs tarball cache dir),
BENCH_TMPDIR (where the stores live, default /var/tmp; needs ~0.15 GB free
per run of each command, e.g. ~10 GB for --runs 10, freed at exit).
EOF
}

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)

runs=5
berth=$repo_root/target/release/berth
out=""
while (($#)); do
	case $1 in
	--runs) (($# >= 2)) || die "--runs needs a value"; runs=$2; shift 2 ;;
	--runs=*) runs=${1#*=}; shift ;;
	--berth) (($# >= 2)) || die "--berth needs a value"; berth=$2; shift 2 ;;
	--berth=*) berth=${1#*=}; shift ;;
	--out) (($# >= 2)) || die "--out needs a value"; out=$2; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
((EUID == 0)) || die "must run as root (podman root store, debootstrap)"
[[ -x $berth ]] || die "no berth binary at $berth (cargo build --release -p berth)"
berth=$(cd -- "$(dirname -- "$berth")" && pwd -P)/$(basename -- "$berth")
[[ -n $out ]] || out=$repo_root/target/bench/image-load-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
out=$(cd -- "$out" && pwd -P)

# --- dependencies (idempotent, quiet, never reads stdin) ---------------------
ensure_packages() {
	local missing=() p
	for p in hyperfine podman buildah debootstrap jq time; do
		[[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	info "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null 2>&1 ||
		{ apt-get update -qq </dev/null >/dev/null 2>&1 &&
			apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null; } ||
		die "apt-get install ${missing[*]} failed"
}
ensure_packages

# --- work dir and cleanup ----------------------------------------------------
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/berth-imgbench.XXXXXX")
[[ $WORK =~ ^[A-Za-z0-9_./+-]+$ ]] || die "temp dir path '$WORK' has characters this script does not quote"

umount_below() { # unmount everything at or below $1, deepest first
	awk -v w="$1" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$?
	set +e
	umount_below "$WORK"
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/trash" "$WORK/bin" "$WORK/tmp" "$WORK/pm-root" "$WORK/pm-runroot" "$WORK/b-root" "$WORK/build"

# --- rootfs tarball (cached) -------------------------------------------------
rootfs_tar=$CACHE/$ROOTFS_TAR_NAME
if [[ ! -s $rootfs_tar ]]; then
	info "debootstrap --variant=minbase $SUITE (once; cached in $CACHE)"
	mkdir -p "$CACHE"
	debootstrap --variant=minbase "$SUITE" "$WORK/debootstrap" "$MIRROR" </dev/null >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
	# apt lists and caches are not part of an image
	rm -rf "$WORK/debootstrap"/var/lib/apt/lists/* "$WORK/debootstrap"/var/cache/apt/*.bin \
		"$WORK/debootstrap"/var/cache/apt/archives/*.deb
	tar -C "$WORK/debootstrap" --numeric-owner --xattrs -cf "$rootfs_tar.partial" .
	mv "$rootfs_tar.partial" "$rootfs_tar"
	rm -rf "$WORK/debootstrap"
fi
rootfs_bytes=$(stat -c %s "$rootfs_tar")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- private podman configuration --------------------------------------------
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/tmp"
image_copy_tmp_dir = "$WORK/tmp"
lock_type = "file"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
export TMPDIR=$WORK/tmp

write_storage_conf() {
	cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "$1"
graphroot = "$WORK/pm-root"
runroot = "$WORK/pm-runroot"
EOF
}
cat >"$WORK/bin/pm" <<EOF
#!/bin/sh
exec podman --root '$WORK/pm-root' --runroot '$WORK/pm-runroot' \\
	--cgroup-manager cgroupfs --events-backend file "\$@"
EOF
# empty-store resets, used as hyperfine --prepare (sync: the previous run's
# writeback must not be charged to the next run). Old stores are moved to
# trash/ and only deleted at exit: on an ext4 without a journal (this host)
# the inode allocator skips inodes freed in the last ~30 s
# (fs/ext4/ialloc.c recently_deleted()), so creating thousands of files right
# after an `rm -rf` of thousands burns seconds of system time in whichever
# tool runs next.
cat >"$WORK/bin/reset-pm" <<EOF
#!/bin/sh
awk -v w='$WORK/pm-' 'index(\$5, w) == 1 {print \$5}' /proc/self/mountinfo | sort -r |
	while read -r m; do umount "\$m" 2>/dev/null || umount -l "\$m"; done
t='$WORK/trash/pm.'\$\$.\$(date +%s%N)
mkdir -p "\$t"
mv '$WORK/pm-root' '$WORK/pm-runroot' '$WORK/tmp' "\$t"/ 2>/dev/null
mkdir -p '$WORK/pm-root' '$WORK/pm-runroot' '$WORK/tmp'
sync
EOF
cat >"$WORK/bin/reset-berth" <<EOF
#!/bin/sh
mkdir -p '$WORK/trash' && mv '$WORK/b-root' '$WORK/trash/b.'\$\$.\$(date +%s%N) 2>/dev/null
mkdir '$WORK/b-root' && sync
EOF
chmod +x "$WORK"/bin/*
pm=$WORK/bin/pm
reset_pm=$WORK/bin/reset-pm
reset_berth=$WORK/bin/reset-berth
B=("$berth" --root "$WORK/b-root")

# overlay if it works here, else vfs
driver=overlay
write_storage_conf overlay
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
printf 'x\n' >"$WORK/probe-file"
tar -C "$WORK" -cf "$WORK/probe.tar" probe-file
if ! "$pm" import -q "$WORK/probe.tar" localhost/probe:1 </dev/null >/dev/null 2>"$WORK/probe.err"; then
	info "overlay storage driver failed ($(head -c 200 "$WORK/probe.err")), using vfs"
	driver=vfs
	"$reset_pm" && write_storage_conf vfs
	"$pm" import -q "$WORK/probe.tar" localhost/probe:1 </dev/null >/dev/null || die "podman import fails with vfs too"
fi
"$reset_pm"
info "podman storage driver: $driver"

# --- docker archives: 1 layer and 4 layers (made with podman) ----------------
info "building archives"
"$pm" import -q "$rootfs_tar" localhost/deb-single:1 </dev/null >/dev/null
"$pm" save -q --format docker-archive -o "$WORK/single.tar" localhost/deb-single:1 </dev/null
# 4 layers: everything but var, usr/lib, usr/share | var | usr/lib | usr/share
ex=$WORK/build/rootfs
mkdir -p "$ex"
tar -C "$ex" --numeric-owner --xattrs -xpf "$rootfs_tar"
tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p1-base.tar" \
	--exclude=./var --exclude=./usr/lib --exclude=./usr/share .
tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p2-var.tar" ./var
tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p3-usr-lib.tar" ./usr/lib
tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p4-usr-share.tar" ./usr/share
rm -rf "$ex"
printf 'berth image-load bench\n' >"$WORK/build/extra.txt"
cat >"$WORK/build/Containerfile.multi" <<'EOF'
FROM scratch
ADD p1-base.tar /
ADD p2-var.tar /
ADD p3-usr-lib.tar /
ADD p4-usr-share.tar /
EOF
# a second image sharing the 4 layers above, plus one small layer
cat >"$WORK/build/Containerfile.multi2" <<'EOF'
FROM localhost/deb-multi:1
COPY extra.txt /etc/berth-bench.txt
EOF
"$pm" build -q --network none -f "$WORK/build/Containerfile.multi" -t localhost/deb-multi:1 "$WORK/build" </dev/null >/dev/null
"$pm" build -q --network none -f "$WORK/build/Containerfile.multi2" -t localhost/deb-multi2:1 "$WORK/build" </dev/null >/dev/null
"$pm" save -q --format docker-archive -o "$WORK/multi.tar" localhost/deb-multi:1 </dev/null
"$pm" save -q --format docker-archive -o "$WORK/multi2.tar" localhost/deb-multi2:1 </dev/null
rm -f "$WORK"/build/*.tar
"$reset_pm"
single_bytes=$(stat -c %s "$WORK/single.tar")
multi_bytes=$(stat -c %s "$WORK/multi.tar")
multi_layers=$(tar -xOf "$WORK/multi.tar" manifest.json | jq '.[0].Layers | length')
tar -tvf "$WORK/multi.tar" >"$WORK/multi.list"
layer_sizes=$(for l in $(tar -xOf "$WORK/multi.tar" manifest.json | jq -r '.[0].Layers[]'); do
	awk -v l="$l" '$6 == l && $1 ~ /^-/ {printf "%.1f ", $3 / 1e6}' "$WORK/multi.list"
done)
info "rootfs $rootfs_bytes B; single.tar $single_bytes B; multi.tar $multi_bytes B ($multi_layers layers, MB: $layer_sizes)"

# --- sanity: berth loads what podman saved, byte-exact round trip ------------
"$reset_berth"
"${B[@]}" load -q -i "$WORK/multi.tar" </dev/null >/dev/null || die "berth load of multi.tar failed"
"${B[@]}" save -o "$WORK/multi-rt.tar" localhost/deb-multi:1 </dev/null || die "berth save failed"
diffids() { tar -xOf "$1" "$(tar -xOf "$1" manifest.json | jq -r '.[0].Config')" | jq -c '.rootfs.diff_ids'; }
roundtrip=ok
[[ "$(diffids "$WORK/multi.tar")" == "$(diffids "$WORK/multi-rt.tar")" ]] || roundtrip="DIFF_IDS DIFFER"
# check the layer blobs themselves, not only the config
for l in $(tar -xOf "$WORK/multi-rt.tar" manifest.json | jq -r '.[0].Layers[]'); do
	want=$(tar -xOf "$WORK/multi-rt.tar" "$l" | sha256sum | cut -d' ' -f1)
	grep -q "$want" <<<"$(diffids "$WORK/multi.tar")" || roundtrip="LAYER BYTES DIFFER ($l)"
done
rm -f "$WORK/multi-rt.tar"
info "berth save round trip of multi.tar: $roundtrip"

# --- timing ------------------------------------------------------------------
hf() { # name, then hyperfine args
	local name=$1
	shift
	info "timing: $name"
	hyperfine --style basic --warmup 1 --runs "$runs" \
		--export-json "$out/$name.json" --export-markdown "$out/$name.md" "$@" </dev/null >"$out/$name.txt" 2>&1 ||
		{ cat "$out/$name.txt" >&2; die "hyperfine $name failed"; }
}
# median seconds of result $2 in $1.json
median() { jq -r ".results[$2].median" "$out/$1.json"; }

hf import \
	-n "berth import" --prepare "$reset_berth" "${B[*]} import $rootfs_tar x:1" \
	-n "podman import" --prepare "$reset_pm" "$pm import -q $rootfs_tar x:1"
hf load-1layer \
	-n "berth load (1 layer)" --prepare "$reset_berth" "${B[*]} load -q -i $WORK/single.tar" \
	-n "podman load (1 layer)" --prepare "$reset_pm" "$pm load -q -i $WORK/single.tar"
hf load-4layer \
	-n "berth load ($multi_layers layers)" --prepare "$reset_berth" "${B[*]} load -q -i $WORK/multi.tar" \
	-n "podman load ($multi_layers layers)" --prepare "$reset_pm" "$pm load -q -i $WORK/multi.tar"

# --- peak RSS and disk use ---------------------------------------------------
rss() { # KiB, fresh store
	"$1" >/dev/null
	shift
	/usr/bin/time -f %M -o "$WORK/rss" "$@" </dev/null >/dev/null 2>&1 || die "$* failed"
	cat "$WORK/rss"
}
rss_b_import=$(rss "$reset_berth" "${B[@]}" import "$rootfs_tar" x:1)
rss_b_load=$(rss "$reset_berth" "${B[@]}" load -q -i "$WORK/multi.tar")
rss_p_import=$(rss "$reset_pm" "$pm" import -q "$rootfs_tar" x:1)
rss_p_load=$(rss "$reset_pm" "$pm" load -q -i "$WORK/multi.tar")

du_b() { du -sx --block-size=1 "$WORK/b-root" | cut -f1; }
du_p() { du -sx --block-size=1 "$WORK/pm-root" | cut -f1; }
dfs=$out/system-df.txt
: >"$dfs"
disk_case() { # name, berth cmds (;-separated), podman cmds
	local name=$1 cmd
	"$reset_berth"
	"$reset_pm"
	IFS=';' read -ra cmds <<<"$2"
	for cmd in "${cmds[@]}"; do
		# shellcheck disable=SC2086 # word splitting of the command is intended
		"${B[@]}" $cmd </dev/null >/dev/null
	done
	IFS=';' read -ra cmds <<<"$3"
	for cmd in "${cmds[@]}"; do
		# shellcheck disable=SC2086
		"$pm" $cmd </dev/null >/dev/null
	done
	sync
	{
		printf '### %s\n\n$ berth system df\n' "$name"
		"${B[@]}" system df </dev/null
		printf '\n$ podman system df\n'
		"$pm" system df </dev/null
		printf '\n'
	} >>"$dfs" 2>&1
	local b p
	b=$(du_b)
	p=$(du_p)
	awk -v n="$name" -v b="$b" -v p="$p" 'BEGIN { printf "| %s | %d | %.1f | %d | %.1f | %.3f |\n", n, b, b / 1e6, p, p / 1e6, b / p }'
}
disk_rows=$(
	disk_case "import rootfs.tar as x:1" "import $rootfs_tar x:1" "import -q $rootfs_tar x:1"
	disk_case "import rootfs.tar twice (x:1, y:1)" "import $rootfs_tar x:1;import $rootfs_tar y:1" \
		"import -q $rootfs_tar x:1;import -q $rootfs_tar y:1"
	disk_case "load single.tar (1 layer)" "load -q -i $WORK/single.tar" "load -q -i $WORK/single.tar"
	disk_case "load multi.tar ($multi_layers layers)" "load -q -i $WORK/multi.tar" "load -q -i $WORK/multi.tar"
	disk_case "load multi.tar + multi2.tar (shares $multi_layers layers, +1 small)" \
		"load -q -i $WORK/multi.tar;load -q -i $WORK/multi2.tar" "load -q -i $WORK/multi.tar;load -q -i $WORK/multi2.tar"
)
"$reset_berth"
"$reset_pm"

# --- report ------------------------------------------------------------------
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1e6}'; }
row() { # json name, case label, input bytes
	local b p
	b=$(median "$1" 0)
	p=$(median "$1" 1)
	awk -v c="$2" -v b="$b" -v p="$p" -v by="$3" 'BEGIN {
		printf "| %s | %.2f | %.1f | %.2f | %.1f | **%.2fx** |\n", c, b, by / b / 1e6, p, by / p / 1e6, p / b }'
}
{
	printf '# image-load results\n\n'
	printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf -- '- machine: nproc %s, kernel %s, CPU "%s", loadavg at start %s, at end %s\n' "$(nproc)" "$(uname -r)" \
		"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf -- '- store fs: %s (%s)\n' "$(df --output=fstype "$WORK" | tail -n1)" "$WORK"
	printf -- '- berth %s; %s; hyperfine %s\n' "$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"$(podman --version)" "$(hyperfine --version | cut -d' ' -f2)"
	printf -- '- podman storage driver: %s\n' "$driver"
	printf -- '- inputs: rootfs.tar %s MB; single.tar %s MB; multi.tar %s MB, %s layers (MB: %s)\n' \
		"$(mb "$rootfs_bytes")" "$(mb "$single_bytes")" "$(mb "$multi_bytes")" "$multi_layers" "$layer_sizes"
	printf -- '- berth save round trip of multi.tar (diff_ids and layer bytes): %s\n' "$roundtrip"
	printf -- '- runs: %s timed + 1 warmup per command, each from an empty store\n\n' "$runs"
	printf '| case | berth median s | berth MB/s | podman median s | podman MB/s | speedup (podman/berth) |\n'
	printf '|---|---:|---:|---:|---:|---:|\n'
	row import "import rootfs.tar" "$rootfs_bytes"
	row load-1layer "load single.tar (1 layer)" "$single_bytes"
	row load-4layer "load multi.tar ($multi_layers layers)" "$multi_bytes"
	printf '\nMB/s = input file size / median (MB = 10^6 B).\n\n'
	printf '| peak RSS KiB (/usr/bin/time %%M) | berth | podman |\n|---|---:|---:|\n'
	printf '| import rootfs.tar | %s | %s |\n' "$rss_b_import" "$rss_p_import"
	printf '| load multi.tar | %s | %s |\n\n' "$rss_b_load" "$rss_p_load"
	printf '| disk use after (du -sx --block-size=1 of the store root) | berth B | berth MB | podman (%s) B | podman MB | berth/podman |\n|---|---:|---:|---:|---:|---:|\n' "$driver"
	printf '%s\n\n' "$disk_rows"
	printf 'system df output of both tools for each disk case: system-df.txt\n'
} >"$out/results.md"
cat "$out/results.md"
info "results in $out"
