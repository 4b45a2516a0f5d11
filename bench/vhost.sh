#!/usr/bin/env bash
# vhost.sh — frames/s and Gbit/s through vmnetd's vhost-user-net port
# (bench_vhost: two vhost-user front-ends, a sender and a receiver, on one
# `vmnet attach --vhost-user` socket = two ports of the network) beside the
# library's ring path (bench_ring), in one run: 64 and 1514-byte frames,
# REPS interleaved repetitions, medians. With TSO=1 (the default) one more row:
# 64 KiB TCP super-frames with the offloads negotiated on both ports.
#
# Usage: bench/vhost.sh                    (as root; see bench/README.md)
# Env:   T=3 (seconds per run)  WARMUP=0.5  REPS=3  SIZES="64 1514"  BATCH=256
#        QSIZE=1024 (virtqueue size of both front-ends, 2..1024)  TSO=1 (0: no super-frame row)
#        BUILD=<repo>/build  OUT=<repo>/bench/out  NOBUILD=1 (skip ninja)
#
# Starts a private vmnetd (own socket and state dir in a temp dir, no host
# tap) in a private network namespace and attaches one --vhost-user socket.
# The daemon is killed by PID on exit, the namespace deleted, the temp dir removed.
# Output: $OUT/vhost.md (tables), $OUT/vhost-raw.tsv (one line per run), $OUT/vhost-log.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$HERE/out}
T=${T:-3}
WARMUP=${WARMUP:-0.5}
REPS=${REPS:-3}
SIZES=${SIZES:-"64 1514"}
BATCH=${BATCH:-256}
QSIZE=${QSIZE:-1024}
TSO=${TSO:-1}

[ "$(id -u)" -eq 0 ] || { echo "vhost.sh: needs root (network namespace)"; exit 1; }

if [ -z "${NOBUILD:-}" ]; then
	ninja -C "$BUILD" bench/bench_ring bench/bench_vhost daemon/vmnetd cli/vmnet >/dev/null
fi
VMNETD=$BUILD/daemon/vmnetd
VMNET=$BUILD/cli/vmnet
RING=$BUILD/bench/bench_ring
VHOST=$BUILD/bench/bench_vhost

. "$HERE/lib.sh"
bench_begin vhost
bench_daemon

VU=$WORK/vu.sock
"$VMNET" attach --vhost-user "$VU" --name vu >>"$LOG" 2>&1

run_one() { # run_one impl size rep
	local impl=$1 size=$2 rep=$3 line rc=0
	local common=(-s "$size" -b "$BATCH" -t "$T" -w "$WARMUP" -p "$DAEMON_PID")
	case $impl in
	ring) line=$(ip netns exec "$NS" "$RING" "${common[@]}" 2>>"$LOG") || rc=$? ;;
	vhost) line=$(ip netns exec "$NS" "$VHOST" -A "$VU" -q "$QSIZE" "${common[@]}" 2>>"$LOG") || rc=$? ;;
	vhost-tso) line=$(ip netns exec "$NS" "$VHOST" -A "$VU" -q "$QSIZE" -G "${common[@]}" 2>>"$LOG") || rc=$? ;;
	esac
	echo "$line" >>"$LOG"
	line=${line/impl=ours /impl=ring }
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		echo "  rep $rep $impl size=$size FAILED (see $LOG)"
		return 0
	fi
	# The super-frame row runs with -s 1514 on the command line; it is filed under its own size.
	printf 'rep=%s\t%s\n' "$rep" "${line#RESULT }" | tr ' ' '\t' >>"$RAW"
	echo "$line" | awk -v rep="$rep" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "  rep %s %-9s %5s B batch %3s: %7.3f Mpps %7.3f Gbit/s (sent %.3f Mpps, loss %.2f%%, cpu tx/rx/d %s/%s/%s%%)\n",
			rep, v["impl"], v["size"], v["batch"], v["rx_mpps"], v["rx_gbps"], v["tx_mpps"], v["loss_pct"],
			v["cpu_tx"], v["cpu_rx"], v["cpu_d"] }'
}

echo "vhost: T=${T}s, batch $BATCH, queue size $QSIZE, $REPS reps, results in $OUT"
for rep in $(seq "$REPS"); do
	for size in $SIZES; do
		run_one ring "$size" "$rep"
		run_one vhost "$size" "$rep"
	done
	if [ "$TSO" = 1 ]; then run_one vhost-tso 1514 "$rep"; fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

