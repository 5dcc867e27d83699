#!/usr/bin/env bash
# Interop test: `berth build` against Debian's `buildah bud` on the build corpus.
#
# Usage: tests/interop/build-buildah.sh [ENTRY...]
#   berth binary: $BERTH_BIN (default <repo>/target/release/berth)
#   entries: names under tests/build-corpus/ (default: every entry whose expect.json
#   has "buildah": true; the others say there why buildah 1.28 cannot build them)
#
# Both builders start FROM the same busybox image: scripts/busybox-bundle.sh's
# rootfs imported into berth, saved as a docker-archive and pulled from that file
# into buildah's private storage (vfs, own --root/--runroot below a temp dir), so
# both see the same base layer. Each entry's context is copied, its "setup" run,
# then built by both (buildah with --format docker, so Healthcheck, Shell,
# StopSignal and OnBuild are kept, --pull=never and --network host).
# Compared: the config fields Cmd Entrypoint Env WorkingDir User Labels
# ExposedPorts Volumes StopSignal Healthcheck Shell OnBuild (empty and unset are
# the same; buildah's own io.buildah.version label is dropped), and the merged
# filesystem of each image (berth image mount / buildah mount): every path with
# its type, mode, owner, symlink target, and size and sha256 for regular files
# (mtimes ignored). Set INTEROP_KEEP=1 to keep the temp dir.
# Prints one table row per entry and "BUILDAH-SUMMARY"; exits 0 iff every entry
# built with both and compared equal, apart from the differences listed in KNOWN.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
BERTH_BIN=$(realpath -m "$BERTH_BIN")
CORPUS=$REPO/tests/build-corpus
START=$(date +%s)
# sort and join must agree on the order.
export LC_ALL=C

