#!/usr/bin/env bash
# Boot a qemu guest (software emulation) whose only root filesystem is an
# initramfs, mount a pure cgroup v2 hierarchy there and check that an OCI
# runtime applies memory, pids and cpu limits for real.
#
# Usage: tests/vm/cgroup-v2.sh [RUNTIME_BINARY]
#   RUNTIME_BINARY  default: target/release/berth (relative to the repo root).
#                   A binary named "berth" is invoked as `berth runtime ...`,
#                   anything else (e.g. runc) directly.
# Environment:
#   BERTH_VM_CACHE    cache dir for the guest kernel   (/var/cache/berth-vm)
#   BERTH_VM_LOG      serial console log               ($BERTH_VM_CACHE/cgroup-v2.log)
#   BERTH_VM_TIMEOUT  hard limit for the VM in seconds (300)
#   BERTH_VM_MEM      guest RAM in MiB                 (1024)
#   BERTH_VM_SMP      guest vCPUs                      (2)
# Exit status: 0 only if every VMTEST line says PASS and the summary appeared.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CACHE=${BERTH_VM_CACHE:-/var/cache/berth-vm}
LOG=${BERTH_VM_LOG:-$CACHE/cgroup-v2.log}
VM_TIMEOUT=${BERTH_VM_TIMEOUT:-300}
VM_MEM=${BERTH_VM_MEM:-1024}
VM_SMP=${BERTH_VM_SMP:-2}
TESTS=(memory pids cpu)

msg() { printf 'cgroup-v2.sh: %s\n' "$*" >&2; }
die() { msg "error: $*"; exit 1; }