field() { # field impl size key -> one value per rep
	awk -F'\t' -v i="$1" -v s="$2" -v k="$3" '{
		delete v; for (n = 1; n <= NF; n++) { split($n, kv, "="); v[kv[1]] = kv[2] }
		if (v["impl"] == i && v["size"] == s) print v[k] }' "$RAW"
}
median() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { field "$@" | median; }
# Per-rep ratios impl/ring of one key (the runs of a rep are back to back), as "min-max".
ratios() { # ratios impl size ring_size key
	paste <(field "$1" "$2" rep) <(field "$1" "$2" "$4") | while read -r r v; do
		awk -F'\t' -v r="$r" -v s="$3" -v k="$4" -v x="$v" '{
			delete v; for (n = 1; n <= NF; n++) { split($n, kv, "="); v[kv[1]] = kv[2] }
			if (v["impl"] == "ring" && v["size"] == s && v["rep"] == r && v[k] > 0) printf "%.2f\n", x / v[k] }' "$RAW"
	done | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi }'
}
GSO_SIZE=$(awk -F'\t' '/\timpl=vhost-tso\t/ { for (n = 1; n <= NF; n++) if (sub(/^size=/, "", $n)) { print $n; exit } }' "$RAW")

{
	echo "| size (B) | path | Mpps | Gbit/s | vhost/ring | per-rep ratios | sent Mpps | loss % | cpu tx | cpu rx | cpu vmnetd |"
	echo "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		rm_=$(med ring "$size" rx_mpps)
		for impl in ring vhost; do
			m=$(med "$impl" "$size" rx_mpps)
			if [ -z "$m" ]; then
				echo "| $size | $impl | failed | | | | | | | | |"
				continue
			fi
			rr=""
			[ "$impl" = vhost ] && rr=$(ratios vhost "$size" "$size" rx_mpps)
			awk -v s="$size" -v i="$impl" -v m="$m" -v rm="${rm_:-0}" -v g="$(med "$impl" "$size" rx_gbps)" \
				-v tm="$(med "$impl" "$size" tx_mpps)" -v l="$(med "$impl" "$size" loss_pct)" -v rr="$rr" \
				-v ct="$(med "$impl" "$size" cpu_tx)" -v cr="$(med "$impl" "$size" cpu_rx)" \
				-v cd="$(med "$impl" "$size" cpu_d)" 'BEGIN {
				r = (i == "ring") ? "1" : (rm > 0 ? sprintf("%.2f", m / rm) : "n/a")
				printf "| %s | %s | %.3f | %.2f | %s | %s | %.3f | %.1f | %s | %s | %s |\n", s, i, m, g, r, rr, tm, l, ct, cr, cd }'
		done
	done
	if [ -n "$GSO_SIZE" ]; then
		rg=$(med ring 1514 rx_gbps)
		awk -v m="$(med vhost-tso "$GSO_SIZE" rx_mpps)" -v g="$(med vhost-tso "$GSO_SIZE" rx_gbps)" -v rg="${rg:-0}" \
			-v rr="$(ratios vhost-tso "$GSO_SIZE" 1514 rx_gbps)" -v s="$GSO_SIZE" \
			-v tm="$(med vhost-tso "$GSO_SIZE" tx_mpps)" -v l="$(med vhost-tso "$GSO_SIZE" loss_pct)" \
			-v ct="$(med vhost-tso "$GSO_SIZE" cpu_tx)" -v cr="$(med vhost-tso "$GSO_SIZE" cpu_rx)" \
			-v cd="$(med vhost-tso "$GSO_SIZE" cpu_d)" 'BEGIN {
			printf "| %s | vhost-tso | %.4f | %.2f | %s (Gbit/s vs ring 1514) | %s | %.4f | %.1f | %s | %s | %s |\n", s, m, g,
				(rg > 0 ? sprintf("%.2f", g / rg) : "n/a"), rr, tm, l, ct, cr, cd }'
	fi
	echo
	echo "Medians of $REPS interleaved reps (ring and vhost back to back per size and rep). Mpps and Gbit/s: frames the"
	echo "receiver got in the window (frame bytes, Ethernet header included). vhost: two vhost-user front-ends (bench_vhost)"
	echo "on one attachment, VERSION_1 + MRG_RXBUF (+ PROTOCOL_FEATURES), queue size $QSIZE, batch $BATCH per kick."
	[ -n "$GSO_SIZE" ] && echo "vhost-tso: $GSO_SIZE-byte TCP/IPv4 super-frames (GSO_TCPV4, NEEDS_CSUM, gso_size 1448), offloads negotiated on both ports, 4 KiB receive buffers."
	echo
	echo "Command: T=$T WARMUP=$WARMUP REPS=$REPS SIZES=\"$SIZES\" BATCH=$BATCH QSIZE=$QSIZE TSO=$TSO $0; $(date -u '+%Y-%m-%d %H:%M UTC'),"
	echo "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files),"
	echo "kernel $(uname -r), $(nproc) CPUs, load average before/after: $LOAD_BEFORE / $LOAD_AFTER."
	echo "Target (issue): each port within 2x of the ring path (vhost/ring >= 0.5)."
} >"$OUT/vhost.md"

echo
cat "$OUT/vhost.md"