die() { echo "interop/build-buildah: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"

install_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${missing[@]}" </dev/null >/dev/null 2>&1 ||
		{ apt-get update -q </dev/null >/dev/null 2>&1 &&
			apt-get install -y -q "${missing[@]}" </dev/null >/dev/null; }
}
install_pkgs buildah runc busybox-static jq
[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN (cargo build --release -p berth)"

# Differences understood and documented in docs/build.md: "entry:config.Field" or
# "entry:./path", "*" for every entry.
KNOWN=(
	# buildah leaves the stubs of the files it bind-mounts into RUN (and /run) in the image
	"*:./etc/hostname" "*:./etc/hosts" "*:./etc/resolv.conf" "*:./run"
	# buildah's escape handling in ENV under `# escape=\``
	"05-escape-directive:config.Env" "05-escape-directive:./win"
	# --chmod on a copied directory: BuildKit (and berth) set it on the directory too
	"30-copy-chown-chmod:./dir"
	# buildah creates VOLUME directories (only those of the last VOLUME) in the image
	"40-label-expose-volume:./cache" "40-label-expose-volume:./other"
	# BuildKit (and berth) remove the parents they made for a RUN mount; buildah keeps them
	"25-run-mount-cache:./var"
	# EXPOSE 8000-8002: Docker/BuildKit list each port, buildah keeps the range
	"41-expose-range:config.ExposedPorts"
	# `id` under USER uid:gid: buildah adds the gid as a supplementary group
	"42-user:./tmp/numeric"
	# buildah 1.28 ignores SHELL for the shell form of CMD
	"43-shell-instruction:config.Cmd"
)

WORK=$(mktemp -d /tmp/berth-interop-build.XXXXXX)
chmod 0755 "$WORK"
# berth's run root holds unix sockets: it must stay short.
BRUN=/run/berth-bh-$$
HTTPD_PID=

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$? m
	set +e
	[ -n "$HTTPD_PID" ] && kill "$HTTPD_PID" 2>/dev/null
	if [ -d "$WORK/broot" ]; then
		timeout 60 bh rm -a >/dev/null 2>&1
	fi
	awk -v w="$WORK" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$BRUN"
	if [ "${INTEROP_KEEP:-0}" = 1 ]; then
		echo "interop/build-buildah: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/broot" "$WORK/brunroot" "$WORK/tmp" "$WORK/cni"
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/broot"
runroot = "$WORK/brunroot"
EOF
cat >"$WORK/containers.conf" <<EOF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/tmp"
lock_type = "file"

[network]
network_backend = "cni"
network_config_dir = "$WORK/cni"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export TMPDIR=$WORK/tmp
# Short names resolve locally only: no registry is ever asked.
cat >"$WORK/registries.conf" <<EOF
unqualified-search-registries = []
short-name-mode = "permissive"
EOF
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf

bh() { buildah --root "$WORK/broot" --runroot "$WORK/brunroot" --storage-driver vfs "$@"; }
b() { "$BERTH_BIN" --root "$WORK/berth" --runroot "$BRUN" "$@"; }

# --- the shared base image ----------------------------------------------------
sh "$REPO/scripts/busybox-bundle.sh" "$WORK/bundle" >/dev/null 2>&1
tar -C "$WORK/bundle/rootfs" --numeric-owner -cf "$WORK/rootfs.tar" .
b import "$WORK/rootfs.tar" busybox:latest >/dev/null
b save -o "$WORK/busybox.tar" busybox:latest
bh pull -q docker-archive:"$WORK/busybox.tar" >/dev/null
bh tag docker.io/library/busybox:latest localhost/busybox:latest >/dev/null 2>&1 || true

# ADD <url> entries fetch their serve/ files from 127.0.0.1 (busybox httpd).
PORT=$((20000 + $$ % 20000))
busybox httpd -f -p "127.0.0.1:$PORT" -h "$CORPUS" &
HTTPD_PID=$!

# --- what is compared ---------------------------------------------------------
FIELDS='["Cmd","Entrypoint","Env","WorkingDir","User","Labels","ExposedPorts","Volumes","StopSignal","Healthcheck","Shell","OnBuild"]'
# norm_config: a config object on stdin -> one "Field=json" line per field.
norm_config() {
	jq -r --argjson f "$FIELDS" '
		(. // {}) as $c | $f[] as $k
		| ($c[$k] // null) as $v
		| (if $k == "Labels" and $v != null then $v | del(."io.buildah.version") else $v end) as $v
		| (if $v == {} or $v == [] or $v == "" then null else $v end) as $v
		| "\($k)=\($v | tojson)"'
}
# listing DIR: every path below DIR with type, mode, owner, link target, and size and
# sha256 for regular files. Mount stubs buildah and berth leave behind are kept: a
# difference there is a difference in the image.
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p|%y|%#m|%U:%G|%l\n' | sort -t '|' -k1,1) >"$2.meta"
	(cd "$1" && find . -mindepth 1 -type f -print0 | sort -z | xargs -0 -r sha256sum |
		awk '{print $2 "|" $1}' | sort -t '|' -k1,1) >"$2.sum"
	(cd "$1" && find . -mindepth 1 -type f -printf '%p|%s\n' | sort -t '|' -k1,1) >"$2.size"
	join -t '|' -a1 "$2.meta" <(join -t '|' "$2.size" "$2.sum") >"$2"
}

# --- the corpus ---------------------------------------------------------------
if [ $# -gt 0 ]; then
	ENTRIES=("$@")
else
	mapfile -t ENTRIES < <(cd "$CORPUS" && for d in */; do
		d=${d%/}
		[ "$(jq -r '.buildah == true' "$d/expect.json")" = true ] && echo "$d"
	done)
fi

EQUAL=0
DIFF=0
ERRORS=0
ROWS=()
DETAILS=()
known() { local k; for k in "${KNOWN[@]}"; do [ "$k" = "$1" ] && return 0; done; return 1; }

for e in "${ENTRIES[@]}"; do
	dir=$CORPUS/$e
	[ -f "$dir/expect.json" ] || die "no corpus entry $e"
	w=$WORK/e/$e
	mkdir -p "$w"
	cp -a "$dir" "$w/ctx"
	rm -f "$w/ctx/expect.json"
	setup=$(jq -r '.setup // empty' "$dir/expect.json")
	if [ -n "$setup" ]; then
		(cd "$w/ctx" && sh -ec "$setup")
	fi
	mapfile -t args < <(jq -r '.args // [] | .[]' "$dir/expect.json" |
		sed -e "s|{ctx}|$w/ctx|g" -e "s|{work}|$w|g" -e "s|{http}|http://127.0.0.1:$PORT/$e/serve|g")
	# The entry's environment (secrets from env) for both builders.
	mapfile -t envs < <(jq -r '.env // {} | to_entries[] | "\(.key)=\(.value)"' "$dir/expect.json")
	tag=corpus-$(echo "$e" | tr '[:upper:]' '[:lower:]'):latest
	t0=$(date +%s.%N)
	if ! env "${envs[@]}" "$BERTH_BIN" --root "$WORK/berth" --runroot "$BRUN" \
		build -t "$tag" "${args[@]}" "$w/ctx" >"$w/berth.log" 2>&1; then
		ROWS+=("$(printf '%-36s %-8s %-8s %s' "$e" error - "berth build failed: $(tail -n 3 "$w/berth.log" | tr '\n' ' ' | cut -c1-150)")")
		ERRORS=$((ERRORS + 1))
		continue
	fi
	t1=$(date +%s.%N)
	if ! env "${envs[@]}" buildah --root "$WORK/broot" --runroot "$WORK/brunroot" --storage-driver vfs \
		bud --pull=never --format docker --network host -t "$tag" "${args[@]}" "$w/ctx" >"$w/buildah.log" 2>&1; then
		ROWS+=("$(printf '%-36s %-8s %-8s %s' "$e" error - "buildah bud failed: $(tail -n 3 "$w/buildah.log" | tr '\n' ' ' | cut -c1-150)")")
		ERRORS=$((ERRORS + 1))
		continue
	fi
	t2=$(date +%s.%N)

	b image inspect "$tag" | jq '.[0].Config' | norm_config >"$w/berth.cfg"
	bh inspect --type image "$tag" | jq '.Docker.config' | norm_config >"$w/buildah.cfg"
	cfgdiff=$(diff "$w/berth.cfg" "$w/buildah.cfg" | grep '^[<>]' || true)

	bm=$(b image mount "$tag")
	listing "$bm" "$w/berth.files"
	b image unmount "$tag" >/dev/null
	ctr=$(bh from --pull=never -q "$tag")
	bmnt=$(bh mount "$ctr")
	listing "$bmnt" "$w/buildah.files"
	bh umount "$ctr" >/dev/null
	bh rm "$ctr" >/dev/null
	fsdiff=$(diff "$w/berth.files" "$w/buildah.files" | grep '^[<>]' || true)

	notes=()
	cfg=equal
	fs=equal
	if [ -n "$cfgdiff" ]; then
		for f in $(printf '%s\n' "$cfgdiff" | sed -E 's/^[<>] ([A-Za-z]+)=.*/\1/' | sort -u); do
			if known "$e:config.$f"; then notes+=("config.$f (known)"); else cfg=DIFF; notes+=("config.$f"); fi
		done
		DETAILS+=("== $e config (< berth, > buildah)" "$cfgdiff")
	fi
	if [ -n "$fsdiff" ]; then
		for p in $(printf '%s\n' "$fsdiff" | sed -E 's/^[<>] ([^|]*)\|.*/\1/' | sort -u); do
			if known "$e:$p" || known "*:$p"; then notes+=("$p (known)"); else fs=DIFF; notes+=("$p"); fi
		done
		DETAILS+=("== $e files (< berth, > buildah: path|type|mode|uid:gid|target|size|sha256)" "$fsdiff")
	fi
	if [ "$cfg" = equal ] && [ "$fs" = equal ]; then EQUAL=$((EQUAL + 1)); else DIFF=$((DIFF + 1)); fi
	times=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "berth %.2fs buildah %.2fs", b - a, c - b }')
	ROWS+=("$(printf '%-36s %-8s %-8s %s; %s' "$e" "$cfg" "$fs" "$times" "${notes[*]:-}")")
done

printf '%-36s %-8s %-8s %s\n' entry config files notes
for r in "${ROWS[@]}"; do echo "$r"; done
if [ ${#DETAILS[@]} -gt 0 ]; then
	echo
	for d in "${DETAILS[@]}"; do echo "$d"; done
fi
echo "BUILDAH-SUMMARY entries=${#ENTRIES[@]} equal=$EQUAL different=$DIFF errors=$ERRORS seconds=$(($(date +%s) - START))"
[ "$DIFF" = 0 ] && [ "$ERRORS" = 0 ]
