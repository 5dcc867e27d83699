#!/usr/bin/env bash
# Interop test: berth's image store and archives against Debian's podman and skopeo.
#
# Usage: tests/interop/images.sh
#   berth binary: $BERTH_BIN (default <repo>/target/release/berth)
#
# berth -> podman (docker-archive, oci-archive), podman/skopeo -> berth (docker-archive,
# oci-archive, oci-dir, docker-dir, skopeo oci:/oci-archive:/docker-archive:), multi-image
# archives, gzip on stdin, save/load stability, and refusal of damaged archives.
# Images loaded into berth are run with `berth image mount` + `berth runtime run`.
# Every berth command uses a private --root below a temp dir; podman runs with runc
# and private --root/--runroot. Set INTEROP_KEEP=1 to keep the temp dir.
# Prints "INTEROP-IMG <name> PASS|FAIL <detail>" per check; exits 0 iff all pass.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
# Symlinks to it are made in temp dirs: the path must not be relative.
BERTH_BIN=$(realpath -m "$BERTH_BIN")
START=$(date +%s)

die() { echo "interop/images: $*" >&2; exit 2; }
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
install_pkgs podman skopeo conmon busybox-static uidmap runc jq gzip
[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN (cargo build --release -p berth)"

WORK=$(mktemp -d /tmp/berth-interop-images.XXXXXX)
chmod 0755 "$WORK"
PASSED=0
FAILED=0
FAILS=()

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$? m c
	set +e
	# containers left in berth's runtime state
	if [ -d "$WORK/rt" ]; then
		for c in "$WORK"/rt/*/; do
			[ -d "$c" ] && "$BERTH_BIN" runtime --root "$WORK/rt" delete --force "$(basename "$c")" >/dev/null 2>&1
		done
	fi
	if [ -d "$WORK/proot" ]; then
		timeout 60 podman --root "$WORK/proot" --runroot "$WORK/prunroot" --storage-driver vfs \
			--cgroup-manager cgroupfs --events-backend file rm -af -t 0 >/dev/null 2>&1
		for m in "$WORK"/prunroot/vfs-containers/*/userdata/conmon.pid; do
			[ -f "$m" ] && kill -9 "$(cat "$m")" 2>/dev/null
		done
	fi
	# unmount anything left below $WORK (overlay snapshots, shm), deepest first
	awk -v w="$WORK" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	if [ "${INTEROP_KEEP:-0}" = 1 ]; then
		echo "interop/images: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- podman (runc, private storage) and berth wrappers ------------------------
mkdir -p "$WORK/bin" "$WORK/ptmp" "$WORK/cni" "$WORK/proot" "$WORK/prunroot" "$WORK/rt"
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/ptmp"
lock_type = "file"

[network]
network_backend = "cni"
network_config_dir = "$WORK/cni"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/proot"
runroot = "$WORK/prunroot"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export TMPDIR=$WORK/ptmp
cat >"$WORK/bin/pm" <<EOF
#!/bin/sh
exec podman --root '$WORK/proot' --runroot '$WORK/prunroot' --storage-driver vfs \\
	--cgroup-manager cgroupfs --events-backend file "\$@"
EOF
chmod +x "$WORK/bin/pm"
export PATH="$WORK/bin:$PATH"
CS="containers-storage:[vfs@$WORK/proot+$WORK/prunroot]"

# berth with a per-check store: b ROOTNAME ARGS... (a script, so timeout can run it)
cat >"$WORK/bin/b" <<EOF
#!/bin/sh
r=\$1
shift
exec '$BERTH_BIN' --root "$WORK/b-\$r" "\$@"
EOF
chmod +x "$WORK/bin/b"

# --- check helpers ------------------------------------------------------------
pass() {
	echo "INTEROP-IMG $1 PASS ${2:-}"
	PASSED=$((PASSED + 1))
}
fail() {
	echo "INTEROP-IMG $1 FAIL ${2:-}"
	FAILED=$((FAILED + 1))
	FAILS+=("$1")
}
# run CMD..., capture combined output in $OUT and status in $RC (never aborts)
OUT=
RC=0
capture() {
	local f=$WORK/out
	RC=0
	timeout 180 "$@" >"$f" 2>&1 </dev/null || RC=$?
	OUT=$(tr -d '\r\000' <"$f")
}
oneline() { printf '%s' "$1" | tr '\n' ' ' | cut -c1-400; }
names_of() { b "$1" images --format '{{.Repository}}:{{.Tag}}' 2>&1 | sort | tr '\n' ' ' | sed 's/ $//'; }
bid() { b "$1" inspect --format '{{.Id}}' "$2" 2>/dev/null; }
pid_of() { pm image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
hex() { printf '%s' "${1#sha256:}"; }

# run_in_berth ROOT IMAGE WORD: mount IMAGE, run `echo hello-from-WORD` in it via
# `berth runtime run`, unmount. Sets $RUN_ERR on failure, returns non-zero.
RUN_ERR=
NCTR=0
run_in_berth() {
	local r=$1 img=$2 word=$3 mnt bundle id
	RUN_ERR=
	NCTR=$((NCTR + 1))
	bundle=$WORK/bundle$NCTR
	id=imgint$NCTR
	capture b "$r" image mount "$img"
	if [ "$RC" != 0 ] || [ ! -d "$OUT" ]; then
		RUN_ERR="mount rc=$RC: $(oneline "$OUT")"
		return 1
	fi
	mnt=$OUT
	mkdir -p "$bundle"
	"$BERTH_BIN" runtime spec --bundle "$bundle" >/dev/null 2>&1 || {
		RUN_ERR="runtime spec failed"
		return 1
	}
	jq --arg root "$mnt" --arg w "$word" \
		'.root.path = $root | .root.readonly = false | .process.terminal = false
		| .process.args = ["sh", "-c", ("echo hello-from-" + $w)]' \
		"$bundle/config.json" >"$bundle/config.json.new" && mv "$bundle/config.json.new" "$bundle/config.json"
	capture "$BERTH_BIN" runtime --root "$WORK/rt" run --bundle "$bundle" "$id"
	local out=$OUT rrc=$RC
	capture b "$r" image unmount "$img"
	local urc=$RC uout=$OUT
	if [ "$rrc" != 0 ] || [ "$out" != "hello-from-$word" ]; then
		RUN_ERR="run rc=$rrc out=$(oneline "$out")"
		return 1
	fi
	if [ "$urc" != 0 ]; then
		RUN_ERR="unmount rc=$urc: $(oneline "$uout")"
		return 1
	fi
	return 0
}

# p2b NAME SOURCE WANT_NAMES IMAGE_FOR_MOUNT: berth load -i SOURCE into a fresh
# store, check names, run. WANT_NAMES is a space separated sorted list.
p2b() {
	local name=$1 src=$2 want=$3 img=$4 got
	capture b "$name" load -i "$src"
	if [ "$RC" != 0 ]; then
		fail "$name" "berth load rc=$RC: $(oneline "$OUT")"
		return
	fi
	got=$(names_of "$name")
	if [ "$got" != "$want" ]; then
		fail "$name" "berth images shows '$got', want '$want' (load said: $(oneline "$OUT"))"
		return
	fi
	if ! run_in_berth "$name" "$img" "$name"; then
		fail "$name" "$RUN_ERR"
		return
	fi
	local bi pi
	bi=$(bid "$name" "$img")
	pi=$(pid_of localhost/bb:podman)
	pass "$name" "names=[$got] run ok; berth id=$(hex "$bi" | cut -c1-12) podman id=$(hex "$pi" | cut -c1-12)"
}

# --- busybox root filesystem tarball -------------------------------------------
mk_rootfs() {
	local r=$1 p
	mkdir -p "$r"/bin "$r"/sbin "$r"/usr/bin "$r"/usr/sbin "$r"/etc "$r"/proc "$r"/sys \
		"$r"/dev "$r"/tmp "$r"/root "$r"/home
	chmod 1777 "$r/tmp"
	cp /bin/busybox "$r/bin/busybox"
	while read -r p; do
		[ -e "$r/$p" ] || [ -L "$r/$p" ] || ln -s /bin/busybox "$r/$p"
	done < <(/bin/busybox --list-full)
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
}
mk_rootfs "$WORK/rootfs"
tar -C "$WORK/rootfs" --numeric-owner -cf "$WORK/rootfs.tar" .

# === 1. berth -> podman ========================================================
capture b src import --change 'CMD ["sh"]' "$WORK/rootfs.tar" localhost/bb:berth
if [ "$RC" = 0 ]; then
	pass b-import "$(oneline "$OUT" | cut -c1-19)"
else
	fail b-import "rc=$RC $(oneline "$OUT")"
fi
BID=$(bid src localhost/bb:berth || true)

b2p() { # b2p NAME FORMAT
	local name=$1 fmt=$2 file=$WORK/$1.tar ref pi
	capture b src save --format "$fmt" -o "$file" localhost/bb:berth
	if [ "$RC" != 0 ]; then
		fail "$name" "berth save rc=$RC: $(oneline "$OUT")"
		return
	fi
	pm rmi -af >/dev/null 2>&1 || true
	capture pm load -i "$file"
	if [ "$RC" != 0 ]; then
		fail "$name" "podman load rc=$RC: $(oneline "$OUT")"
		return
	fi
	local loadout=$OUT
	ref=$(pm images --format '{{.Repository}}:{{.Tag}}' | head -n1)
	pi=$(pm images --format '{{.ID}}' --no-trunc | head -n1)
	local run=$ref
	case "$ref" in *"<none>"*) run=$(hex "$pi") ;; esac
	capture pm run --rm --network none "$run" echo ok
	if [ "$RC" != 0 ] || [ "$OUT" != ok ]; then
		fail "$name" "podman run $ref rc=$RC out=$(oneline "$OUT") (load: $(oneline "$loadout"))"
		return
	fi
	if [ "$(hex "$pi")" = "$(hex "$BID")" ]; then
		pass "$name" "podman name=$ref, id=$(hex "$pi" | cut -c1-12) == berth id"
	else
		fail "$name" "run ok as $ref, but podman id $(hex "$pi" | cut -c1-12) != berth id $(hex "$BID" | cut -c1-12)"
	fi
	pm rmi -af >/dev/null 2>&1 || true
}
b2p b2p-docker-archive docker-archive
b2p b2p-oci-archive oci-archive

# === 2. podman/skopeo -> berth ===============================================
tar -C "$WORK/rootfs" -c . | pm import --change 'CMD ["sh"]' - localhost/bb:podman >/dev/null 2>>"$WORK/tools.log"
tar -C "$WORK/rootfs" -c . | pm import --change 'CMD ["echo", "two"]' - localhost/bb2:podman >/dev/null 2>>"$WORK/tools.log"
P=localhost/bb:podman

pm save --format docker-archive -o "$WORK/p-docker.tar" "$P" >>"$WORK/tools.log" 2>&1
p2b p2b-podman-docker-archive "$WORK/p-docker.tar" "localhost/bb:podman" "$P"

pm save --format oci-archive -o "$WORK/p-oci.tar" "$P" >>"$WORK/tools.log" 2>&1
# podman names the OCI index entry with the full reference (ref.name annotation)
p2b p2b-podman-oci-archive "$WORK/p-oci.tar" "localhost/bb:podman" "$P"

pm save --format oci-dir -o "$WORK/p-ocidir" "$P" >>"$WORK/tools.log" 2>&1
p2b p2b-podman-oci-dir "$WORK/p-ocidir" "localhost/bb:podman" "$P"

# docker-dir is a directory of a v2s2 manifest + blobs, no repositories/manifest.json
if pm save --format docker-dir -o "$WORK/p-dockerdir" "$P" >/dev/null 2>&1; then
	capture b p2b-podman-docker-dir load -i "$WORK/p-dockerdir"
	if [ "$RC" = 0 ]; then
		ID=$(b p2b-podman-docker-dir images -q --no-trunc | head -n1)
		if [ -n "$ID" ] && run_in_berth p2b-podman-docker-dir "$ID" docker-dir; then
			pass p2b-podman-docker-dir "loaded, images: [$(names_of p2b-podman-docker-dir)]"
		else
			fail p2b-podman-docker-dir "loaded but: id='$ID' $RUN_ERR"
		fi
	else
		fail p2b-podman-docker-dir "berth load rc=$RC: $(oneline "$OUT")"
	fi
else
	echo "INTEROP-IMG p2b-podman-docker-dir SKIP podman cannot save docker-dir"
fi

skopeo copy -q "$CS$P" "oci:$WORK/s-ocidir:podtag" >>"$WORK/tools.log" 2>&1
# an oci: layout tagged with a bare tag: berth has no repository to name it with
capture b p2b-skopeo-oci-dir load -i "$WORK/s-ocidir"
if [ "$RC" = 0 ]; then
	ID=$(b p2b-skopeo-oci-dir images -q --no-trunc | head -n1)
	if run_in_berth p2b-skopeo-oci-dir "$ID" skopeo-oci-dir; then
		pass p2b-skopeo-oci-dir "images: [$(names_of p2b-skopeo-oci-dir)] load: $(oneline "$OUT")"
	else
		fail p2b-skopeo-oci-dir "$RUN_ERR"
	fi
else
	fail p2b-skopeo-oci-dir "berth load rc=$RC: $(oneline "$OUT")"
fi

skopeo copy -q "$CS$P" "oci-archive:$WORK/s-oci.tar:localhost/bb:skopeo" >>"$WORK/tools.log" 2>&1
p2b p2b-skopeo-oci-archive "$WORK/s-oci.tar" "localhost/bb:skopeo" localhost/bb:skopeo

skopeo copy -q "$CS$P" "docker-archive:$WORK/s-docker.tar:localhost/bb:skopeo" >>"$WORK/tools.log" 2>&1
p2b p2b-skopeo-docker-archive "$WORK/s-docker.tar" "localhost/bb:skopeo" localhost/bb:skopeo

# skopeo from podman's archive (not from storage) to docker-archive: same result
skopeo copy -q "docker-archive:$WORK/p-docker.tar" "docker-archive:$WORK/s2-docker.tar:localhost/bb:viaarchive" >>"$WORK/tools.log" 2>&1
p2b p2b-skopeo-from-archive "$WORK/s2-docker.tar" "localhost/bb:viaarchive" localhost/bb:viaarchive

# === 3. multi-image docker-archive ============================================
pm save -m --format docker-archive -o "$WORK/multi.tar" "$P" localhost/bb2:podman >>"$WORK/tools.log" 2>&1
capture b multi load -i "$WORK/multi.tar"
GOT=$(names_of multi)
if [ "$RC" = 0 ] && [ "$GOT" = "localhost/bb2:podman localhost/bb:podman" ] &&
	[ "$(hex "$(bid multi localhost/bb2:podman)")" = "$(hex "$(pid_of localhost/bb2:podman)")" ] &&
	[ "$(hex "$(bid multi "$P")")" = "$(hex "$(pid_of "$P")")" ]; then
	pass multi-image "images: [$GOT], ids match podman's"
else
	fail multi-image "rc=$RC images: [$GOT] load: $(oneline "$OUT")"
fi

# === 4. gzip on stdin ===========================================================
gzip -c "$WORK/p-docker.tar" >"$WORK/p-docker.tar.gz"
RC=0
b gzip load <"$WORK/p-docker.tar.gz" >"$WORK/out" 2>&1 || RC=$?
OUT=$(cat "$WORK/out")
GOT=$(names_of gzip)
if [ "$RC" = 0 ] && [ "$GOT" = "localhost/bb:podman" ] && run_in_berth gzip "$P" gzip; then
	pass gzip-stdin "images: [$GOT]"
else
	fail gzip-stdin "rc=$RC images: [$GOT] load: $(oneline "$OUT") $RUN_ERR"
fi

# === 5. round trip stability ====================================================
for fmt in docker-archive oci-archive; do
	b src save --format "$fmt" -o "$WORK/rt1-$fmt.tar" localhost/bb:berth || true
	sleep 1.1 # a timestamp taken at save time would show up as a difference
	b src save --format "$fmt" -o "$WORK/rt2-$fmt.tar" localhost/bb:berth || true
	if cmp -s "$WORK/rt1-$fmt.tar" "$WORK/rt2-$fmt.tar"; then
		pass "save-deterministic-$fmt" "$(stat -c %s "$WORK/rt1-$fmt.tar") bytes, identical"
	else
		fail "save-deterministic-$fmt" "$(cmp "$WORK/rt1-$fmt.tar" "$WORK/rt2-$fmt.tar" 2>&1 | head -n1)"
	fi
	capture b "rt-$fmt" load -i "$WORK/rt1-$fmt.tar"
	ID2=$(bid "rt-$fmt" localhost/bb:berth || true)
	if [ "$RC" = 0 ] && [ -n "$BID" ] && [ "$ID2" = "$BID" ]; then
		b "rt-$fmt" save --format "$fmt" -o "$WORK/rt3-$fmt.tar" localhost/bb:berth || true
		if cmp -s "$WORK/rt1-$fmt.tar" "$WORK/rt3-$fmt.tar"; then
			pass "roundtrip-$fmt" "same id $(hex "$BID" | cut -c1-12), re-save byte-identical"
		else
			fail "roundtrip-$fmt" "same id, but re-save from the new root differs: $(cmp "$WORK/rt1-$fmt.tar" "$WORK/rt3-$fmt.tar" 2>&1 | head -n1)"
		fi
	else
		fail "roundtrip-$fmt" "rc=$RC id '$ID2' vs '$BID': $(oneline "$OUT")"
	fi
done

# === 6. damaged archives ========================================================
# neg NAME FILE WANT_REGEX: berth load must fail, say why, store nothing
neg() {
	local name=$1 file=$2 re=$3 imgs
	capture b "$name" load -i "$file"
	local out=$OUT rc=$RC
	imgs=$(b "$name" images -q 2>/dev/null | tr '\n' ' ')
	# anything half-stored: blobs/layers left in the store directory
	local left
	left=$(find "$WORK/b-$name" -type f ! -name 'berth.db*' 2>/dev/null | head -n3 | tr '\n' ' ')
	if [ "$rc" != 0 ] && printf '%s' "$out" | grep -Eqi "$re" && [ -z "$imgs" ] && [ -z "$left" ]; then
		pass "$name" "rc=$rc: $(oneline "$out")"
	else
		fail "$name" "rc=$rc images=[$imgs] leftover=[$left] out=$(oneline "$out")"
	fi
}
SRC=$WORK/rt1-docker-archive.tar
SZ=$(stat -c %s "$SRC")
head -c $((SZ / 2)) "$SRC" >"$WORK/trunc.tar"
neg neg-truncated "$WORK/trunc.tar" 'truncat|unexpected end|eof|corrupt|incomplete'
# flip one byte in the middle of the biggest member (the layer)
flip() { # flip SRC DST: copy, changing one byte of the largest tar member's data
	python3 - "$1" "$2" <<'PY'
import shutil, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
shutil.copyfile(src, dst)
with tarfile.open(src) as t:
    m = max((m for m in t.getmembers() if m.isfile()), key=lambda m: m.size)
off = m.offset_data + m.size // 2
with open(dst, "r+b") as f:
    f.seek(off); c = f.read(1); f.seek(off); f.write(bytes([c[0] ^ 0xff]))
print(m.name)
PY
}
M=$(flip "$SRC" "$WORK/flip-docker.tar")
neg neg-layer-byte-docker "$WORK/flip-docker.tar" 'digest|mismatch|corrupt|checksum|verif'
M2=$(flip "$WORK/rt1-oci-archive.tar" "$WORK/flip-oci.tar")
neg neg-layer-byte-oci "$WORK/flip-oci.tar" 'digest|mismatch|corrupt|checksum|verif'
# the same archive with manifest.json first, cut in the middle of the layer: the
# index has every name, the layer's data is short
python3 - "$SRC" "$WORK/mfirst.tar" <<'PY'
import sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t, tarfile.open(dst, "w", format=tarfile.USTAR_FORMAT) as o:
    ms = sorted(t.getmembers(), key=lambda m: m.name != "manifest.json")
    for m in ms:
        o.addfile(m, t.extractfile(m) if m.isfile() else None)
PY
head -c $(($(stat -c %s "$WORK/mfirst.tar") / 2)) "$WORK/mfirst.tar" >"$WORK/mfirst-trunc.tar"
neg neg-truncated-mid-layer "$WORK/mfirst-trunc.tar" 'truncat|unexpected end|eof|corrupt|incomplete|stream ended'
# a gzip-compressed archive cut in half
gzip -c "$SRC" >"$WORK/full.tar.gz"
head -c $(($(stat -c %s "$WORK/full.tar.gz") / 2)) "$WORK/full.tar.gz" >"$WORK/trunc.tar.gz"
neg neg-truncated-gzip "$WORK/trunc.tar.gz" 'truncat|unexpected end|eof|corrupt|incomplete'
# a two-image archive whose second entry is broken (its Config is missing): the load
# fails; nothing may be stored, not even the first image
mkdir "$WORK/multi-x"
tar -C "$WORK/multi-x" -xf "$WORK/multi.tar"
python3 - "$WORK/multi-x/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m[1]["Config"] = "missing.json"
json.dump(m, open(sys.argv[1], "w"))
PY
tar -C "$WORK/multi-x" -cf "$WORK/multi-broken.tar" .
neg neg-multi-second-broken "$WORK/multi-broken.tar" 'missing|not in the archive'
echo "interop/images: flipped a byte in $M (docker) and $M2 (oci)" >&2

# --- summary --------------------------------------------------------------------
echo "INTEROP-IMG summary: $PASSED passed, $FAILED failed${FAILS[*]:+ (${FAILS[*]})}; $(($(date +%s) - START))s"
[ "$FAILED" = 0 ]
