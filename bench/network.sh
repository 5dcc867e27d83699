#!/usr/bin/env bash
# The cost of bridge networking and the throughput of a published port: berth against
# podman, side by side in one run.
#
#   bench/network.sh [--runs N] [--rounds R] [--size-mb M] [--berth PATH] [--out DIR]
#
# Times, with hyperfine:
#   run --rm busybox true   --network none against the default bridge network, for
#                           berth and for podman (the ratio is the cost of networking);
#                           for berth also a bridged run whose namespace is never
#                           pooled (--cap-add NET_ADMIN disqualifies it), i.e. the
#                           cost of making and destroying a namespace and veth pair
#   published port          `curl` of an M MB file (default 256) from busybox httpd in
#                           a container, through `-p 127.0.0.1:PORT:80`, for berth
#                           (nftables DNAT) and podman, and through a userland proxy
#                           (socat) to the same berth container, the other way to
#                           publish on localhost; then R more rounds of berth
#                           against podman alone (RUNS runs each), in alternating
#                           order, reported as the median of the round ratios;
#                           each round starts its own servers (where a file's
#                           pages land in memory moves a transfer's time) and
#                           also times a second pair pinned to CPU 0 with curl
#                           on CPU 1 (needs 2 CPUs)
# Everything lives in a scratch directory with its own stores; the bridges are
# berth's and podman's default ones; traffic stays on 127.0.0.1 and those bridges.
set -euo pipefail

