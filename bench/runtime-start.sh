#!/usr/bin/env bash
# Start-to-exit latency of `run` for runc, crun and (if built) berth.
#
#   bench/runtime-start.sh [--runs N] [--berth PATH] [--out DIR]
#
# Builds one busybox bundle whose process is /bin/true, then times
# `<runtime> --root <tmp> run --bundle <bundle> <fresh-id>` with hyperfine for
# every runtime, measures peak RSS of one run with /usr/bin/time, checks that
# nothing was left behind and prints a markdown table. See docs/benchmarks.md.
set -euo pipefail

# crun 1.8 only accepts 1.0.x / 1.1.x ("unknown version specified" for 1.2.0
# and 1.3.0). The config below uses nothing newer than runtime-spec 1.1.
readonly OCI_VERSION=1.1.0
readonly WARMUP=5
readonly PKGS_CMDS="hyperfine:hyperfine runc:runc crun:crun jq:jq"
readonly UNIFIED_CONTROLLERS=/sys/fs/cgroup/unified/cgroup.controllers

die() { printf 'runtime-start: error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'runtime-start: warning: %s\n' "$*" >&2; }
info() { printf 'runtime-start: %s\n' "$*" >&2; }

usage() {
	cat <<'EOF'
usage: bench/runtime-start.sh [--runs N] [--berth PATH] [--out DIR]

  --runs N      timed runs per runtime (default 100; 5 warmup runs extra)
  --berth PATH  berth binary (default: <repo>/target/release/berth; the berth
                column is skipped if the default does not exist)
  --out DIR     results directory (default: <repo>/target/bench/runtime-start-<UTC stamp>)

Must run as root. Installs hyperfine, runc, crun, jq, time and busybox-static
with apt-get when they are missing.
EOF
}

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)

