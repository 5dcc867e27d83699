#!/usr/bin/env bash
# Interop test: containerd 1.6 (io.containerd.runc.v2 shim) driving berth-runtime
# as its runc binary (ctr run --runc-binary), drop-in for runc.
#
# Usage: tests/interop/containerd.sh [berth|runc]
#   berth (default): berth-runtime -> $BERTH_BIN (default <repo>/target/release/berth)
#   runc           : the same checks against /usr/sbin/runc, for comparison
#
# A private containerd (root, state, grpc/ttrpc sockets in a temp dir) is
# started in the background and stopped by pid on exit. Every runtime
# invocation goes through a wrapper that logs argv and exit status (plus the
# tail of the runtime's --log file on failure) to $WORK/runtime.log; the log is
# printed at the end when a check failed. INTEROP_KEEP=1 keeps the temp dir.
# Note: the runc v2 shim of containerd 1.6 always puts its ttrpc socket under
# /run/containerd/s/ (not configurable); everything else stays in the temp dir.
# Prints "INTEROP <name> PASS|FAIL <detail>" per check; exits 0 iff all pass.
set -euo pipefail

KIND=${1:-berth}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH_BIN=${BERTH_BIN:-$REPO/target/release/berth}
# Symlinks to it are made in temp dirs: the path must not be relative.
BERTH_BIN=$(realpath -m "$BERTH_BIN")
IMG=localhost/busybox:latest
NS=berth-interop

die() { echo "interop/containerd: $*" >&2; exit 2; }
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
install_pkgs containerd busybox-static runc bsdutils

case "$KIND" in
berth)
	[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN (cargo build --release -p berth)"
	;;
runc) command -v runc >/dev/null || die "runc not installed" ;;
*) die "usage: $0 [berth|runc]" ;;
esac

WORK=$(mktemp -d /tmp/berth-interop-ctrd.XXXXXX)
chmod 755 "$WORK" # user-namespaced containers must traverse it
RTLOG=$WORK/runtime.log
: >"$RTLOG"
CTRD_PID=
PASSED=0
FAILED=0
FAILS=()

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$? m t
	set +e
	if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
		# tasks first (this also stops their shims), then containers, images
		for t in $(timeout 20 ctr -a "$WORK/containerd.sock" -n "$NS" task ls -q 2>/dev/null); do
			timeout 20 ctr -a "$WORK/containerd.sock" -n "$NS" task kill -s SIGKILL "$t" >/dev/null 2>&1
			sleep 0.2
			timeout 20 ctr -a "$WORK/containerd.sock" -n "$NS" task delete -f "$t" >/dev/null 2>&1
		done
		for t in $(timeout 20 ctr -a "$WORK/containerd.sock" -n "$NS" container ls -q 2>/dev/null); do
			timeout 20 ctr -a "$WORK/containerd.sock" -n "$NS" container delete "$t" >/dev/null 2>&1
		done
		kill "$CTRD_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CTRD_PID" 2>/dev/null
	fi
	# shims that outlived their task (started by us: their bundle is below $WORK)
	for m in "$WORK"/state/io.containerd.runtime.v2.task/"$NS"/*/shim.pid; do
		[ -f "$m" ] && kill -9 "$(cat "$m")" 2>/dev/null
	done
	# the namespace's parent cgroups (rmdir only removes them if empty)
	for m in /sys/fs/cgroup/*/"$NS"; do
		[ -d "$m" ] && rmdir "$m" 2>/dev/null
	done
	awk -v w="$WORK" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	if [ "${INTEROP_KEEP:-0}" = 1 ]; then
		echo "interop/containerd: kept $WORK" >&2
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
# log argv, run the runtime (argv[0] preserved), log status and --log tail on failure
LOG='$RTLOG'
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

