#!/usr/bin/env bash
# run.sh — vmnet data path (two API interfaces, two processes, through vmnetd)
# vs the kernel (two taps on a Linux bridge), 64/1514-byte frames, batch 1/256.
#
# Usage: bench/run.sh                     (as root; see bench/README.md)
# Env:   T=5 (seconds per run)  REPS=1 (median when > 1)  WARMUP=0.5
#        SIZES="64 1514"  BATCHES="1 256"  WAIT=yield (sender on ring full: yield|spin|sleep)
#        BUILD=<repo>/build  OUT=<repo>/bench/out  NOBUILD=1 (skip ninja)
#
# Starts a private vmnetd (own socket and state dir in a temp dir) and a
# private network namespace holding the bridge and the two taps; everything
# is removed on exit (daemon killed by PID, namespace deleted by name).
# Raw results: $OUT/raw.tsv (one line per run), $OUT/log.txt, $OUT/table.md, $OUT/env.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$HERE/out}
T=${T:-5}
REPS=${REPS:-1}
WARMUP=${WARMUP:-0.5}
SIZES=${SIZES:-"64 1514"}
BATCHES=${BATCHES:-"1 256"}
WAIT=${WAIT:-yield}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (taps, bridge, namespace)"; exit 1; }

if [ -z "${NOBUILD:-}" ]; then
	ninja -C "$BUILD" bench/bench_ring bench/bench_tap daemon/vmnetd >/dev/null
fi
VMNETD=$BUILD/daemon/vmnetd
RING=$BUILD/bench/bench_ring
TAP=$BUILD/bench/bench_tap

WORK=$(mktemp -d /tmp/vmnet-bench.XXXXXX)
NS="vbench$$"
TAPA="vbta$$"
TAPB="vbtb$$"
BR="vbbr$$"
DAEMON_PID=""
NS_MADE=""

cleanup() {
	set +e
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if [ -n "$NS_MADE" ]; then
		ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip -n "$NS" link del "$BR" 2>/dev/null
		ip -n "$NS" tuntap del dev "$TAPA" mode tap 2>/dev/null
		ip -n "$NS" tuntap del dev "$TAPB" mode tap 2>/dev/null
		ip netns del "$NS" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT"
RAW=$OUT/raw.tsv
LOG=$OUT/log.txt
: >"$RAW"
: >"$LOG"

# --- our path: a private vmnetd ------------------------------------------------
export VMNET_SOCKET=$WORK/vmnetd.sock
"$VMNETD" --socket "$VMNET_SOCKET" --state-dir "$WORK/state" >"$WORK/vmnetd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
	[ -S "$VMNET_SOCKET" ] && break
	sleep 0.05
done
[ -S "$VMNET_SOCKET" ] || { echo "vmnetd did not start:"; cat "$WORK/vmnetd.log"; exit 1; }

# --- the kernel path: bridge + two taps in a private namespace ------------------
# Plain L2 bridge: no STP, no forward delay, no multicast snooping, IPv6 off (no
# RS/MLD/DAD noise), no br_netfilter (bridge-nf-call-* = 0 in this namespace),
# learning on (default), ageing 300 s, fixed bridge MAC. Taps keep the kernel
# defaults (pfifo_fast, txqueuelen 1000).
ip netns add "$NS"
NS_MADE=1
nsx() { ip netns exec "$NS" "$@"; }
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
for k in iptables ip6tables arptables; do
	nsx sysctl -qw "net.bridge.bridge-nf-call-$k=0" 2>/dev/null || true
done
nsx ip link set lo up
nsx ip tuntap add dev "$TAPA" mode tap
nsx ip tuntap add dev "$TAPB" mode tap
nsx ip link add "$BR" type bridge stp_state 0 forward_delay 0 mcast_snooping 0 ageing_time 30000
nsx ip link set "$BR" address 02:be:4c:00:00:fe
nsx ip link set "$TAPA" master "$BR"
nsx ip link set "$TAPB" master "$BR"
for d in "$TAPA" "$TAPB" "$BR"; do
	nsx sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1" 2>/dev/null || true
	nsx ip link set "$d" up
done

{
	echo "date: $(date -Is)"
	echo "command: T=$T REPS=$REPS WARMUP=$WARMUP SIZES=\"$SIZES\" BATCHES=\"$BATCHES\" WAIT=$WAIT $0"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
	echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files"
	echo "cc: $(clang --version | head -1)"
	echo "buildtype: $(grep -o "'buildtype': '[a-z]*'" "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || meson introspect --buildoptions "$BUILD" 2>/dev/null | grep -o '"name": "buildtype", "value": "[a-z]*"' || echo '?')"
	echo "bridge: $(nsx ip -d link show "$BR" | grep -o 'stp_state [0-9]*\|forward_delay [0-9]*\|ageing_time [0-9]*\|mcast_snooping [0-9]*' | tr '\n' ' ')"
	echo "taps: $(nsx ip link show "$TAPA" | grep -o 'qdisc [a-z_]*\|qlen [0-9]*' | tr '\n' ' ')"
} >"$OUT/env.txt"

