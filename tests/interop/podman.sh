#!/usr/bin/env bash
# Interop test: Podman driving berth-runtime as its OCI runtime (drop-in for runc).
#
# Usage: tests/interop/podman.sh [berth|runc]
#   berth (default): berth-runtime -> $BERTH_BIN (default <repo>/target/release/berth)
#   runc           : the same checks against /usr/sbin/runc, for comparison
#
# Every runtime invocation goes through a wrapper that logs its argv and exit
# status (plus the tail of the runtime's --log file on failure) to
# $WORK/runtime.log; the log is printed at the end when a check failed.
# Set INTEROP_KEEP=1 to keep the temp dir.
# Prints "INTEROP <name> PASS|FAIL <detail>" per check; exits 0 iff all pass.
set -euo pipefail

KIND=${1:-berth}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
# Symlinks to it are made in temp dirs: the path must not be relative.
BERTH_BIN=$(realpath -m "$BERTH_BIN")
IMG=localhost/busybox:latest

die() { echo "interop/podman: $*" >&2; exit 2; }
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
install_pkgs podman conmon busybox-static uidmap runc bsdutils

case "$KIND" in
berth)
	[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN (cargo build --release -p berth)"
	;;
runc) command -v runc >/dev/null || die "runc not installed" ;;
*) die "usage: $0 [berth|runc]" ;;
esac