# c: ctr against our daemon/namespace; cr: "ctr run" with the runtime under test
cat >"$WORK/bin/c" <<EOF
#!/bin/sh
exec ctr -a '$WORK/containerd.sock' -n '$NS' "\$@"
EOF
cat >"$WORK/bin/cr" <<EOF
#!/bin/sh
exec ctr -a '$WORK/containerd.sock' -n '$NS' run --runtime io.containerd.runc.v2 \\
	--runc-binary '$WRAP' --runc-root '$WORK/rtstate' "\$@"
EOF
chmod +x "$WORK/bin/c" "$WORK/bin/cr"
export PATH="$WORK/bin:$PATH"

# --- private containerd -------------------------------------------------------
cat >"$WORK/config.toml" <<EOF
version = 2
root = "$WORK/root"
state = "$WORK/state"
oom_score = 0
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$WORK/containerd.sock"

[ttrpc]
  address = "$WORK/containerd-ttrpc.sock"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""
EOF
containerd --config "$WORK/config.toml" >"$WORK/containerd.log" 2>&1 </dev/null &
CTRD_PID=$!
for _ in $(seq 100); do
	[ -S "$WORK/containerd.sock" ] && ctr -a "$WORK/containerd.sock" version >/dev/null 2>&1 && break
	kill -0 "$CTRD_PID" 2>/dev/null || { cat "$WORK/containerd.log" >&2; die "containerd exited"; }
	sleep 0.2
done
ctr -a "$WORK/containerd.sock" version >/dev/null 2>&1 || die "containerd did not come up"

# --- busybox image without a registry: a hand-made docker-archive ---------------
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
A=$WORK/archive
mkdir -p "$A/layer"
tar -C "$WORK/rootfs" --numeric-owner -cf "$A/layer/layer.tar" .
DIFF=$(sha256sum "$A/layer/layer.tar" | cut -d' ' -f1)
cat >"$A/config.json" <<EOF
{"architecture":"amd64","os":"linux",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$DIFF"]},
 "history":[{"created_by":"berth interop busybox"}]}
EOF
CFG=$(sha256sum "$A/config.json" | cut -d' ' -f1)
mv "$A/config.json" "$A/$CFG.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer/layer.tar"]}]\n' "$CFG" "$IMG" >"$A/manifest.json"
tar -C "$A" -cf "$WORK/busybox.tar" manifest.json "$CFG.json" layer/layer.tar
c image import "$WORK/busybox.tar" >/dev/null

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
OUT=
RC=0
capture() {
	local f=$WORK/out
	RC=0
	timeout 120 "$@" >"$f" 2>&1 </dev/null || RC=$?
	OUT=$(tr -d '\r\000' <"$f")
}
oneline() { printf '%s' "$1" | tr '\n' ' ' | cut -c1-300; }
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
task_status() { c task ls 2>/dev/null | awk -v id="$1" '$1 == id {print $3}' || true; }

# --- checks -------------------------------------------------------------------
mark run-echo
expect_out run-echo hi cr --rm "$IMG" r1 echo hi

mark exit-code
capture cr --rm "$IMG" r2 sh -c 'exit 3'
if [ "$RC" = 3 ]; then pass exit-code "rc=3"; else fail exit-code "rc=$RC want 3 out=$(oneline "$OUT")"; fi

mark env-cwd
# shellcheck disable=SC2016 # expanded inside the container
expect_out env-cwd "0 /tmp v=42" cr --rm --cwd /tmp --env V=42 \
	"$IMG" r3 sh -c 'echo "$(id -u) $(pwd) v=$V"'

mark userns
capture cr --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" r6 \
	sh -c 'cat /proc/self/uid_map; id -u; touch /x && echo rw-ok'