run_one() { # run_one impl size batch rep
	local impl=$1 size=$2 batch=$3 rep=$4 line rc=0
	if [ "$impl" = ours ]; then
		line=$("$RING" -s "$size" -b "$batch" -t "$T" -w "$WARMUP" -W "$WAIT" -p "$DAEMON_PID" 2>>"$LOG") || rc=$?
	else
		line=$(nsx "$TAP" -A "$TAPA" -B "$TAPB" -s "$size" -b "$batch" -t "$T" -w "$WARMUP" -W "$WAIT" 2>>"$LOG") || rc=$?
	fi
	echo "rep=$rep $line" >>"$LOG"
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		echo "  $impl size=$size batch=$batch rep=$rep FAILED (see $LOG)"
		return 0
	fi
	printf 'rep=%s\t%s\n' "$rep" "${line#RESULT }" | tr ' ' '\t' >>"$RAW"
	echo "$line" | awk -v r="$rep" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "  rep %s %-6s %4s B batch %3s: %7.3f Mpps %7.3f Gbit/s (sent %.3f Mpps, loss %.2f%%, cpu tx/rx/d %s/%s/%s%%)\n",
			r, v["impl"], v["size"], v["batch"], v["rx_mpps"], v["rx_gbps"], v["tx_mpps"], v["loss_pct"],
			v["cpu_tx"], v["cpu_rx"], v["cpu_d"] }'
}

echo "bench: T=${T}s x REPS=$REPS, results in $OUT"
for rep in $(seq "$REPS"); do
	for size in $SIZES; do
		for batch in $BATCHES; do
			# Alternate which path goes first, so slow drift does not favour one.
			if [ $((rep % 2)) -eq 1 ]; then order="ours kernel"; else order="kernel ours"; fi
			for impl in $order; do
				run_one "$impl" "$size" "$batch" "$rep"
			done
		done
	done
done

# --- table: medians over reps ----------------------------------------------------
field() { # field impl size batch key -> values, one per line
	awk -F'\t' -v i="$1" -v s="$2" -v b="$3" -v k="$4" '{
		delete v; for (n = 1; n <= NF; n++) { split($n, kv, "="); v[kv[1]] = kv[2] }
		if (v["impl"] == i && v["size"] == s && v["batch"] == b) print v[k] }' "$RAW"
}
median() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { field "$@" | median; }

{
	echo "| size (B) | batch | ours Mpps | ours Gbit/s | kernel Mpps | kernel Gbit/s | ours/kernel | ours loss % | kernel loss % |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		for batch in $BATCHES; do
			om=$(med ours "$size" "$batch" rx_mpps)
			og=$(med ours "$size" "$batch" rx_gbps)
			km=$(med kernel "$size" "$batch" rx_mpps)
			kg=$(med kernel "$size" "$batch" rx_gbps)
			ol=$(med ours "$size" "$batch" loss_pct)
			kl=$(med kernel "$size" "$batch" loss_pct)
			awk -v s="$size" -v b="$batch" -v om="$om" -v og="$og" -v km="$km" -v kg="$kg" -v ol="$ol" -v kl="$kl" 'BEGIN {
				r = (km > 0) ? sprintf("%.1f", om / km) : "n/a"
				printf "| %s | %s | %.3f | %.2f | %.3f | %.2f | %s | %.1f | %.1f |\n", s, b, om, og, km, kg, r, ol, kl }'
		done
	done
	echo
	echo "Detail (medians): sender rate, CPU % of one core over the window (tx = sender process, rx = receiver process, d = vmnetd)"
	echo
	echo "| path | size | batch | sent Mpps | cpu tx | cpu rx | cpu vmnetd | rx wakeups/s | frames per rx wakeup | ring-full retries/s |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		for batch in $BATCHES; do
			for impl in ours kernel; do
				tm=$(med "$impl" "$size" "$batch" tx_mpps)
				ct=$(med "$impl" "$size" "$batch" cpu_tx)
				cr=$(med "$impl" "$size" "$batch" cpu_rx)
				cd=$(med "$impl" "$size" "$batch" cpu_d)
				wk=$(med "$impl" "$size" "$batch" rx_wakeups)
				rf=$(med "$impl" "$size" "$batch" rx_frames)
				tf=$(med "$impl" "$size" "$batch" tx_full)
				se=$(med "$impl" "$size" "$batch" secs)
				awk -v i="$impl" -v s="$size" -v b="$batch" -v tm="$tm" -v ct="$ct" -v cr="$cr" -v cd="$cd" -v wk="$wk" -v rf="$rf" -v tf="$tf" -v se="$se" 'BEGIN {
					printf "| %s | %s | %s | %.3f | %s | %s | %s | %.0f | %.1f | %.0f |\n", i, s, b, tm, ct, cr, (cd < 0 ? "-" : cd),
						wk / se, (wk > 0 ? rf / wk : 0), tf / se }'
			done
		done
	done
} >"$OUT/table.md"

echo
cat "$OUT/table.md"
echo
echo "Target: >= 5 Mpps at 64 B with batching, and >= 3x the kernel path."