WORK=$(mktemp -d /tmp/berth-interop-podman.XXXXXX)
RTLOG=$WORK/runtime.log
: >"$RTLOG"
PASSED=0
FAILED=0
FAILS=()

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$? m
	set +e
	if [ -d "$WORK/root" ]; then
		timeout 60 podman --root "$WORK/root" --runroot "$WORK/runroot" --storage-driver vfs \
			--cgroup-manager cgroupfs --events-backend file rm -af -t 0 >/dev/null 2>&1
		# conmon of a container that podman could not remove: kill it by pid
		for m in "$WORK"/runroot/vfs-containers/*/userdata/conmon.pid; do
			[ -f "$m" ] && kill -9 "$(cat "$m")" 2>/dev/null
		done
	fi
	# unmount anything left below $WORK (shm mounts, rootfs), deepest first
	awk -v w="$WORK" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	if [ "${INTEROP_KEEP:-0}" = 1 ]; then
		echo "interop/podman: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- runtime under test, behind a logging wrapper -----------------------------
mkdir -p "$WORK/bin"
if [ "$KIND" = berth ]; then
	ln -s "$BERTH_BIN" "$WORK/bin/berth-runtime"
	TARGET=$WORK/bin/berth-runtime
else
	TARGET=$(command -v runc)
fi
WRAP=$WORK/bin/$KIND-logged
cat >"$WRAP" <<EOF
#!/bin/sh
# log argv, run the runtime (argv[0] preserved) with a private --root,
# log status and the --log tail on failure
LOG='$RTLOG'
case " \$* " in *" --root "*|*" --root="*) ;; *) set -- --root '$WORK/rtstate' "\$@" ;; esac
logf=; prev=
for a in "\$@"; do
	case "\$prev" in --log) logf=\$a ;; esac
	case "\$a" in --log=*) logf=\${a#--log=} ;; esac
	prev=\$a
done
{ printf '%s -> ' "\$(date -u +%T.%N)"; printf ' %s' "\$@"; printf '\n'; } >>"\$LOG"
'$TARGET' "\$@"
rc=\$?
{
	printf '%s <- rc=%s:' "\$(date -u +%T.%N)" "\$rc"; printf ' %s' "\$@"; printf '\n'
	if [ "\$rc" != 0 ] && [ -n "\$logf" ] && [ -f "\$logf" ]; then
		tail -n 20 "\$logf" | sed 's/^/    log: /'
	fi
} >>"\$LOG"
exit \$rc
EOF
chmod +x "$WRAP"
# pm: podman with private root/runroot (a script, so timeout/script can run it)
cat >"$WORK/bin/pm" <<EOF
#!/bin/sh
exec podman --root '$WORK/root' --runroot '$WORK/runroot' --storage-driver vfs \\
	--cgroup-manager cgroupfs --events-backend file "\$@"
EOF
chmod +x "$WORK/bin/pm"
export PATH="$WORK/bin:$PATH"

# --- private podman configuration ---------------------------------------------
mkdir -p "$WORK/tmp" "$WORK/cni" "$WORK/root" "$WORK/runroot"
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
log_driver = "k8s-file"

[engine]
runtime = "$KIND"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/tmp"
lock_type = "file"
# podman passes --log-format=json --log FILE (and reads errors from FILE) only to
# runtimes named here; the default list has runc but not berth.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "berth"]

[engine.runtimes]
$KIND = ["$WRAP"]

[network]
network_backend = "cni"
network_config_dir = "$WORK/cni"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/root"
runroot = "$WORK/runroot"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf

# --- busybox image without a registry -----------------------------------------
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
tar -C "$WORK/rootfs" -c . | pm import --change 'CMD ["sh"]' - "$IMG" >/dev/null

# --- check helpers ------------------------------------------------------------
pass() {
	echo "INTEROP $1 PASS ${2:-}"
	PASSED=$((PASSED + 1))
}
fail() {
	echo "INTEROP $1 FAIL ${2:-}"
	FAILED=$((FAILED + 1))
	FAILS+=("$1")
}
# run CMD..., capture combined output in $OUT and status in $RC (never aborts)
OUT=
RC=0
capture() {
	local f=$WORK/out
	RC=0
	timeout 120 "$@" >"$f" 2>&1 </dev/null || RC=$?
	OUT=$(tr -d '\r\000' <"$f")
}
oneline() { printf '%s' "$1" | tr '\n' ' ' | cut -c1-300; }
# expect NAME WANT CMD...: pass if exit 0 and output (trimmed) == WANT
expect_out() {
	local name=$1 want=$2
	shift 2
	capture "$@"
	if [ "$RC" = 0 ] && [ "$OUT" = "$want" ]; then
		pass "$name" "$(oneline "$OUT")"
	else
		fail "$name" "rc=$RC out=$(oneline "$OUT")"
	fi
}
mark() { echo "==== check $1" >>"$RTLOG"; }

# --- checks -------------------------------------------------------------------
mark info
expect_out info "$KIND" pm info --format '{{.Host.OCIRuntime.Name}}'

mark run-echo
expect_out run-echo hi pm run --rm --network none "$IMG" echo hi

mark exit-code
capture pm run --rm --network none "$IMG" sh -c 'exit 3'
if [ "$RC" = 3 ]; then pass exit-code "rc=3"; else fail exit-code "rc=$RC want 3 out=$(oneline "$OUT")"; fi

mark env-user-workdir
# shellcheck disable=SC2016 # expanded inside the container
expect_out env-user-workdir "65534 65534 /tmp v=42 ctr1" pm run --rm --network none \
	--user 65534:65534 --workdir /tmp --env V=42 --hostname ctr1 "$IMG" \
	sh -c 'echo "$(id -u) $(id -g) $(pwd) v=$V $(hostname)"'

mark stdin
capture sh -c "echo piped-data | pm run --rm -i --network none '$IMG' cat"
if [ "$RC" = 0 ] && [ "$OUT" = piped-data ]; then pass stdin "$OUT"; else fail stdin "rc=$RC out=$(oneline "$OUT")"; fi

mark read-only
capture pm run --rm --network none --read-only "$IMG" sh -c 'touch /x 2>/dev/null && echo writable || echo ro'
if [ "$RC" = 0 ] && [ "$OUT" = ro ]; then pass read-only "$OUT"; else fail read-only "rc=$RC out=$(oneline "$OUT")"; fi

mark detached-run
CID=
capture pm run -d --name c1 --network none "$IMG" sleep 1000
if [ "$RC" = 0 ]; then
	CID=$OUT
	pass detached-run "${CID:0:12}"
else
	fail detached-run "rc=$RC out=$(oneline "$OUT")"
fi

mark ps
capture pm ps --format '{{.Names}} {{.Status}}'
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q '^c1 Up'; then
	pass ps "$(oneline "$OUT")"
else
	fail ps "rc=$RC out=$(oneline "$OUT")"
fi

mark exec
expect_out exec from-exec pm exec c1 echo from-exec

mark exec-exit-code
capture pm exec c1 sh -c 'exit 5'
if [ "$RC" = 5 ]; then pass exec-exit-code "rc=5"; else fail exec-exit-code "rc=$RC want 5 out=$(oneline "$OUT")"; fi

mark exec-tty
capture script -qec "pm exec -t c1 sh -c 'test -t 1 && echo tty-yes'" /dev/null
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q 'tty-yes$'; then pass exec-tty tty-yes; else fail exec-tty "rc=$RC out=$(oneline "$OUT")"; fi

mark top
capture pm top c1
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q 'sleep 1000'; then
	pass top "$(printf '%s\n' "$OUT" | tail -n1 | tr -s ' ')"
else
	fail top "rc=$RC out=$(oneline "$OUT")"
fi

mark pause
capture pm pause c1
if [ "$RC" = 0 ]; then
	capture pm inspect --format '{{.State.Status}}' c1
	if [ "$OUT" = paused ]; then pass pause "status=paused"; else fail pause "status=$(oneline "$OUT")"; fi
else
	fail pause "rc=$RC out=$(oneline "$OUT")"
fi

mark unpause
capture pm unpause c1
if [ "$RC" = 0 ]; then
	capture pm exec c1 echo alive
	if [ "$OUT" = alive ]; then pass unpause "exec after unpause ok"; else fail unpause "exec after unpause: rc=$RC out=$(oneline "$OUT")"; fi
else
	fail unpause "rc=$RC out=$(oneline "$OUT")"
fi

mark stop
T0=$(date +%s)
capture pm stop -t 2 c1
T1=$(date +%s)
if [ "$RC" = 0 ]; then
	capture pm inspect --format '{{.State.Status}}' c1
	if [ "$OUT" = exited ]; then pass stop "exited after $((T1 - T0))s"; else fail stop "status=$(oneline "$OUT")"; fi
else
	fail stop "rc=$RC out=$(oneline "$OUT")"
fi

mark restart
capture pm start c1
if [ "$RC" = 0 ]; then
	capture pm exec c1 echo restarted
	if [ "$OUT" = restarted ]; then pass restart "start of stopped container ok"; else fail restart "exec: rc=$RC out=$(oneline "$OUT")"; fi
else
	fail restart "rc=$RC out=$(oneline "$OUT")"
fi

mark kill
capture pm kill -s KILL c1
if [ "$RC" = 0 ]; then
	capture pm wait c1
	if [ "$OUT" = 137 ]; then pass kill "wait=137"; else fail kill "wait: rc=$RC out=$(oneline "$OUT")"; fi
else
	fail kill "rc=$RC out=$(oneline "$OUT")"
fi

mark rm
capture pm rm c1
if [ "$RC" = 0 ] && [ -z "$(pm ps -aq --filter name=c1 2>/dev/null)" ]; then pass rm removed; else fail rm "rc=$RC out=$(oneline "$OUT")"; fi

mark run-tty
capture script -qec "pm run --rm -t --network none '$IMG' sh -c 'test -t 0 && test -t 1 && echo tty-yes'" /dev/null
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q 'tty-yes$'; then pass run-tty tty-yes; else fail run-tty "rc=$RC out=$(oneline "$OUT")"; fi

mark memory
expect_out memory 33554432 pm run --rm --network none --memory 32m "$IMG" \
	cat /sys/fs/cgroup/memory/memory.limit_in_bytes

mark memory-host
capture pm run -d --name c2 --network none --memory 48m --pids-limit 77 "$IMG" sleep 1000
if [ "$RC" = 0 ]; then
	PID=$(pm inspect --format '{{.State.Pid}}' c2 2>/dev/null) || true
	MEMCG=$(awk -F: '$2 == "memory" {print $3}' "/proc/$PID/cgroup" 2>/dev/null) || true
	PIDSCG=$(awk -F: '$2 == "pids" {print $3}' "/proc/$PID/cgroup" 2>/dev/null) || true
	LIM=$(cat "/sys/fs/cgroup/memory$MEMCG/memory.limit_in_bytes" 2>&1 || true)
	PMAX=$(cat "/sys/fs/cgroup/pids$PIDSCG/pids.max" 2>&1 || true)
	if [ "$LIM" = 50331648 ] && [ "$PMAX" = 77 ]; then
		pass memory-host "memory:$MEMCG limit=$LIM pids.max=$PMAX"
	else
		fail memory-host "memory:$MEMCG limit=$LIM pids:$PIDSCG max=$PMAX"
	fi
	capture pm update --memory 64m c2
	LIM=$(cat "/sys/fs/cgroup/memory$MEMCG/memory.limit_in_bytes" 2>&1 || true)
	mark update
	if [ "$RC" = 0 ] && [ "$LIM" = 67108864 ]; then pass update "limit=$LIM"; else fail update "rc=$RC limit=$LIM out=$(oneline "$OUT")"; fi
	pm rm -f -t 0 c2 >/dev/null 2>&1 || true
else
	fail memory-host "rc=$RC out=$(oneline "$OUT")"
	fail update "container did not start"
fi

# --- more of what podman asks of a runtime ---------------------------------------
# expect_rc NAME WANT_RC CMD...: pass if the exit status is WANT_RC
expect_rc() {
	local name=$1 want=$2
	shift 2
	capture "$@"
	if [ "$RC" = "$want" ]; then
		pass "$name" "rc=$RC $(oneline "$OUT" | cut -c1-120)"
	else
		fail "$name" "rc=$RC want $want out=$(oneline "$OUT")"
	fi
}
R=(pm run --rm --network none)

# podman maps the runtime's error text to 127/126 (runc wording); a drop-in must match
mark cmd-not-found
expect_rc cmd-not-found 127 "${R[@]}" "$IMG" /nonexistent
mark cmd-not-executable
expect_rc cmd-not-executable 126 "${R[@]}" "$IMG" /etc/passwd

mark caps
expect_out caps "CapEff:	0000000000002000" "${R[@]}" --cap-drop ALL --cap-add NET_RAW "$IMG" \
	grep CapEff /proc/self/status

mark seccomp-default
expect_out seccomp-default "Seccomp:	2" "${R[@]}" "$IMG" grep '^Seccomp:' /proc/self/status

mark privileged
capture "${R[@]}" --privileged "$IMG" sh -c 'grep -E "^(Seccomp|CapEff):" /proc/self/status; test -b /dev/vda -o -c /dev/kmsg && echo host-devs'
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q '^Seccomp:.0' && printf '%s\n' "$OUT" | grep -q host-devs &&
	printf '%s\n' "$OUT" | grep -q 'CapEff:.000001ff'; then
	pass privileged "$(oneline "$OUT")"
else
	fail privileged "rc=$RC out=$(oneline "$OUT")"
fi

mark ulimit
expect_out ulimit "1234" "${R[@]}" --ulimit nofile=1234:1234 --ulimit nproc=32768:32768 "$IMG" sh -c 'ulimit -n'

mark oom-score-adj
expect_out oom-score-adj "500" "${R[@]}" --oom-score-adj 500 "$IMG" cat /proc/self/oom_score_adj

mark cpus
# shellcheck disable=SC2016 # expanded inside the container
expect_out cpus "50000 100000" "${R[@]}" --cpus 0.5 "$IMG" \
	sh -c 'echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us)'

mark volumes
mkdir -p "$WORK/vol"
echo from-host >"$WORK/vol/in"
capture "${R[@]}" -v "$WORK/vol:/data" -v "$WORK/vol:/rodata:ro" --tmpfs /scratch:size=1m "$IMG" \
	sh -c 'cat /data/in; echo from-ctr >/data/out; touch /rodata/x 2>/dev/null || echo ro-ok; grep -c " /scratch tmpfs " /proc/mounts'
if [ "$RC" = 0 ] && [ "$OUT" = "from-host
ro-ok
1" ] && [ "$(cat "$WORK/vol/out" 2>/dev/null)" = from-ctr ]; then
	pass volumes "bind rw+ro, tmpfs"
else
	fail volumes "rc=$RC out=$(oneline "$OUT")"
fi

mark sysctl-ipc
expect_out sysctl-ipc "65000" "${R[@]}" --sysctl kernel.msgmax=65000 "$IMG" cat /proc/sys/kernel/msgmax

mark pid-host
# shellcheck disable=SC2016 # expanded inside the container
capture "${R[@]}" --pid host "$IMG" sh -c 'echo $$'
if [ "$RC" = 0 ] && [ -n "$OUT" ] && [ "$OUT" != 1 ]; then pass pid-host "pid=$OUT"; else fail pid-host "rc=$RC out=$(oneline "$OUT")"; fi

mark init
capture "${R[@]}" --init "$IMG" sh -c 'cat /proc/1/comm'
case "$RC:$OUT" in
0:podman-init | 0:catatonit) pass init "pid 1 is $OUT" ;;
*) fail init "rc=$RC out=$(oneline "$OUT")" ;;
esac

mark userns
capture "${R[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" \
	sh -c 'cat /proc/self/uid_map; touch /x && echo rw-ok'
OUT=$(printf '%s\n' "$OUT" | tr -s ' \t' ' ' | sed 's/^ //')
if [ "$RC" = 0 ] && [ "$OUT" = "0 100000 65536
rw-ok" ]; then pass userns "uid_map 0 100000 65536"; else fail userns "rc=$RC out=$(oneline "$OUT")"; fi

mark hooks
mkdir -p "$WORK/hooks.d"
cat >"$WORK/bin/hook" <<EOF
#!/bin/sh
cat >'$WORK/hook-'"\$1"'.json'
EOF
chmod +x "$WORK/bin/hook"
printf '{"version":"1.0.0","hook":{"path":"%s","args":["hook","%s"]},"when":{"always":true},"stages":["%s"]}\n' \
	"$WORK/bin/hook" prestart prestart >"$WORK/hooks.d/10-pre.json"
printf '{"version":"1.0.0","hook":{"path":"%s","args":["hook","%s"]},"when":{"always":true},"stages":["%s"]}\n' \
	"$WORK/bin/hook" poststop poststop >"$WORK/hooks.d/20-post.json"
capture pm --hooks-dir "$WORK/hooks.d" run --rm --network none --name hk "$IMG" true
PRE=$(grep -o '"status": *"[a-z]*"' "$WORK/hook-prestart.json" 2>/dev/null || true)
POST=$(grep -o '"status": *"[a-z]*"' "$WORK/hook-poststop.json" 2>/dev/null || true)
if [ "$RC" = 0 ] && [ -n "$PRE" ] && [ -n "$POST" ]; then
	pass hooks "prestart state $PRE, poststop state $POST"
else
	fail hooks "rc=$RC prestart=[$PRE] poststop=[$POST] out=$(oneline "$OUT")"
fi

mark exec-opts
capture pm run -d --name c3 --network none "$IMG" sleep 1000
# shellcheck disable=SC2016 # expanded inside the container
expect_out exec-opts "65534 /tmp v=7" pm exec --user 65534 --workdir /tmp --env V=7 c3 sh -c 'echo "$(id -u) $(pwd) v=$V"'
mark exec-not-found
expect_rc exec-not-found 127 pm exec c3 /nonexistent
mark exec-paused
pm pause c3 >/dev/null 2>&1 || true
capture pm exec c3 true
if [ "$RC" != 0 ]; then pass exec-paused "refused: rc=$RC $(oneline "$OUT" | cut -c1-120)"; else fail exec-paused "exec into a paused container succeeded"; fi
pm unpause c3 >/dev/null 2>&1 || true
mark kill-signal
pm rm -f -t 0 c3 >/dev/null 2>&1 || true
capture pm run -d --name c4 --network none "$IMG" sh -c 'trap "exit 9" USR1; while :; do sleep 0.1; done'
sleep 0.5
capture pm kill -s USR1 c4
capture pm wait c4
if [ "$OUT" = 9 ]; then pass kill-signal "USR1 trapped, exit 9"; else fail kill-signal "wait: rc=$RC out=$(oneline "$OUT")"; fi
pm rm -f -t 0 c4 >/dev/null 2>&1 || true

mark preserve-fds
# podman passes the extra fd to the runtime as create --preserve-fds 1
capture sh -c "exec 3<'$WORK/containers.conf'; pm run --rm --network none --preserve-fds 1 '$IMG' sh -c 'head -c8 /proc/self/fd/3'"
if [ "$RC" = 0 ] && [ "$OUT" = "[contain" ]; then pass preserve-fds "fd 3 readable"; else fail preserve-fds "rc=$RC out=$(oneline "$OUT")"; fi

mark device
capture "${R[@]}" --device /dev/fuse "$IMG" sh -c 'test -c /dev/fuse && echo dev-ok; cat /sys/fs/cgroup/devices/devices.list | grep -c "c 10:229"'
if [ "$RC" = 0 ] && [ "$OUT" = "dev-ok
1" ]; then pass device "/dev/fuse node + cgroup rule"; else fail device "rc=$RC out=$(oneline "$OUT")"; fi

mark cgroupns
expect_out cgroupns ":memory:/" "${R[@]}" --cgroupns private "$IMG" sh -c 'grep -o ":memory:.*" /proc/self/cgroup'

mark shm-size-cpuset
# shellcheck disable=SC2016 # expanded inside the container
expect_out shm-size-cpuset "shm=2048 cpus=0" "${R[@]}" --shm-size 2m --cpuset-cpus 0 "$IMG" \
	sh -c 'echo "shm=$(df -k /dev/shm | awk "NR==2 {print \$2}") cpus=$(cat /sys/fs/cgroup/cpuset/cpuset.cpus)"'

mark pod
# namespaces joined by path (linux.namespaces[].path): infra container + member
capture pm pod create --name p1 --network none --share ipc,uts
if [ "$RC" = 0 ]; then
	capture pm run --rm --pod p1 "$IMG" sh -c 'hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts'
	INFRA=$(pm pod inspect --format '{{.InfraContainerID}}' p1 2>/dev/null || true)
	IPID=$(pm inspect --format '{{.State.Pid}}' "$INFRA" 2>/dev/null || true)
	WANT="p1
$(readlink "/proc/$IPID/ns/ipc" 2>/dev/null)
$(readlink "/proc/$IPID/ns/uts" 2>/dev/null)"
	if [ "$RC" = 0 ] && [ -n "$IPID" ] && [ "$IPID" != 0 ] && [ "$OUT" = "$WANT" ]; then
		pass pod "member shares ipc+uts of infra pid $IPID"
	else
		fail pod "rc=$RC infra_pid=$IPID out=$(oneline "$OUT") want=$(oneline "$WANT")"
	fi
else
	fail pod "pod create: rc=$RC out=$(oneline "$OUT")"
fi
pm pod rm -f p1 >/dev/null 2>&1 || true

mark security-opts
# shellcheck disable=SC2016 # expanded inside the container
expect_out security-opts "NoNewPrivs: 1 Seccomp: 0" "${R[@]}" --security-opt no-new-privileges \
	--security-opt seccomp=unconfined "$IMG" sh -c 'echo $(grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status)'

mark parallel
# 8 containers at once: concurrent create/start/delete against one runtime root
PIDS=()
for i in 1 2 3 4 5 6 7 8; do
	timeout 120 pm run --rm --network none "$IMG" echo "par-$i" >"$WORK/par-$i.out" 2>&1 </dev/null &
	PIDS+=($!)
done
wait "${PIDS[@]}" || true
GOOD=0
for i in 1 2 3 4 5 6 7 8; do
	[ "$(tr -d '\r' <"$WORK/par-$i.out")" = "par-$i" ] && GOOD=$((GOOD + 1))
done
if [ "$GOOD" = 8 ]; then pass parallel "8/8"; else fail parallel "$GOOD/8 ok: $(cat "$WORK"/par-*.out | sort | uniq -c | tr '\n' ' ' | cut -c1-300)"; fi

# --- summary ------------------------------------------------------------------
echo "INTEROP-SUMMARY podman runtime=$KIND passed=$PASSED failed=$FAILED${FAILS[*]:+ (${FAILS[*]})}"
if [ "$FAILED" -ne 0 ]; then
	echo "---- runtime invocations ($RTLOG) ----"
	cat "$RTLOG"
	exit 1
fi
exit 0
