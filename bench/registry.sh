#!/usr/bin/env bash
# Registry pull and push of a 4-layer Debian bookworm minbase image (gzip
# layers, ~51 MB compressed) over loopback: `berth pull/push` against
# `podman pull/push` and `skopeo copy`, each from/to berth's own registry
# server (`berth registry serve`) and the distribution registry
# (`docker-registry`), plus peak RSS.
#
#   bench/registry.sh [--runs N] [--berth PATH] [--out DIR]
#
# The rootfs tarball is the one bench/image-load.sh caches in
# ${BERTH_BENCH_CACHE:-/var/cache/berth-bench}; the 4-layer docker-archive
# built from it with podman is cached there too. See docs/benchmarks.md.
set -euo pipefail

readonly SUITE=bookworm
readonly MIRROR=http://deb.debian.org/debian
CACHE=${BERTH_BENCH_CACHE:-/var/cache/berth-bench}
readonly ROOTFS_TAR_NAME=$SUITE-minbase-rootfs.tar
readonly MULTI_TAR_NAME=$SUITE-minbase-4layer.docker-archive.tar
readonly REPO=bench/deb:1

die() { printf 'registry-bench: error: %s\n' "$*" >&2; exit 1; }
info() { printf 'registry-bench: %s\n' "$*" >&2; }

usage() {
	cat <<'EOF'
usage: bench/registry.sh [--runs N] [--berth PATH] [--out DIR] [--fs loop|host]

  --runs N      timed runs per command (default 5; 1 warmup run extra)
  --berth PATH  berth binary (default: <repo>/target/release/berth)
  --out DIR     results dir (default: <repo>/target/bench/registry-<UTC stamp>)
  --fs loop     (default) stores and registry roots on a fresh ext4 made for this
                run with mkfs.ext4's defaults (journal on), loop-mounted: the
                filesystem a stock distribution gives, the same for every tool
  --fs host     on BENCH_TMPDIR's own filesystem as it is

Must run as root. Installs skopeo, podman, buildah, docker-registry,
hyperfine, debootstrap, jq, time and curl with apt-get when missing. Servers
listen on 127.0.0.1 only (free ports picked at start). Env: BERTH_BENCH_CACHE
(rootfs/archive cache dir), BENCH_TMPDIR (stores and registry roots, default
/var/tmp; needs ~0.2 GB per run of each command, freed at exit).
EOF
}

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)

runs=5
fs=loop
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
	--fs) (($# >= 2)) || die "--fs needs a value"; fs=$2; shift 2 ;;
	--fs=*) fs=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
((EUID == 0)) || die "must run as root (podman root store, debootstrap)"
[[ -x $berth ]] || die "no berth binary at $berth (cargo build --release -p berth)"
berth=$(cd -- "$(dirname -- "$berth")" && pwd -P)/$(basename -- "$berth")
[[ -n $out ]] || out=$repo_root/target/bench/registry-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
out=$(cd -- "$out" && pwd -P)

# --- dependencies (idempotent, quiet, never reads stdin) ---------------------
ensure_packages() {
	local missing=() p
	for p in skopeo podman buildah docker-registry hyperfine debootstrap jq time curl; do
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

# --- work dir, servers, cleanup ----------------------------------------------
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/berth-regbench.XXXXXX")
[[ $WORK =~ ^[A-Za-z0-9_./+-]+$ ]] || die "temp dir path '$WORK' has characters this script does not quote"
# A fresh journaled ext4 for the stores (--fs loop). Why: on an ext4 without a
# journal (this VM's root) the inode allocator skips inodes freed in the last
# 1-6 minutes (ext4's recently_deleted()), so a pull right after any large delete
# pays kernel time that depends on what ran before, not on the tool.
case $fs in
loop)
	truncate -s 64G "$WORK.img"
	mkfs.ext4 -q -F "$WORK.img"
	mount -o loop "$WORK.img" "$WORK"
	;;
host) ;;
*) rm -rf "$WORK"; die "--fs must be loop or host" ;;
esac