OUT=$(printf '%s\n' "$OUT" | tr -s ' \t' ' ' | sed 's/^ //')
if [ "$RC" = 0 ] && [ "$OUT" = "0 100000 65536
0
rw-ok" ]; then pass userns "uid_map 0 100000 65536"; else fail userns "rc=$RC out=$(oneline "$OUT")"; fi

mark run-tty
capture script -qec "cr --rm -t '$IMG' r4 sh -c 'test -t 0 && test -t 1 && echo tty-yes'" /dev/null
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q 'tty-yes$'; then pass run-tty tty-yes; else fail run-tty "rc=$RC out=$(oneline "$OUT")"; fi

mark detached-run
capture cr -d --memory-limit 50331648 "$IMG" c1 sleep 1000
if [ "$RC" = 0 ] && [ "$(task_status c1)" = RUNNING ]; then
	pass detached-run "task ls: RUNNING"
else
	fail detached-run "rc=$RC status=$(task_status c1) out=$(oneline "$OUT")"
fi

mark memory
PID1=$(c task ls 2>/dev/null | awk '$1 == "c1" {print $2}') || true
MEMCG=
LIM=
if [ -n "$PID1" ] && [ "$PID1" != 0 ]; then
	MEMCG=$(awk -F: '$2 == "memory" {print $3}' "/proc/$PID1/cgroup" 2>/dev/null || true)
	LIM=$(cat "/sys/fs/cgroup/memory$MEMCG/memory.limit_in_bytes" 2>&1 || true)
fi
if [ "$LIM" = 50331648 ]; then pass memory "memory:$MEMCG limit=$LIM"; else fail memory "pid=$PID1 memory:$MEMCG limit=$LIM"; fi

mark exec
expect_out exec from-exec c task exec --exec-id e1 c1 echo from-exec

mark exec-exit-code
capture c task exec --exec-id e2 c1 sh -c 'exit 5'
if [ "$RC" = 5 ]; then pass exec-exit-code "rc=5"; else fail exec-exit-code "rc=$RC want 5 out=$(oneline "$OUT")"; fi

mark exec-tty
capture script -qec "c task exec -t --exec-id e3 c1 sh -c 'test -t 1 && echo tty-yes'" /dev/null
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q 'tty-yes$'; then pass exec-tty tty-yes; else fail exec-tty "rc=$RC out=$(oneline "$OUT")"; fi

mark task-ps
capture c task ps c1
if [ "$RC" = 0 ] && [ -n "$PID1" ] && printf '%s\n' "$OUT" | grep -qw "$PID1"; then
	pass task-ps "$(oneline "$OUT")"
else
	fail task-ps "rc=$RC pid=$PID1 out=$(oneline "$OUT")"
fi

mark pause
capture c task pause c1
if [ "$RC" = 0 ] && [ "$(task_status c1)" = PAUSED ]; then pass pause PAUSED; else fail pause "rc=$RC status=$(task_status c1) out=$(oneline "$OUT")"; fi

mark resume
capture c task resume c1
if [ "$RC" = 0 ] && [ "$(task_status c1)" = RUNNING ]; then pass resume RUNNING; else fail resume "rc=$RC status=$(task_status c1) out=$(oneline "$OUT")"; fi

mark kill
capture c task kill -s SIGKILL c1
ST=
for _ in $(seq 50); do
	ST=$(task_status c1) || true
	[ "$ST" = STOPPED ] && break
	sleep 0.1
done
if [ "$RC" = 0 ] && [ "$ST" = STOPPED ]; then pass kill STOPPED; else fail kill "rc=$RC status=$ST out=$(oneline "$OUT")"; fi

mark delete
capture c task delete c1
RC1=$RC
OUT1=$OUT
capture c container delete c1
if [ "$RC1" = 0 ] && [ "$RC" = 0 ] && ! c container ls -q 2>/dev/null | grep -qx c1; then
	pass delete "task+container deleted ($(oneline "$OUT1"))"
else
	fail delete "task rc=$RC1 ($(oneline "$OUT1")) container rc=$RC ($(oneline "$OUT"))"
fi

mark kill-term
# default ctr kill is SIGTERM; sh as pid 1 with a trap exits 7
capture cr -d "$IMG" c2 sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done'
sleep 0.5
capture c task kill c2
ST=
for _ in $(seq 50); do
	ST=$(task_status c2) || true
	[ "$ST" = STOPPED ] && break
	sleep 0.1
done
DEL=$(c task delete c2 2>&1 | tr '\n' ' ') || true
c container delete c2 >/dev/null 2>&1 || true
if [ "$ST" = STOPPED ] && printf '%s' "$DEL" | grep -q 'exit code 7'; then
	pass kill-term "$DEL"
else
	fail kill-term "status=$ST delete=$DEL"
fi

# --- more of what the runc shim asks of a runtime --------------------------------
mark cmd-not-found
capture cr --rm "$IMG" r7 /nonexistent
if [ "$RC" != 0 ] && printf '%s' "$OUT" | grep -qi 'no such file or directory\|not found'; then
	pass cmd-not-found "rc=$RC $(oneline "$OUT" | cut -c1-160)"
else
	fail cmd-not-found "rc=$RC out=$(oneline "$OUT")"
fi
c container delete r7 >/dev/null 2>&1 || true

mark seccomp
expect_out seccomp "Seccomp:	2" cr --rm --seccomp "$IMG" r8 grep '^Seccomp:' /proc/self/status

mark privileged
capture cr --rm --privileged "$IMG" r9 sh -c 'grep "^CapEff:" /proc/self/status; test -b /dev/vda -o -c /dev/kmsg && echo host-devs'
if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -q 'CapEff:.000001ff' && printf '%s\n' "$OUT" | grep -q host-devs; then
	pass privileged "$(oneline "$OUT")"
else
	fail privileged "rc=$RC out=$(oneline "$OUT")"
fi

mark no-pivot
expect_out no-pivot hi cr --rm --no-pivot "$IMG" r10 echo hi

mark read-only
capture cr --rm --read-only "$IMG" r11 sh -c 'touch /x 2>/dev/null && echo writable || echo ro'
if [ "$RC" = 0 ] && [ "$OUT" = ro ]; then pass read-only ro; else fail read-only "rc=$RC out=$(oneline "$OUT")"; fi

mark bind-mount
mkdir -p "$WORK/vol"
echo from-host >"$WORK/vol/in"
capture cr --rm --mount "type=bind,src=$WORK/vol,dst=/data,options=rbind:rw" "$IMG" r12 \
	sh -c 'cat /data/in; echo from-ctr >/data/out'
if [ "$RC" = 0 ] && [ "$OUT" = from-host ] && [ "$(cat "$WORK/vol/out" 2>/dev/null)" = from-ctr ]; then
	pass bind-mount "rw bind both ways"
else
	fail bind-mount "rc=$RC out=$(oneline "$OUT")"
fi

mark cpus
capture cr -d --cpus 0.5 "$IMG" c5 sleep 1000
P=$(c task ls 2>/dev/null | awk '$1 == "c5" {print $2}') || true
CG=
Q=
if [ -n "$P" ] && [ "$P" != 0 ]; then
	CG=$(awk -F: '$2 == "cpu" {print $3}' "/proc/$P/cgroup" 2>/dev/null || true)
	Q=$(cat "/sys/fs/cgroup/cpu$CG/cpu.cfs_quota_us" 2>&1 || true)
fi
if [ "$Q" = 50000 ]; then pass cpus "cpu:$CG quota=$Q"; else fail cpus "rc=$RC pid=$P cpu:$CG quota=$Q out=$(oneline "$OUT")"; fi

mark exec-not-found
capture c task exec --exec-id e4 c5 /nonexistent
if [ "$RC" != 0 ] && printf '%s' "$OUT" | grep -qi 'no such file or directory\|not found'; then
	pass exec-not-found "rc=$RC $(oneline "$OUT" | cut -c1-160)"
else
	fail exec-not-found "rc=$RC out=$(oneline "$OUT")"
fi

mark exec-user-cwd
# shellcheck disable=SC2016 # expanded inside the container
expect_out exec-user-cwd "65534 /tmp" c task exec --exec-id e5 --user 65534 --cwd /tmp c5 sh -c 'echo "$(id -u) $(pwd)"'

mark kill-all
c task exec -d --exec-id e6 c5 sleep 1000 >/dev/null 2>&1 || true
capture c task kill -a -s SIGKILL c5
ST=
for _ in $(seq 50); do
	ST=$(task_status c5) || true
	[ "$ST" = STOPPED ] && break
	sleep 0.1
done
if [ "$RC" = 0 ] && [ "$ST" = STOPPED ]; then pass kill-all STOPPED; else fail kill-all "rc=$RC status=$ST out=$(oneline "$OUT")"; fi
c task delete c5 >/dev/null 2>&1 || true
c container delete c5 >/dev/null 2>&1 || true

mark oom
# shellcheck disable=SC2016 # expanded inside the container
capture cr --rm --memory-limit 16777216 "$IMG" r13 sh -c 'x=y; while :; do x="$x$x"; done'
if [ "$RC" = 137 ]; then pass oom "rc=137"; else fail oom "rc=$RC out=$(oneline "$OUT" | cut -c1-200)"; fi

mark with-ns
# joining another task's network+uts namespaces by path
capture cr -d "$IMG" c7 sleep 1000
P7=$(c task ls 2>/dev/null | awk '$1 == "c7" {print $2}') || true
capture cr --rm --with-ns "network:/proc/$P7/ns/net" --with-ns "uts:/proc/$P7/ns/uts" "$IMG" r14 \
	sh -c 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts'
WANT="$(readlink "/proc/$P7/ns/net" 2>/dev/null)
$(readlink "/proc/$P7/ns/uts" 2>/dev/null)"
if [ "$RC" = 0 ] && [ -n "$P7" ] && [ "$OUT" = "$WANT" ]; then pass with-ns "joined net+uts of pid $P7"; else fail with-ns "rc=$RC pid=$P7 out=$(oneline "$OUT") want=$(oneline "$WANT")"; fi
c task kill -s SIGKILL c7 >/dev/null 2>&1 || true
sleep 0.3
c task delete -f c7 >/dev/null 2>&1 || true
c container delete c7 >/dev/null 2>&1 || true

mark cgroup-path
capture cr --rm --cgroup "/$NS/custom-r15" "$IMG" r15 sh -c 'grep -o ":memory:.*" /proc/self/cgroup'
if [ "$RC" = 0 ] && [ "$OUT" = ":memory:/$NS/custom-r15" ]; then pass cgroup-path "$OUT"; else fail cgroup-path "rc=$RC out=$(oneline "$OUT")"; fi
rmdir /sys/fs/cgroup/*/"$NS"/custom-r15 2>/dev/null || true

mark parallel
PIDS=()
for i in 1 2 3 4 5 6 7 8; do
	timeout 120 cr --rm "$IMG" "par$i" echo "par-$i" >"$WORK/par-$i.out" 2>&1 </dev/null &
	PIDS+=($!)
done
wait "${PIDS[@]}" || true # only these: a bare wait would also wait for containerd
GOOD=0
for i in 1 2 3 4 5 6 7 8; do
	[ "$(tr -d '\r' <"$WORK/par-$i.out")" = "par-$i" ] && GOOD=$((GOOD + 1))
done
if [ "$GOOD" = 8 ]; then pass parallel "8/8"; else fail parallel "$GOOD/8 ok: $(cat "$WORK"/par-*.out | sort | uniq -c | tr '\n' ' ' | cut -c1-300)"; fi

# --- summary ------------------------------------------------------------------
echo "INTEROP-SUMMARY containerd runtime=$KIND passed=$PASSED failed=$FAILED${FAILS[*]:+ (${FAILS[*]})}"
if [ "$FAILED" -ne 0 ]; then
	echo "---- runtime invocations ($RTLOG) ----"
	cat "$RTLOG"
	echo "---- containerd log (errors) ----"
	grep -iE 'level=(error|warn)' "$WORK/containerd.log" | tail -n 30 || true
	exit 1
fi
exit 0