die() { printf 'network: error: %s\n' "$*" >&2; exit 1; }
info() { printf 'network: %s\n' "$*" >&2; }

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
repo_root=$(cd -- "$script_dir/.." && pwd -P)
runs=30
rounds=8
size=256
berth=$repo_root/target/release/berth
out=""
while (($#)); do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--size-mb) size=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--berth) berth=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,23p' "$0"; exit 0 ;;
	*) die "unknown argument: $1" ;;
	esac
done
((EUID == 0)) || die "must run as root"
[[ -x $berth ]] || die "no berth binary at $berth (scripts/build-release.sh)"
(($(nproc) >= 2)) || die "the pinned rounds need 2 CPUs"
for c in hyperfine podman jq curl socat nft taskset; do
	command -v "$c" >/dev/null || die "$c is missing (apt-get install hyperfine podman jq curl socat nftables)"
done
out=${out:-$repo_root/target/bench/network-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

tag=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
tmp=$(mktemp -d /tmp/berth-net.XXXXXX)
b_run=/run/bb-$tag
p_run=/run/bp-$tag
export BERTH_ROOT=$tmp/berth BERTH_RUNROOT=$b_run
export CONTAINERS_CONF=$tmp/containers.conf
# Its own tmpdir too: the default, /run/libpod, is shared by every podman on the host,
# and another podman store's reset there makes this one "refresh" its containers.
podman=(podman --root "$tmp/podman" --runroot "$p_run" --tmpdir "$p_run/tmp" --storage-driver overlay)
socat_pid=""

cleanup() {
	trap - EXIT
	[[ -n $socat_pid ]] && kill "$socat_pid" 2>/dev/null || true
	# The whole scratch store, its default network's bridge and nft chains included.
	"$berth" system reset -f >/dev/null 2>&1 || true
	"${podman[@]}" rm -f -t 0 --all >/dev/null 2>&1 || true
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

hf() { # name, then hyperfine arguments
	local name=$1
	shift
	hyperfine -N --warmup 3 --runs "$runs" --export-json "$out/$name.json" "$@" >"$out/$name.txt" 2>&1 ||
		{ cat "$out/$name.txt" >&2; die "hyperfine $name failed"; }
}

info "run --rm busybox true, without and with the bridge ($runs runs each)"
# One bridged run first: it creates the default network (and podman's).
"$berth" run --rm --network bridge busybox true
"${podman[@]}" run --rm --network bridge busybox true
hf run-net \
	-n "berth none" "$berth run --rm --network none busybox true" \
	-n "berth bridge" "$berth run --rm --network bridge busybox true" \
	-n "berth bridge unpooled" "$berth run --rm --network bridge --cap-add NET_ADMIN busybox true" \
	-n "podman none" "${podman[*]} run --rm --network none busybox true" \
	-n "podman bridge" "${podman[*]} run --rm --network bridge busybox true"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve="dd if=/dev/zero of=/srv/big bs=1M count=$size 2>/dev/null && exec httpd -f -p 80 -h /srv"
bp=$(free_port)
pp=$(free_port)
sp=$(free_port)
info "published-port throughput: ${size} MB per transfer"
bid=$("$berth" run -d --network bridge --tmpfs /srv:size=$((size + 16))m -p "127.0.0.1:$bp:80" busybox sh -c "$serve")
# podman's own network on a subnet of its own: a stale bridge on 10.88.0.0/16 (CNI's,
# from another podman configuration) would otherwise take the default network's route.
"${podman[@]}" network create --subnet "10.199.$((RANDOM % 200 + 20)).0/24" "bench$tag" >/dev/null
"${podman[@]}" run -d --network "bench$tag" --tmpfs /srv:size=$((size + 16))m -p "127.0.0.1:$pp:80" busybox sh -c "$serve" >/dev/null
bip=$("$berth" inspect -f '{{.NetworkSettings.IPAddress}}' "$bid")
socat "TCP-LISTEN:$sp,bind=127.0.0.1,fork,reuseaddr" "TCP:$bip:80" &
socat_pid=$!
wait_served() {
	local u
	for u in "$@"; do
		for _ in $(seq 100); do
			curl -sf -m 10 -o /dev/null "http://$u/big" && break
			sleep 0.2
		done
		curl -sf -m 60 -o /dev/null "http://$u/big" || die "nothing served on $u"
	done
}
wait_served "127.0.0.1:$bp" "127.0.0.1:$pp" "127.0.0.1:$sp"
hf ports \
	-n "berth -p (nft DNAT)" "curl -sf -m 60 -o /dev/null http://127.0.0.1:$bp/big" \
	-n "podman -p" "curl -sf -m 60 -o /dev/null http://127.0.0.1:$pp/big" \
	-n "userland proxy (socat) to the berth container" "curl -sf -m 60 -o /dev/null http://127.0.0.1:$sp/big"
# hyperfine runs one command's runs, then the next's: on a shared machine a slow
# minute lands on one side. Rounds in alternating order spread it over both. Each
# round also has servers of its own, started in alternating order: how fast a
# transfer goes depends on where in memory its file's tmpfs pages landed (on this
# VM two servers of one engine differed by 7% in curl's system time), so the same
# pair of servers in every round would measure their pages, not the engines.
round_servers=()
servers() { # round number, extra run arguments; sets $rb and $rp to the ports
	local r=$1
	shift
	rb=$(free_port)
	rp=$(free_port)
	local b=("$berth" run -d --network bridge "$@" --tmpfs /srv:size=$((size + 16))m -p "127.0.0.1:$rb:80" busybox sh -c "$serve")
	local p=("${podman[@]}" run -d --network "bench$tag" "$@" --tmpfs /srv:size=$((size + 16))m -p "127.0.0.1:$rp:80" busybox sh -c "$serve")
	if ((r % 2 == 0)); then
		round_servers+=("p:$("${p[@]}")" "b:$("${b[@]}")")
	else
		round_servers+=("b:$("${b[@]}")" "p:$("${p[@]}")")
	fi
	wait_served "127.0.0.1:$rb" "127.0.0.1:$rp"
}
drop_servers() {
	local s
	for s in "${round_servers[@]}"; do
		case $s in
		b:*) "$berth" rm -f "${s#b:}" >/dev/null || info "could not remove berth server ${s#b:}" ;;
		p:*) "${podman[@]}" rm -f -t 0 "${s#p:}" >/dev/null || info "could not remove podman server ${s#p:}" ;;
		esac
	done
	round_servers=()
}
round() { # name, round number, command prefix, berth port, podman port
	local first=(-n "berth -p (nft DNAT)" "$3curl -sf -m 60 -o /dev/null http://127.0.0.1:$4/big")
	local second=(-n "podman -p" "$3curl -sf -m 60 -o /dev/null http://127.0.0.1:$5/big")
	if (($2 % 2 == 0)); then
		hf "$1$2" "${second[@]}" "${first[@]}"
	else
		hf "$1$2" "${first[@]}" "${second[@]}"
	fi
}
for r in $(seq "$rounds"); do
	servers "$r"
	round ports-round "$r" "" "$rb" "$rp"
	# Pinned: servers on CPU 0, curl on CPU 1. On a 2-CPU machine whether the server
	# and curl share a CPU moves a transfer's time by more than the data path
	# differs, and the scheduler decides that anew for each container.
	servers "$r" --cpuset-cpus 0
	round ports-pinned "$r" "taskset -c 1 " "$rb" "$rp"
	drop_servers
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rounds_table() { # result name prefix, first column's title; leaves the ratios in $ratios
	echo
	echo "| $2 | berth -p median ms | podman -p median ms | podman / berth |"
	echo "| --- | --- | --- | --- |"
	ratios=()
	local r b p q
	for r in $(seq "$rounds"); do
		b=$(median_ms "$1$r" "berth -p (nft DNAT)")
		p=$(median_ms "$1$r" "podman -p")
		q=$(echo "scale=3; $p / $b" | bc)
		ratios+=("$q")
		echo "| $r | $b | $p | ${q}x |"
	done
	echo
}
median_ms() { jq -r ".results[] | select(.command == \"$2\") | .median * 1000 | . * 10 | round / 10" "$out/$1.json"; }
{
	echo "machine: $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ); $runs runs each; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "| run --rm busybox true | none ms | bridge ms | bridge / none |"
	echo "| --- | --- | --- | --- |"
	for t in berth podman; do
		n=$(median_ms run-net "$t none")
		b=$(median_ms run-net "$t bridge")
		echo "| $t | $n | $b | $(echo "scale=2; $b / $n" | bc)x |"
	done
	n=$(median_ms run-net "berth none")
	u=$(median_ms run-net "berth bridge unpooled")
	echo "| berth, namespace never pooled | $n | $u | $(echo "scale=2; $u / $n" | bc)x |"
	echo
	echo "| ${size} MB through 127.0.0.1 | median ms | MB/s |"
	echo "| --- | --- | --- |"
	for c in "berth -p (nft DNAT)" "podman -p" "userland proxy (socat) to the berth container"; do
		m=$(median_ms ports "$c")
		echo "| $c | $m | $(echo "scale=0; $size * 1000 / $m" | bc) |"
	done
	rounds_table ports-round "round"
	echo "median of the round ratios (podman time / berth time; above 1: berth carries more): $(median "${ratios[@]}")x"
	rounds_table ports-pinned "pinned round (servers on CPU 0, curl on CPU 1)"
	echo "median of the pinned round ratios: $(median "${ratios[@]}")x"
} | tee "$out/summary.md"