umount_below() { # unmount everything at or below $1, deepest first
	awk -v w="$1" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$? p
	set +e
	for p in "$WORK"/reg/*.pid; do
		[[ -s $p ]] && kill "$(cat "$p")" 2>/dev/null
	done
	sleep 0.5
	umount_below "$WORK"
	rm -rf "$WORK" "$WORK.img"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/trash" "$WORK/bin" "$WORK/tmp" "$WORK/pm-root" "$WORK/pm-runroot" "$WORK/b-root" \
	"$WORK/sk-dir" "$WORK/build" "$WORK/reg"

# --- rootfs tarball (cached, same as bench/image-load.sh) --------------------
rootfs_tar=$CACHE/$ROOTFS_TAR_NAME
if [[ ! -s $rootfs_tar ]]; then
	info "debootstrap --variant=minbase $SUITE (once; cached in $CACHE)"
	mkdir -p "$CACHE"
	debootstrap --variant=minbase "$SUITE" "$WORK/debootstrap" "$MIRROR" </dev/null >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
	rm -rf "$WORK/debootstrap"/var/lib/apt/lists/* "$WORK/debootstrap"/var/cache/apt/*.bin \
		"$WORK/debootstrap"/var/cache/apt/archives/*.deb
	tar -C "$WORK/debootstrap" --numeric-owner --xattrs -cf "$rootfs_tar.partial" .
	mv "$rootfs_tar.partial" "$rootfs_tar"
	rm -rf "$WORK/debootstrap"
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- private podman configuration (as in bench/image-load.sh) ----------------
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
write_storage_conf() { # driver, graphroot, runroot
	cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "$1"
graphroot = "$2"
runroot = "$3"
EOF
}
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
# empty-store resets for hyperfine --prepare. Old stores/registry roots are
# moved to trash/. With --fs host they stay there until exit: on ext4 without a
# journal an `rm -rf` of thousands of inodes inflates the next run's system time
# (see bench/image-load.sh and docs/benchmarks.md). With --fs loop (journaled)
# the trash is emptied right away, so the page cache does not grow by a store per
# run: on this VM, memory the guest has not used lately is handed back to the
# host, and filling it costs a host page fault per page, which the runs late in
# the script paid and the early ones did not. sync: the previous run's writeback
# is not charged to the next run.
if [[ $fs == loop ]]; then
	empty_trash="rm -rf '$WORK/trash' && mkdir -p '$WORK/trash'"
else
	empty_trash=":"
fi
cat >"$WORK/bin/reset-pm" <<EOF
#!/bin/sh
awk -v w='$WORK/pm-' 'index(\$5, w) == 1 {print \$5}' /proc/self/mountinfo | sort -r |
	while read -r m; do umount "\$m" 2>/dev/null || umount -l "\$m"; done
t='$WORK/trash/pm.'\$\$.\$(date +%s%N)
mkdir -p "\$t"
mv '$WORK/pm-root' '$WORK/pm-runroot' '$WORK/tmp' "\$t"/ 2>/dev/null
mkdir -p '$WORK/pm-root' '$WORK/pm-runroot' '$WORK/tmp'
$empty_trash
sync
EOF
# reset-dir DIR: replace DIR with an empty directory (old one to trash)
cat >"$WORK/bin/reset-dir" <<EOF
#!/bin/sh
mv "\$1" '$WORK/trash/d.'\$\$.\$(date +%s%N) 2>/dev/null
mkdir -p "\$1"
$empty_trash
sync
EOF
# pm STORE ...: podman on a private store (pm-root, or pm-keep for push)
cat >"$WORK/bin/pm" <<EOF
#!/bin/sh
s=\$1; shift
exec podman --root "$WORK/\$s-root" --runroot "$WORK/\$s-runroot" --storage-driver "\${PM_DRIVER:-overlay}" \\
	--cgroup-manager cgroupfs --events-backend file "\$@"
EOF
chmod +x "$WORK"/bin/*
reset_pm=$WORK/bin/reset-pm
reset_dir=$WORK/bin/reset-dir
pm=$WORK/bin/pm

driver=overlay
write_storage_conf overlay "$WORK/pm-root" "$WORK/pm-runroot"
printf 'x\n' >"$WORK/probe-file"
tar -C "$WORK" -cf "$WORK/probe.tar" probe-file
if ! "$pm" pm import -q "$WORK/probe.tar" localhost/probe:1 </dev/null >/dev/null 2>"$WORK/probe.err"; then
	info "overlay storage driver failed ($(head -c 200 "$WORK/probe.err")), using vfs"
	driver=vfs
	"$reset_pm"
	PM_DRIVER=vfs "$pm" pm import -q "$WORK/probe.tar" localhost/probe:1 </dev/null >/dev/null ||
		die "podman import fails with vfs too"
fi
export PM_DRIVER=$driver
write_storage_conf "$driver" "$WORK/pm-root" "$WORK/pm-runroot"
"$reset_pm"
info "podman storage driver: $driver"

# --- 4-layer docker-archive (cached) -----------------------------------------
multi_tar=$CACHE/$MULTI_TAR_NAME
if [[ ! -s $multi_tar || $multi_tar -ot $rootfs_tar ]]; then
	info "building the 4-layer archive (once; cached in $CACHE)"
	ex=$WORK/build/rootfs
	mkdir -p "$ex"
	tar -C "$ex" --numeric-owner --xattrs -xpf "$rootfs_tar"
	# everything but var, usr/lib, usr/share | var | usr/lib | usr/share
	tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p1-base.tar" \
		--exclude=./var --exclude=./usr/lib --exclude=./usr/share .
	tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p2-var.tar" ./var
	tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p3-usr-lib.tar" ./usr/lib
	tar -C "$ex" --numeric-owner --xattrs -cf "$WORK/build/p4-usr-share.tar" ./usr/share
	rm -rf "$ex"
	printf 'FROM scratch\nADD p1-base.tar /\nADD p2-var.tar /\nADD p3-usr-lib.tar /\nADD p4-usr-share.tar /\n' \
		>"$WORK/build/Containerfile"
	"$pm" pm build -q --network none -f "$WORK/build/Containerfile" -t localhost/deb-multi:1 "$WORK/build" </dev/null >/dev/null
	"$pm" pm save -q --format docker-archive -o "$multi_tar.partial" localhost/deb-multi:1 </dev/null
	mv "$multi_tar.partial" "$multi_tar"
	rm -f "$WORK"/build/*.tar
	"$reset_pm"
fi

# --- registries: berth's server and docker-registry --------------------------
free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		[[ -z "$(ss -Htln "sport = :$p")" && " ${used_ports[*]:-} " != *" $p "* ]] && { used_ports+=("$p"); echo "$p"; return; }
	done
	die "no free port"
}
used_ports=()
# Each server runs from $WORK/reg/NAME.start (an exec line) with its root in
# $WORK/reg/NAME; reset-reg NAME stops it (by the PID in NAME.pid), moves the
# root to trash, and starts it again on the same port with an empty root.
# Used as --prepare for pushes: berth's server creates its storage layout at
# start, so swapping the root under a running server is not an option.
cat >"$WORK/bin/reset-reg" <<EOF
#!/bin/sh
set -e
r='$WORK/reg'/\$1
if [ -s "\$r.pid" ]; then
	pid=\$(cat "\$r.pid")
	kill "\$pid" 2>/dev/null || true
	i=0
	while kill -0 "\$pid" 2>/dev/null; do
		i=\$((i + 1)); [ \$i -lt 200 ] || { echo "server \$pid does not stop" >&2; exit 1; }
		sleep 0.05
	done
	rm -f "\$r.pid"
fi
[ ! -e "\$r" ] || mv "\$r" '$WORK/trash/r.'\$\$.\$(date +%s%N)
mkdir -p "\$r"
$empty_trash
sync
sh "\$r.start" </dev/null >>"\$r.log" 2>&1 &
echo \$! >"\$r.pid"
port=\$(cat "\$r.port")
i=0
until curl -fsS -o /dev/null "http://127.0.0.1:\$port/v2/" 2>/dev/null; do
	kill -0 "\$(cat "\$r.pid")" 2>/dev/null || { echo "server \$1 exited, see \$r.log" >&2; exit 1; }
	i=\$((i + 1)); [ \$i -lt 200 ] || { echo "server \$1 not up" >&2; exit 1; }
	sleep 0.05
done
EOF
chmod +x "$WORK/bin/reset-reg"
reset_reg=$WORK/bin/reset-reg
start_berth_reg() { # name; sets REG_PORT
	local name=$1 port
	port=$(free_port)
	echo "$port" >"$WORK/reg/$name.port"
	printf 'exec %s registry serve --addr 127.0.0.1:%s --root %s\n' "$berth" "$port" "$WORK/reg/$name" >"$WORK/reg/$name.start"
	"$reset_reg" "$name" || die "cannot start berth registry $name"
	REG_PORT=$port
}
start_distribution() { # name; sets REG_PORT
	local name=$1 port
	port=$(free_port)
	echo "$port" >"$WORK/reg/$name.port"
	cat >"$WORK/reg/$name.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/reg/$name
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
	printf 'exec docker-registry serve %s\n' "$WORK/reg/$name.yml" >"$WORK/reg/$name.start"
	"$reset_reg" "$name" || die "cannot start docker-registry $name"
	REG_PORT=$port
}
# pull sources (kept) and push targets (emptied before every push run)
start_berth_reg b-src
PB=$REG_PORT
start_distribution d-src
PD=$REG_PORT
start_berth_reg b-dst
PBD=$REG_PORT
start_distribution d-dst
PDD=$REG_PORT
info "berth registry: pull 127.0.0.1:$PB push 127.0.0.1:$PBD; docker-registry: pull 127.0.0.1:$PD push 127.0.0.1:$PDD"

for p in "$PB" "$PD"; do
	skopeo copy -q --dest-tls-verify=false "docker-archive:$multi_tar" "docker://127.0.0.1:$p/$REPO" </dev/null ||
		die "skopeo copy of the archive to 127.0.0.1:$p failed"
done
skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PB/$REPO" >"$WORK/manifest.json" </dev/null
skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PD/$REPO" >"$WORK/manifest-d.json" </dev/null
cmp -s "$WORK/manifest.json" "$WORK/manifest-d.json" || info "note: the two registries hold different manifests (same layers expected)"
layers=$(jq '.layers | length' "$WORK/manifest.json")
blob_bytes=$(jq '([.layers[].size] | add) + .config.size' "$WORK/manifest.json")
layer_mb=$(jq -r '[.layers[] | .size / 1e6 * 10 | round / 10 | tostring] | join(" ")' "$WORK/manifest.json")
media=$(jq -r '.layers[0].mediaType' "$WORK/manifest.json")
unpacked_bytes=$(stat -c %s "$rootfs_tar")
info "image: $layers layers, $blob_bytes compressed bytes (MB: $layer_mb), $media"

# --- sanity ------------------------------------------------------------------
# berth pull from each server, image listed; content matches a podman pull
for p in "$PB" "$PD"; do
	"$reset_dir" "$WORK/b-root"
	"$berth" --root "$WORK/b-root" pull -q "127.0.0.1:$p/$REPO" </dev/null >/dev/null || die "berth pull from 127.0.0.1:$p failed"
	"$berth" --root "$WORK/b-root" images </dev/null | grep -q "127.0.0.1:$p/bench/deb" || die "berth images lacks the pulled image"
done
"$reset_dir" "$WORK/b-root"

# --- timing ------------------------------------------------------------------
hf() { # name, then hyperfine args
	local name=$1
	shift
	info "timing: $name"
	hyperfine --style basic --warmup 1 --runs "$runs" \
		--export-json "$out/$name.json" --export-markdown "$out/$name.md" "$@" </dev/null >"$out/$name.txt" 2>&1 ||
		{ cat "$out/$name.txt" >&2; die "hyperfine $name failed"; }
}
median() { jq -r ".results[$2].median" "$out/$1.json"; }
B="$berth --root $WORK/b-root"
# skopeo's blob-info cache lives in /var/lib/containers/cache; it is not
# reset (skopeo copies to dir: and from dir: do not depend on it for blobs)
pull_cases() { # name, port
	hf "$1" \
		-n "berth pull" --prepare "$reset_dir $WORK/b-root" "$B pull -q 127.0.0.1:$2/$REPO" \
		-n "podman pull" --prepare "$reset_pm" "$pm pm pull -q --tls-verify=false 127.0.0.1:$2/$REPO" \
		-n "skopeo copy to dir: (no unpack)" --prepare "$reset_dir $WORK/sk-dir" \
		"skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$2/$REPO dir:$WORK/sk-dir"
}
pull_cases pull-berth-server "$PB"
pull_cases pull-docker-registry "$PD"

# push: the image sits in kept stores (pulled once from berth's server); every
# run pushes into an emptied registry root, so every blob is uploaded
mkdir -p "$WORK/b-keep" "$WORK/pm-keep-root" "$WORK/pm-keep-runroot" "$WORK/sk-keep"
"$berth" --root "$WORK/b-keep" pull -q "127.0.0.1:$PB/$REPO" </dev/null >/dev/null
# berth push takes one name (as docker push does): tag for both targets
for p in "$PBD" "$PDD"; do
	"$berth" --root "$WORK/b-keep" tag "127.0.0.1:$PB/$REPO" "127.0.0.1:$p/$REPO" </dev/null
done
"$pm" pm-keep pull -q --tls-verify=false "127.0.0.1:$PB/$REPO" </dev/null >/dev/null
skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PB/$REPO" "dir:$WORK/sk-keep" </dev/null
push_cases() { # name, port, registry root name
	local dst=127.0.0.1:$2/$REPO reset="$reset_reg $3"
	hf "$1" \
		-n "berth push" --prepare "$reset" "$berth --root $WORK/b-keep push -q $dst" \
		-n "podman push" --prepare "$reset" "$pm pm-keep push -q --tls-verify=false 127.0.0.1:$PB/$REPO $dst" \
		-n "skopeo copy from dir:" --prepare "$reset" "skopeo copy -q --dest-tls-verify=false dir:$WORK/sk-keep docker://$dst"
}
push_cases push-berth-server "$PBD" b-dst
# after the last berth-server push run the target holds skopeo's push: check
# it is complete and berth can pull it back
"$reset_reg" b-dst
"$berth" --root "$WORK/b-keep" push -q "127.0.0.1:$PBD/$REPO" </dev/null >/dev/null
pushed_ok=ok
skopeo inspect --raw --tls-verify=false "docker://127.0.0.1:$PBD/$REPO" </dev/null | jq -e --argjson n "$layers" '.layers | length == $n' >/dev/null ||
	pushed_ok="MANIFEST MISSING OR WRONG"
skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PBD/$REPO" "dir:$WORK/verify" </dev/null || pushed_ok="SKOPEO CANNOT COPY THE PUSHED IMAGE"
push_cases push-docker-registry "$PDD" d-dst

# --- peak RSS ----------------------------------------------------------------
rss() { # prepare command (one word + arg), then the command
	$1 >/dev/null
	shift
	/usr/bin/time -f %M -o "$WORK/rss" "$@" </dev/null >/dev/null 2>&1 || die "$* failed"
	cat "$WORK/rss"
}
rss_b_pull=$(rss "$reset_dir $WORK/b-root" "$berth" --root "$WORK/b-root" pull -q "127.0.0.1:$PB/$REPO")
rss_p_pull=$(rss "$reset_pm" "$pm" pm pull -q --tls-verify=false "127.0.0.1:$PB/$REPO")
rss_s_pull=$(rss "$reset_dir $WORK/sk-dir" skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PB/$REPO" "dir:$WORK/sk-dir")
rss_b_push=$(rss "$reset_reg d-dst" "$berth" --root "$WORK/b-keep" push -q "127.0.0.1:$PDD/$REPO")
rss_p_push=$(rss "$reset_reg d-dst" "$pm" pm-keep push -q --tls-verify=false "127.0.0.1:$PB/$REPO" "127.0.0.1:$PDD/$REPO")
rss_s_push=$(rss "$reset_reg d-dst" skopeo copy -q --dest-tls-verify=false "dir:$WORK/sk-keep" "docker://127.0.0.1:$PDD/$REPO")
srv_rss() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo '?'; }
rss_srv_b=$(srv_rss "$(cat "$WORK/reg/b-src.pid")")
rss_srv_d=$(srv_rss "$(cat "$WORK/reg/d-src.pid")")

# --- report ------------------------------------------------------------------
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1e6}'; }
rows3() { # json name; berth, podman, skopeo rows with MB/s and ratios to berth
	local b p s
	b=$(median "$1" 0)
	p=$(median "$1" 1)
	s=$(median "$1" 2)
	awk -v b="$b" -v p="$p" -v s="$s" -v by="$blob_bytes" 'BEGIN {
		printf "| berth | %.2f | %.1f | 1.00x |\n", b, by / b / 1e6
		printf "| podman | %.2f | %.1f | **%.2fx** |\n", p, by / p / 1e6, p / b
		printf "| skopeo | %.2f | %.1f | %.2fx |\n", s, by / s / 1e6, s / b }'
}
server_row() { # case label, json for berth server, json for docker-registry, result index
	local b d
	b=$(median "$2" "$4")
	d=$(median "$3" "$4")
	awk -v c="$1" -v b="$b" -v d="$d" 'BEGIN {printf "| %s | %.2f | %.2f | **%.2fx** |\n", c, b, d, d / b}'
}
{
	printf '# registry results\n\n'
	printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf -- '- machine: nproc %s, kernel %s, CPU "%s", loadavg at start %s, at end %s\n' "$(nproc)" "$(uname -r)" \
		"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf -- '- store fs: %s (%s, --fs %s)\n' "$(df --output=fstype "$WORK" | tail -n1)" "$WORK" "$fs"
	printf -- '- berth %s; %s; %s; docker-registry %s; hyperfine %s\n' \
		"$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo '?')" "$(podman --version)" "$(skopeo --version)" \
		"$(dpkg-query -W -f='${Version}' docker-registry)" "$(hyperfine --version | cut -d' ' -f2)"
	printf -- '- podman storage driver: %s\n' "$driver"
	printf -- '- image: %s layers, %s, %s MB of blobs (layers MB: %s), %s MB unpacked tar\n' \
		"$layers" "$media" "$(mb "$blob_bytes")" "$layer_mb" "$(mb "$unpacked_bytes")"
	printf -- '- berth push to its own server read back by skopeo: %s\n' "$pushed_ok"
	printf -- '- runs: %s timed + 1 warmup per command; pulls into an empty store, pushes into an empty registry root\n\n' "$runs"
	printf 'MB/s = compressed blob bytes / median (MB = 10^6 B). Ratio = tool median / berth median.\n'
	printf 'skopeo copies the blobs into a dir: (no unpack, no store) on pull, and from one on push.\n\n'
	for c in "pull-berth-server:pull from berth's server" "pull-docker-registry:pull from docker-registry" \
		"push-berth-server:push to berth's server" "push-docker-registry:push to docker-registry"; do
		printf '### %s\n\n| client | median s | MB/s | vs berth |\n|---|---:|---:|---:|\n' "${c#*:}"
		rows3 "${c%%:*}"
		printf '\n'
	done
	printf '### server: berth registry vs docker-registry (same client)\n\n'
	printf '| client | berth server median s | docker-registry median s | docker-registry / berth |\n|---|---:|---:|---:|\n'
	server_row "berth pull" pull-berth-server pull-docker-registry 0
	server_row "podman pull" pull-berth-server pull-docker-registry 1
	server_row "skopeo copy (pull)" pull-berth-server pull-docker-registry 2
	server_row "berth push" push-berth-server push-docker-registry 0
	server_row "podman push" push-berth-server push-docker-registry 1
	server_row "skopeo copy (push)" push-berth-server push-docker-registry 2
	printf '\n| peak RSS KiB (/usr/bin/time %%M) | berth | podman | skopeo |\n|---|---:|---:|---:|\n'
	printf '| pull (from berth server) | %s | %s | %s |\n' "$rss_b_pull" "$rss_p_pull" "$rss_s_pull"
	printf '| push (to docker-registry) | %s | %s | %s |\n\n' "$rss_b_push" "$rss_p_push" "$rss_s_push"
	printf 'server VmHWM KiB over the whole run (pull source): berth registry %s, docker-registry %s\n' "$rss_srv_b" "$rss_srv_d"
} >"$out/results.md"
cat "$out/results.md"
info "results in $out"