runs=100
berth=""
berth_explicit=0
out=""
while (($#)); do
	case $1 in
	--runs) (($# >= 2)) || die "--runs needs a value"; runs=$2; shift 2 ;;
	--runs=*) runs=${1#*=}; shift ;;
	--berth) (($# >= 2)) || die "--berth needs a value"; berth=$2; berth_explicit=1; shift 2 ;;
	--berth=*) berth=${1#*=}; berth_explicit=1; shift ;;
	--out) (($# >= 2)) || die "--out needs a value"; out=$2; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
((EUID == 0)) || die "must run as root (creates namespaces, mounts and cgroups)"

# Paths end up inside `sh -c '...'` strings that hyperfine splits itself, so
# keep them to a conservative character set instead of trying to quote.
safe_path() {
	[[ $1 =~ ^[A-Za-z0-9_./+-]+$ ]] || die "path '$1' contains characters this script does not quote; use a simpler path"
}

# --- dependencies (idempotent, quiet, never reads stdin) ---------------------
ensure_packages() {
	local missing=() pair
	for pair in $PKGS_CMDS; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	[[ -x /usr/bin/time ]] || missing+=(time)
	command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
	if [[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" != "install ok installed" ]]; then
		missing+=(busybox-static)
	fi
	((${#missing[@]})) || return 0
	command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
	info "installing: ${missing[*]}"
	local log
	log=$(mktemp /tmp/berth-bench-apt.XXXXXX)
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >"$log" 2>&1; then
		if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } </dev/null >>"$log" 2>&1; then
			tail -n 20 "$log" >&2
			rm -f "$log"
			die "apt-get install ${missing[*]} failed"
		fi
	fi
	rm -f "$log"
}
ensure_packages
[[ -x /bin/busybox ]] || die "/bin/busybox not found after installing busybox-static"

# --- berth binary --------------------------------------------------------------
if ((berth_explicit)); then
	[[ -x $berth ]] || die "--berth $berth: not an executable file"
else
	berth=$repo_root/target/release/berth
	if [[ ! -x $berth ]]; then
		info "no berth binary at $berth; benchmarking runc and crun only"
		berth=""
	fi
fi
if [[ -n $berth ]]; then
	berth=$(cd -- "$(dirname -- "$berth")" && pwd -P)/$(basename -- "$berth")
	safe_path "$berth"
fi

# --- scratch space and cleanup -------------------------------------------------
tag=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
safe_path "$tmp"
names=()
declare -A bin=()

cleanup() {
	local rc=$? n id
	trap - EXIT INT TERM
	for n in "${names[@]}"; do
		[[ -d $tmp/root-$n ]] || continue
		# Best effort: only reached with leftovers after an interrupted run.
		while read -r id; do
			if [[ -n $id ]]; then
				"${bin[$n]}" --root "$tmp/root-$n" delete --force "$id" >/dev/null 2>&1 || true
			fi
		done < <(list_ids "$n" 2>/dev/null || true)
	done
	rm -rf -- "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# runc/crun take --root before the command; berth takes it after `runtime`.
rt_argv() { # name -> "binary [subcommand] --root DIR"
	case $1 in
	berth)
		# The slim berth-runtime binary takes runc's verbs directly; berth itself
		# needs the `runtime` subcommand.
		case $(basename "${bin[$1]}") in
		berth-runtime*) printf '%s --root %s' "${bin[$1]}" "$tmp/root-$1" ;;
		*) printf '%s runtime --root %s' "${bin[$1]}" "$tmp/root-$1" ;;
		esac
		;;
	*) printf '%s --root %s' "${bin[$1]}" "$tmp/root-$1" ;;
	esac
}
list_ids() { # name -> container ids, one per line
	local argv
	argv=$(rt_argv "$1")
	# shellcheck disable=SC2086 # argv is built from safe paths only
	$argv list -q
}

# --- bundle ---------------------------------------------------------------------
write_config() { # dir rootfs-path args-json
	cat >"$1/config.json" <<EOF
{
	"ociVersion": "$OCI_VERSION",
	"process": {
		"terminal": false,
		"user": { "uid": 0, "gid": 0 },
		"args": $3,
		"env": [ "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ],
		"cwd": "/",
		"capabilities": {
			"bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "$2", "readonly": true },
	"hostname": "bench",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": [ "nosuid", "noexec", "nodev" ] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": [ "nosuid", "noexec", "nodev", "ro" ] }
	],
	"linux": {
		"resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
		"namespaces": [
			{ "type": "pid" }, { "type": "ipc" }, { "type": "uts" },
			{ "type": "mount" }, { "type": "network" }
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
	jq -e . "$1/config.json" >/dev/null || die "generated $1/config.json is not valid JSON"
}

bundle=$tmp/bundle
probe=$tmp/probe
rootfs=$bundle/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,proc,sys,tmp} "$probe"
cp /bin/busybox "$rootfs/bin/busybox"
while read -r applet; do
	[[ -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
done < <(/bin/busybox --list)
[[ -L $rootfs/bin/true && -L $rootfs/bin/sh ]] || die "busybox provides no true/sh applet"
write_config "$bundle" rootfs '["/bin/true"]'
# Probe: same rootfs, exits 42 only when it really is PID 1 of a new PID
# namespace, so a runtime that silently does nothing cannot pass.
write_config "$probe" "$rootfs" '["/bin/sh", "-c", "test $$ -eq 1 && exit 42"]'

# --- the wrapper ------------------------------------------------------------------
# crun 1.8 refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not
# supported") because the cgroup2 mount at /sys/fs/cgroup/unified has a
# controller (hugetlb). Hide it by bind-mounting /dev/null over the controllers
# file in a private mount namespace. Every runtime gets the identical wrapper so
# all pay the same unshare + sh + mount cost; on hosts without a populated
# unified controllers file the mount step is replaced by `true`.
if [[ -n "$(cat "$UNIFIED_CONTROLLERS" 2>/dev/null || true)" ]]; then
	prelude="mount --bind /dev/null $UNIFIED_CONTROLLERS"
else
	prelude="true"
fi
inner() { # name bundle [prefix...] -> sh -c script; $$ gives a fresh id per run
	local n=$1 b=$2
	shift 2
	printf '%s && exec %s%s run --bundle %s berthbench-%s-%s-$$' \
		"$prelude" "${*:+$* }" "$(rt_argv "$n")" "$b" "$n" "$tag"
}

# --- runtimes ---------------------------------------------------------------------
bin[runc]=$(command -v runc)
bin[crun]=$(command -v crun)
names=(runc crun)
if [[ -n $berth ]]; then
	bin[berth]=$berth
	names+=(berth)
fi
for n in "${names[@]}"; do
	safe_path "${bin[$n]}"
	mkdir -p "$tmp/root-$n"
done

# Sanity probe: each runtime must really run the container and pass its exit
# status through, like `runc run`.
probe_ok=()
for n in "${names[@]}"; do
	set +e
	probe_out=$(unshare -m sh -c "$(inner "$n" "$probe")" 2>&1 </dev/null)
	probe_rc=$?
	set -e
	if ((probe_rc == 42)); then
		probe_ok+=("$n")
		continue
	fi
	msg="$n failed the probe container (exit $probe_rc, expected 42)${probe_out:+: $probe_out}"
	if [[ $n == berth ]] && ((!berth_explicit)); then
		warn "$msg -- skipping the berth column"
	else
		die "$msg"
	fi
done
names=("${probe_ok[@]}")

# --- results dir + machine ---------------------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${out:-$repo_root/target/bench/runtime-start-$stamp}
mkdir -p "$out"
out=$(cd -- "$out" && pwd -P)

cmdline="bench/runtime-start.sh --runs $runs"
if [[ " ${names[*]} " == *" berth "* ]]; then
	cmdline+=" --berth ${bin[berth]}"
fi
{
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "- command: \`$cmdline\`"
	echo "- nproc: $(nproc)"
	echo "- kernel: $(uname -r)"
	echo "- cpu: $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "- loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- runc: $(runc --version | head -n1)"
	echo "- crun: $(crun --version | head -n1)"
	echo "- hyperfine: $(hyperfine --version)"
	if [[ " ${names[*]} " == *" berth "* ]]; then
		echo "- berth: ${bin[berth]} (repo $(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
	fi
	echo "- wrapper: \`unshare -m sh -c '$prelude && exec <runtime> ...'\`"
} >"$out/machine.md"
cat "$out/machine.md" >&2

# --- latency -------------------------------------------------------------------------
hf=(hyperfine -N --warmup "$WARMUP" --runs "$runs"
	--export-json "$out/hyperfine.json" --export-markdown "$out/hyperfine.md")
for n in "${names[@]}"; do
	hf+=(--command-name "$n" "unshare -m sh -c '$(inner "$n" "$bundle")'")
done
# Constant cost every row includes: the wrapper exec'ing /bin/true directly.
hf+=(--command-name wrapper-only "unshare -m sh -c '$prelude && exec /bin/true'")
printf '%q ' "${hf[@]}" >"$out/hyperfine-cmd.txt"
"${hf[@]}" </dev/null

# --- peak RSS ------------------------------------------------------------------------
# GNU time's %M is ru_maxrss of the waited-for child: the largest RSS of any
# single process in the tree it reaped (not a sum), in KiB.
declare -A rss=()
for n in "${names[@]}"; do
	unshare -m sh -c "$(inner "$n" "$bundle" /usr/bin/time -o "$tmp/rss-$n" -f %M)" </dev/null ||
		die "$n: the /usr/bin/time run failed"
	rss[$n]=$(tail -n1 "$tmp/rss-$n")
done

# --- leftovers -----------------------------------------------------------------------
leftover=0
for n in "${names[@]}"; do
	if ids=$(list_ids "$n" 2>&1); then
		if [[ -n $ids ]]; then
			warn "$n left containers behind: $(echo "$ids" | tr '\n' ' ')"
			leftover=1
		fi
	else
		warn "$n list failed ($ids); checking its root dir instead"
	fi
	left=$(find "$tmp/root-$n" -mindepth 1 -maxdepth 1 -printf '%f ')
	if [[ -n $left ]]; then
		warn "$n root dir not empty: $left"
		[[ $n == berth ]] || leftover=1
	fi
done
cg_left=$(find /sys/fs/cgroup -maxdepth 8 -type d -name "berthbench-*-$tag-*" 2>/dev/null || true)
if [[ -n $cg_left ]]; then
	warn "cgroups left behind: $(echo "$cg_left" | tr '\n' ' ')"
	leftover=1
fi

# --- report --------------------------------------------------------------------------
median_ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$out/hyperfine.json"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
m_runc=$(median_ms runc)
m_crun=$(median_ms crun)
m_wrap=$(median_ms wrapper-only)
{
	echo "| runtime | median ms | vs runc | vs crun | peak RSS KiB | net ms (median - wrapper) |"
	echo "|---|---:|---:|---:|---:|---:|"
	for n in "${names[@]}"; do
		m=$(median_ms "$n")
		printf '| %s | %.1f | %s | %s | %s | %.1f |\n' "$n" "$m" "$(ratio "$m" "$m_runc")" \
			"$(ratio "$m" "$m_crun")" "${rss[$n]}" "$(awk -v a="$m" -v b="$m_wrap" 'BEGIN { print a - b }')"
	done
	printf '| (wrapper only) | %.1f | | | | |\n' "$m_wrap"
} >"$out/table.md"
{
	echo "## Results $(date -u +%Y-%m-%d)"
	echo
	cat "$out/machine.md"
	echo
	cat "$out/table.md"
} >"$out/results.md"

echo
cat "$out/table.md"
echo
info "results in $out (results.md, hyperfine.json, hyperfine.md)"
((leftover == 0)) || die "leftover containers or cgroups detected (see warnings above)"
info "no leftover containers or cgroups"