WORK=
cleanup() {
	if [[ -n $WORK && -d $WORK ]]; then
		rm -rf -- "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# 1. host dependencies (idempotent, silent when everything is present)
# ---------------------------------------------------------------------------
APT_UPDATED=0
apt_quiet() {
	local out
	out=$(mktemp)
	if ! DEBIAN_FRONTEND=noninteractive "$@" >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		die "command failed: $*"
	fi
	rm -f "$out"
}
apt_update_once() {
	if [[ $APT_UPDATED == 0 ]]; then
		apt_quiet apt-get update -q
		APT_UPDATED=1
	fi
}

is_bookworm() {
	[[ -r /etc/os-release ]] && grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release
}

ensure_backports_source() {
	if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return
	fi
	msg "adding bookworm-backports apt source"
	cat >/etc/apt/sources.list.d/berth-vm-backports.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	APT_UPDATED=0
}

busybox_is_static() {
	[[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1
}

ensure_deps() {
	[[ $(id -u) == 0 ]] || die "must run as root (installs packages, builds device nodes)"
	local pkgs=()
	command -v cpio >/dev/null || pkgs+=(cpio)
	command -v ldd >/dev/null || pkgs+=(libc-bin)
	command -v timeout >/dev/null || pkgs+=(coreutils)
	busybox_is_static || pkgs+=(busybox-static)
	if ((${#pkgs[@]})); then
		msg "installing ${pkgs[*]}"
		apt_update_once
		apt_quiet apt-get install -y -q "${pkgs[@]}"
	fi
	if ! command -v qemu-system-x86_64 >/dev/null; then
		if is_bookworm; then
			# bookworm's own qemu 7.2 is too old for this host; use backports.
			ensure_backports_source
			msg "installing qemu-system-x86 from bookworm-backports"
			apt_update_once
			apt_quiet apt-get install -y -q -t bookworm-backports qemu-system-x86
		else
			msg "installing qemu-system-x86"
			apt_update_once
			apt_quiet apt-get install -y -q qemu-system-x86
		fi
	fi
	busybox_is_static || die "/bin/busybox is not a static binary (install busybox-static)"
}

# ---------------------------------------------------------------------------
# 2. guest kernel: Debian's cloud kernel, extracted (never installed)
# ---------------------------------------------------------------------------
KERNEL=
ensure_kernel() {
	if [[ -f $CACHE/kernel/vmlinuz ]]; then
		KERNEL=$CACHE/kernel/vmlinuz
		return
	fi
	mkdir -p "$CACHE"
	local pkg
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}') || true
	if [[ -z $pkg ]]; then
		apt_update_once
		pkg=$(apt-cache depends linux-image-cloud-amd64 |
			awk '/Depends: linux-image-[0-9]/ {print $2; exit}') || true
	fi
	[[ -n $pkg ]] || die "cannot resolve linux-image-cloud-amd64 to a kernel package"
	msg "downloading guest kernel $pkg into $CACHE/kernel"
	local dl
	dl=$(mktemp -d "$CACHE/dl.XXXXXX")
	# apt-get download drops privileges to _apt when it can write the dir
	chown _apt "$dl" 2>/dev/null || true
	(cd "$dl" && apt_quiet apt-get download "$pkg")
	mkdir -p "$dl/x"
	dpkg -x "$dl"/"$pkg"_*.deb "$dl/x"
	local vmlinuz config
	vmlinuz=$(find "$dl/x/boot" -name 'vmlinuz-*' | head -n1)
	config=$(find "$dl/x/boot" -name 'config-*' | head -n1)
	[[ -n $vmlinuz && -n $config ]] || die "no vmlinuz/config in $pkg"
	check_kernel_config "$config"
	rm -rf "$CACHE/kernel"
	mkdir -p "$CACHE/kernel"
	cp "$vmlinuz" "$CACHE/kernel/vmlinuz.tmp"
	cp "$config" "$CACHE/kernel/config"
	echo "$pkg" >"$CACHE/kernel/package"
	mv "$CACHE/kernel/vmlinuz.tmp" "$CACHE/kernel/vmlinuz"
	rm -rf "$dl"
	KERNEL=$CACHE/kernel/vmlinuz
}

# Everything the guest needs must be built in: the initramfs carries no modules.
check_kernel_config() {
	local config=$1 opt missing=()
	for opt in CGROUPS MEMCG CGROUP_PIDS CGROUP_SCHED FAIR_GROUP_SCHED CFS_BANDWIDTH \
		CGROUP_BPF BPF_SYSCALL NAMESPACES PID_NS IPC_NS UTS_NS NET_NS USER_NS \
		TMPFS DEVTMPFS UNIX98_PTYS POSIX_MQUEUE UNIX BLK_DEV_INITRD \
		SERIAL_8250 SERIAL_8250_CONSOLE SECCOMP_FILTER; do
		grep -q "^CONFIG_${opt}=y$" "$config" || missing+=("$opt")
	done
	((${#missing[@]} == 0)) || die "guest kernel lacks built-in: ${missing[*]}"
}

# ---------------------------------------------------------------------------
# 3. initramfs
# ---------------------------------------------------------------------------
# copy FILE and its whole shared-library closure (incl. the loader) into ROOT
copy_with_libs() {
	local root=$1 src=$2 dest=$3 lib
	mkdir -p "$root$(dirname "$dest")"
	cp -L "$src" "$root$dest"
	if ! ldd "$src" >/dev/null 2>&1; then
		return 0 # static
	fi
	while read -r lib; do
		[[ -n $lib && -e $lib ]] || continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done < <(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
}

install_busybox() {
	local dir=$1 applet
	mkdir -p "$dir/bin"
	cp /bin/busybox "$dir/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ -e $dir/bin/$applet ]] || ln -s busybox "$dir/bin/$applet"
	done
}

# write_config BUNDLE NAME ARGS_JSON RESOURCES_JSON
write_config() {
	local bundle=$1 name=$2 args=$3 resources=$4
	cat >"$bundle/config.json" <<EOF
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": $args,
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/root"
    ],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": false },
  "hostname": "vmtest-$name",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": ["nosuid", "noexec", "nodev", "ro"] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
  ],
  "linux": {
    "cgroupsPath": "/berth-vmtest/$name",
    "resources": $resources,
    "namespaces": [
      { "type": "pid" },
      { "type": "network" },
      { "type": "ipc" },
      { "type": "uts" },
      { "type": "mount" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": [
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    ]
  }
}
EOF
}

make_bundle() {
	local root=$1 name=$2 args=$3 resources=$4
	local bundle=$root/vm/bundles/$name
	mkdir -p "$bundle/rootfs"/{proc,sys,dev,tmp,etc,root,vmtest}
	install_busybox "$bundle/rootfs"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$bundle/rootfs/etc/passwd"
	printf 'root:x:0:\n' >"$bundle/rootfs/etc/group"
	write_container_scripts "$bundle/rootfs/vmtest"
	write_config "$bundle" "$name" "$args" "$resources"
}

# Scripts run *inside* the containers. Markers on stdout tell the guest /init
# when to inspect the container's cgroup while it is still alive.
write_container_scripts() {
	local dir=$1
	cat >"$dir/pids.sh" <<'EOF'
# A child shell tries to start 30 background sleeps; with pids.max=10 some
# forks fail (ash may give up on the first failure; either way is fine).
sh -c 'i=0; while [ $i -lt 30 ]; do sleep 600 & i=$((i+1)); done' 2>/dev/null
# Count the sleeps that really exist, using builtins only (no fork needed).
n=0
for p in /proc/[0-9]*; do
	read -r c 2>/dev/null <"$p/comm" || continue
	[ "$c" = sleep ] && n=$((n+1))
done
# What the container itself sees (informational): its cgroup path and the
# pids.max reachable through its /sys/fs/cgroup mount (runc 1.1 without a
# cgroup namespace mounts the whole hierarchy, a cgroupns shows only its own).
cg=
read -r cg 2>/dev/null </proc/self/cgroup
cg=${cg#0::}
inside=unreadable
read -r inside 2>/dev/null </sys/fs/cgroup/pids.max ||
	read -r inside 2>/dev/null <"/sys/fs/cgroup$cg/pids.max"
echo "SLEEPS=$n inside: cgroup=$cg pids.max=$inside"
# exec, not fork: keeps the container (and its cgroup) alive a little longer
exec sleep 5
EOF
	cat >"$dir/cpu.sh" <<'EOF'
yes >/dev/null &
busy=$!
sleep 1.5
kill "$busy"
wait "$busy" 2>/dev/null
echo BUSYDONE
exec sleep 5
EOF
}

write_guest_init() {
	local root=$1
	cat >"$root/init" <<'EOF'
#!/bin/sh
# Guest init. Stage 1 moves the initramfs onto a real tmpfs mount and
# switch_root's into it: pivot_root(2), which runtimes use, fails with EINVAL
# while / is the initial rootfs.
export PATH=/usr/local/bin:/bin
if [ ! -e /.vmtest-stage2 ]; then
	mkdir -p /newroot
	mount -t tmpfs -o mode=0755 tmpfs /newroot
	for d in /* /.[!.]*; do
		[ -e "$d" ] || continue
		[ "$d" = /newroot ] && continue
		cp -a "$d" /newroot/
	done
	: >/newroot/.vmtest-stage2
	exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
dmesg -n 1
. /vm/env

CG=/sys/fs/cgroup
PARENT=$CG/berth-vmtest
PASSED=0
FAILED=0
info() { echo "VMINFO $*"; }
result() {
	name=$1 verdict=$2
	shift 2
	echo "VMTEST $name $verdict $*"
	if [ "$verdict" = PASS ]; then PASSED=$((PASSED+1)); else FAILED=$((FAILED+1)); fi
}
readf() { v=; read -r v 2>/dev/null <"$1" || v="(unreadable)"; echo "$v"; }
# events_field FILE KEY -> value (0 if absent)
events_field() {
	if [ -r "$1" ]; then awk -v k="$2" '$1 == k {print $2; f=1} END {if (!f) print 0}' "$1"; else echo 0; fi
}
# wait_marker FILE PATTERN PID SECONDS
wait_marker() {
	i=0
	while [ "$i" -lt $(($4 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || { grep -q "$2" "$1" 2>/dev/null; return; }
		sleep 0.1
		i=$((i+1))
	done
	return 1
}
show_output() { sed 's/^/VMINFO   | /' "$1"; }

info "kernel $(uname -r), runtime: $RT_DESC"
info "controllers: $(cat $CG/cgroup.controllers)"
for c in $(cat $CG/cgroup.controllers); do
	echo "+$c" >$CG/cgroup.subtree_control 2>/dev/null || info "could not enable $c at the root"
done
mkdir -p "$PARENT"
for c in $(cat "$PARENT/cgroup.controllers"); do
	echo "+$c" >"$PARENT/cgroup.subtree_control" 2>/dev/null || info "could not enable $c in berth-vmtest"
done
info "root subtree_control: $(cat $CG/cgroup.subtree_control)"

KEEP=
if rt run --help 2>&1 | grep -q -- '--keep'; then KEEP=--keep; fi

test_memory() {
	id=vmtest-memory
	before=$(events_field "$PARENT/memory.events" oom_kill)
	timeout 60 rt run $KEEP --bundle /vm/bundles/memory "$id" </dev/null >/tmp/memory.out 2>&1
	rc=$?
	after=$(events_field "$PARENT/memory.events" oom_kill)
	kills=$((after - before))
	detail="exit=$rc oom_kill=$kills(parent memory.events)"
	ok=1
	[ "$rc" = 137 ] || ok=0
	[ "$kills" -ge 1 ] || ok=0
	if [ -n "$KEEP" ]; then
		status=$(rt state "$id" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"')
		own=$(events_field "$PARENT/memory/memory.events" oom_kill)
		max=$(readf "$PARENT/memory/memory.max")
		detail="$detail --keep: state=${status:-none} memory.max=$max own_oom_kill=$own"
		[ "$status" = stopped ] || ok=0
		[ "$own" -ge 1 ] || ok=0
		[ "$max" = 16777216 ] || ok=0
		rt delete "$id" >/dev/null 2>&1 || rt delete -f "$id" >/dev/null 2>&1 || info "delete $id failed"
	else
		detail="$detail (runtime has no run --keep: state/own cgroup not checked)"
	fi
	if [ "$ok" = 1 ]; then result memory PASS "$detail"; else result memory FAIL "$detail"; show_output /tmp/memory.out; fi
}

test_pids() {
	id=vmtest-pids
	cg=$PARENT/pids
	timeout 60 rt run --bundle /vm/bundles/pids "$id" </dev/null >/tmp/pids.out 2>&1 &
	pid=$!
	max=missing current= events=
	if wait_marker /tmp/pids.out SLEEPS= "$pid" 60; then
		max=$(readf "$cg/pids.max")
		current=$(readf "$cg/pids.current")
		events=$(events_field "$cg/pids.events" max)
	fi
	wait "$pid"
	rc=$?
	line=$(grep -o 'SLEEPS=.*' /tmp/pids.out | head -n1)
	n=$(echo "$line" | sed -n 's/^SLEEPS=\([0-9]*\).*/\1/p')
	detail="exit=$rc started=${n:-?}/30 pids.max=$max pids.current=$current pids.events.max=$events (${line#SLEEPS=* })"
	if [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -lt 30 ] && [ "$max" = 10 ] && [ "$rc" = 0 ]; then
		result pids PASS "$detail"
	else
		result pids FAIL "$detail"; show_output /tmp/pids.out
	fi
}

test_cpu() {
	id=vmtest-cpu
	cg=$PARENT/cpu
	timeout 60 rt run --bundle /vm/bundles/cpu "$id" </dev/null >/tmp/cpu.out 2>&1 &
	pid=$!
	max=missing weight=missing thr=0
	if wait_marker /tmp/cpu.out BUSYDONE "$pid" 60; then
		max=$(readf "$cg/cpu.max")
		weight=$(readf "$cg/cpu.weight")
		thr=$(events_field "$cg/cpu.stat" nr_throttled)
	fi
	wait "$pid"
	rc=$?
	detail="exit=$rc cpu.max='$max' cpu.weight=$weight nr_throttled=$thr"
	if [ "$max" = "20000 100000" ] && [ "$weight" = 20 ] && [ "$thr" -gt 0 ] && [ "$rc" = 0 ]; then
		result cpu PASS "$detail"
	else
		result cpu FAIL "$detail"; show_output /tmp/cpu.out
	fi
}

# The engine (berth run) on cgroup v2: limits reach the container's cgroup, an OOM
# kill is reported as 137 with OOMKilled, the container has its own cgroup
# namespace, and removal leaves no cgroup behind. Only when the binary is berth.
test_engine() {
	if [ ! -x /usr/local/bin/berth-monitor ]; then
		result engine FAIL "berth-monitor is not in the guest"
		return
	fi
	# The guest has no nftables: the engine's cgroup work is what is tested here.
	B="berth --root /tmp/store"
	if ! $B import /vm/busybox.tar busybox:latest >/tmp/engine.out 2>&1; then
		result engine FAIL "import failed"; show_output /tmp/engine.out; return
	fi
	timeout 60 $B run --network none --name oom --memory 16m --memory-swap 16m busybox tail /dev/zero >>/tmp/engine.out 2>&1
	rc=$?
	oom=$($B inspect -f '{{.State.OOMKilled}}' oom 2>>/tmp/engine.out)
	id=$(timeout 60 $B run -d --network none --memory 32m --pids-limit 20 busybox sleep 60 2>>/tmp/engine.out)
	max=$(readf "$CG/berth/$id/memory.max")
	pids=$(readf "$CG/berth/$id/pids.max")
	ns=$(timeout 30 $B exec "$id" cat /proc/self/cgroup 2>>/tmp/engine.out)
	$B rm -f "$id" oom >>/tmp/engine.out 2>&1
	left=$(find "$CG/berth" -mindepth 1 -type d 2>/dev/null | wc -l)
	detail="oom-run exit=$rc OOMKilled=$oom memory.max=$max pids.max=$pids /proc/self/cgroup='$ns' cgroups-left=$left"
	if [ "$rc" = 137 ] && [ "$oom" = true ] && [ "$max" = 33554432 ] && [ "$pids" = 20 ] && [ "$ns" = "0::/" ] && [ "$left" = 0 ]; then
		result engine PASS "$detail"
	else
		result engine FAIL "$detail"; show_output /tmp/engine.out
	fi
}

info "guest uptime before tests: $(cut -d' ' -f1 /proc/uptime)s"
for t in $VM_TESTS; do
	"test_$t"
done
info "guest uptime after tests: $(cut -d' ' -f1 /proc/uptime)s"
echo "VMTEST summary passed=$PASSED failed=$FAILED"
sync
poweroff -f
EOF
	chmod 755 "$root/init"
}

build_initramfs() {
	local runtime=$1 out=$2 root=$WORK/root name
	name=$(basename "$runtime")
	mkdir -p "$root"/{dev,proc,sys,run,tmp,newroot,etc,usr/local/bin,vm/bundles}
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3
	install_busybox "$root"
	copy_with_libs "$root" "$runtime" "/usr/local/bin/$name"
	# berth's engine: the monitor and slim runtime beside it, and a busybox image.
	local tests=("${TESTS[@]}") bin
	if [[ $name == berth ]]; then
		for bin in berth-monitor berth-runtime; do
			[[ -x $(dirname "$runtime")/$bin ]] || die "$bin missing beside $runtime"
			copy_with_libs "$root" "$(dirname "$runtime")/$bin" "/usr/local/bin/$bin"
		done
		"$REPO_ROOT/scripts/busybox-bundle.sh" "$WORK/bb" true >/dev/null
		tar -C "$WORK/bb/rootfs" -cf "$root/vm/busybox.tar" .
		tests+=(engine)
	fi

	# `rt` = the runtime invoked the way a user would, with a private state dir
	local prefix
	if [[ $name == berth ]]; then prefix="runtime "; else prefix=""; fi
	cat >"$root/usr/local/bin/rt" <<EOF
#!/bin/sh
exec /usr/local/bin/$name ${prefix}--root /run/vmtest-state "\$@"
EOF
	chmod 755 "$root/usr/local/bin/rt"
	cat >"$root/vm/env" <<EOF
RT_DESC='$name ${prefix}(--root /run/vmtest-state)'
VM_TESTS='${tests[*]}'
EOF

	make_bundle "$root" memory '["tail", "/dev/zero"]' \
		'{ "devices": [{ "allow": false, "access": "rwm" }], "memory": { "limit": 16777216 } }'
	make_bundle "$root" pids '["sh", "/vmtest/pids.sh"]' \
		'{ "devices": [{ "allow": false, "access": "rwm" }], "pids": { "limit": 10 } }'
	make_bundle "$root" cpu '["sh", "/vmtest/cpu.sh"]' \
		'{ "devices": [{ "allow": false, "access": "rwm" }], "cpu": { "shares": 512, "quota": 20000, "period": 100000 } }'
	write_guest_init "$root"

	# uncompressed: decompression under software emulation costs more than it saves
	(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$out"
}

# ---------------------------------------------------------------------------
# 4. boot and judge
# ---------------------------------------------------------------------------
main() {
	local runtime=${1:-$REPO_ROOT/target/release/berth}
	[[ $# -le 1 ]] || die "usage: $0 [RUNTIME_BINARY]"
	[[ -f $runtime && -x $runtime ]] || die "runtime binary not found or not executable: $runtime (build it with: cargo build --release)"
	local start=$SECONDS
	ensure_deps
	ensure_kernel
	WORK=$(mktemp -d /tmp/berth-vm.XXXXXX)
	local initrd=$WORK/initramfs.cpio
	build_initramfs "$runtime" "$initrd"
	mkdir -p "$(dirname "$LOG")"
	: >"$LOG"
	msg "booting $(cat "$CACHE/kernel/package" 2>/dev/null || echo kernel) with $(basename "$runtime") (initramfs $(($(stat -c %s "$initrd") / 1048576)) MiB, timeout ${VM_TIMEOUT}s, log $LOG)"
	local boot=$SECONDS rc=0
	timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu max -smp "$VM_SMP" -m "$VM_MEM" \
		-nodefaults -no-reboot -display none -monitor none -nic none \
		-serial "file:$LOG" \
		-kernel "$KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 quiet" </dev/null || rc=$?
	local vm_secs=$((SECONDS - boot))

	local clean
	clean=$(tr -d '\r' <"$LOG")
	grep -E '^(VMTEST|VMINFO) ' <<<"$clean" || true

	local failed=0 need_tail=0 t
	if ((rc == 124 || rc == 137)); then
		msg "FAIL: VM timed out after ${VM_TIMEOUT}s"
		failed=1
		need_tail=1
	elif ((rc != 0)); then
		msg "FAIL: qemu exited with status $rc"
		failed=1
		need_tail=1
	fi
	if grep -q 'Kernel panic' <<<"$clean"; then
		msg "FAIL: guest kernel panic"
		failed=1
		need_tail=1
	fi
	if ! grep -qE '^VMTEST summary passed=[0-9]+ failed=[0-9]+$' <<<"$clean"; then
		msg "FAIL: no 'VMTEST summary' line (guest did not finish)"
		failed=1
		need_tail=1
	elif ! grep -qE '^VMTEST summary passed=[0-9]+ failed=0$' <<<"$clean"; then
		failed=1
	fi
	for t in "${TESTS[@]}"; do
		if ! grep -qE "^VMTEST $t PASS( |$)" <<<"$clean"; then
			msg "FAIL: test $t did not pass"
			failed=1
		fi
	done
	if ((failed)); then
		if ((need_tail)); then
			msg "serial log tail ($LOG):"
			tail -n 40 <<<"$clean" >&2
		fi
		msg "FAILED (VM ${vm_secs}s, total $((SECONDS - start))s)"
		exit 1
	fi
	msg "all ${#TESTS[@]} tests passed (VM ${vm_secs}s, total $((SECONDS - start))s)"
}

main "$@"
