#!/usr/bin/env bash
# ports.sh — frames/s and Gbit/s through vmnetd's VMM socket ports (QEMU
# -netdev stream and -netdev dgram framing, bench_sock) beside the library's
# ring path (bench_ring), in one run, 64 and 1514-byte frames, batch 256.
#
# Rows stream-direct and dgram-direct take vmnetd out (bench_sock's direct modes:
# the two clients on one socketpair): what the kernel allows for ONE hop between
# two processes here. A port through vmnetd takes two such hops, so on these
# 2-CPU machines about half the direct rate is the most any relay could reach;
# the table gives each port against the ring path and against its direct row.
#
# Usage: bench/ports.sh                    (as root; see bench/README.md)
# Env:   T=3 (seconds per run)  WARMUP=0.5  SIZES="64 1514"  BATCH=256
#        REPS=1 (rounds of every row, interleaved; the table gives medians: of the rates, and
#        of the per-round ratios, each port against the ring row of its own round)
#        QLEN=512 (net.unix.max_dgram_qlen in the private namespace; 10 = kernel default)
#        UNBATCHED=1 (also rows stream-b1 and dgram-b1: the socket clients move one frame
#        per call, as QEMU does: one write per frame, one sendto/recvfrom per datagram)
#        BUILD=<repo>/build  OUT=<repo>/bench/out  NOBUILD=1 (skip ninja)
#        VMNETD=<path> (run another vmnetd binary: A/B comparisons of a change)
#
# Starts a private vmnetd (own socket and state dir in a temp dir, no host
# tap), attaches one --qemu-stream socket (both bench clients connect to it:
# two connections = two ports) and two --dgram sockets (one per client).
# vmnetd and the benchmarks run in a private network namespace, only so that
# net.unix.max_dgram_qlen (per namespace, taken by a socket when it is made)
# can be set to QLEN there without touching the host's setting.
# The daemon is killed by PID on exit, the namespace deleted, the temp dir removed.
# Output: $OUT/ports.md (table), $OUT/ports-raw.tsv, $OUT/ports-log.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$HERE/out}
T=${T:-3}
WARMUP=${WARMUP:-0.5}
SIZES=${SIZES:-"64 1514"}
BATCH=${BATCH:-256}
REPS=${REPS:-1}
QLEN=${QLEN:-512}

[ "$(id -u)" -eq 0 ] || { echo "ports.sh: needs root (like run.sh)"; exit 1; }

if [ -z "${NOBUILD:-}" ]; then
	ninja -C "$BUILD" bench/bench_ring bench/bench_sock daemon/vmnetd cli/vmnet >/dev/null
fi
VMNETD=${VMNETD:-$BUILD/daemon/vmnetd}
VMNET=$BUILD/cli/vmnet
RING=$BUILD/bench/bench_ring
SOCK=$BUILD/bench/bench_sock

. "$HERE/lib.sh"
bench_begin ports
ip netns exec "$NS" sysctl -qw net.unix.max_dgram_qlen="$QLEN"
bench_daemon

S=$WORK/qs.sock DA=$WORK/da.sock DB=$WORK/db.sock
"$VMNET" attach --qemu-stream "$S" --name qs >>"$LOG" 2>&1
"$VMNET" attach --dgram "$DA" --name da >>"$LOG" 2>&1
"$VMNET" attach --dgram "$DB" --name db >>"$LOG" 2>&1

run_one() { # run_one impl size rep
	local impl=$1 size=$2 rep=$3 line rc=0
	local batch=$BATCH
	[ "${impl%-b1}" != "$impl" ] && batch=1
	local common=(-s "$size" -b "$batch" -t "$T" -w "$WARMUP")
	case ${impl%-b1} in
	ring) line=$(ip netns exec "$NS" "$RING" "${common[@]}" -p "$DAEMON_PID" 2>>"$LOG") || rc=$? ;;
	stream) line=$(ip netns exec "$NS" "$SOCK" stream -A "$S" "${common[@]}" -p "$DAEMON_PID" 2>>"$LOG") || rc=$? ;;
	dgram) line=$(ip netns exec "$NS" "$SOCK" dgram -A "$DA" -B "$DB" "${common[@]}" -p "$DAEMON_PID" 2>>"$LOG") || rc=$? ;;
	stream-direct | dgram-direct) line=$(ip netns exec "$NS" "$SOCK" "$impl" "${common[@]}" 2>>"$LOG") || rc=$? ;;
	esac
	echo "$line" >>"$LOG"
	line=${line/impl=ours /impl=ring }
	line=${line/impl=${impl%-b1} /impl=$impl }
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		echo "  $impl size=$size FAILED (see $LOG)"
		return 0
	fi
	printf '%s rep=%s\n' "${line#RESULT }" "$rep" | tr ' ' '\t' >>"$RAW"
	echo "$line" | awk -v rep="$rep" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "  %s %-13s %4s B batch %3s: %7.3f Mpps %7.3f Gbit/s (sent %.3f Mpps, loss %.2f%%, cpu tx/rx/d %s/%s/%s%%)\n",
			rep, v["impl"], v["size"], v["batch"], v["rx_mpps"], v["rx_gbps"], v["tx_mpps"], v["loss_pct"],
			v["cpu_tx"], v["cpu_rx"], v["cpu_d"] }'
}

IMPLS="ring stream dgram"
[ -n "${UNBATCHED:-}" ] && IMPLS="$IMPLS stream-b1 dgram-b1"
IMPLS="$IMPLS stream-direct dgram-direct"
echo "ports: T=${T}s, batch $BATCH, $REPS round(s), results in $OUT"
for rep in $(seq "$REPS"); do
	for size in $SIZES; do
		for impl in $IMPLS; do
			run_one "$impl" "$size" "$rep"
		done
	done
done

{
	echo "| size (B) | path | Mpps | Gbit/s | port/ring | port/direct | sent Mpps | loss % | cpu tx | cpu rx | cpu vmnetd |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' -v sizes="$SIZES" -v impls="$IMPLS" '
	function median(list,   a, n, i, j, t) { # list: space-separated numbers
		n = split(list, a, " ")
		if (n == 0) return ""
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function add(k, x) { acc[k] = (k in acc) ? acc[k] " " x : x }
	{
		delete v
		for (n = 1; n <= NF; n++) { split($n, kv, "="); v[kv[1]] = kv[2] }
		key = v["impl"] SUBSEP v["size"]
		mpps[key, v["rep"]] = v["rx_mpps"]
		seen[key] = 1
		add(key SUBSEP "m", v["rx_mpps"]); add(key SUBSEP "g", v["rx_gbps"]); add(key SUBSEP "t", v["tx_mpps"])
		add(key SUBSEP "l", v["loss_pct"]); add(key SUBSEP "ct", v["cpu_tx"]); add(key SUBSEP "cr", v["cpu_rx"])
		add(key SUBSEP "cd", v["cpu_d"]); reps[v["rep"]] = 1
	}
	END {
		ns = split(sizes, S, " "); ni = split(impls, I, " ")
		for (a = 1; a <= ns; a++) for (b = 1; b <= ni; b++) {
			s = S[a]; i = I[b]; key = i SUBSEP s
			if (!(key in seen)) { printf "| %s | %s | failed | | | | | | | | |\n", s, i; continue }
			base = i; sub(/-b1$/, "", base); dk = base "-direct" SUBSEP s
			rr = ""; rd = ""
			for (r in reps) {
				m = mpps[key, r]
				if (m == "") continue
				if (mpps["ring" SUBSEP s, r] > 0) rr = rr " " m / mpps["ring" SUBSEP s, r]
				if (i !~ /direct|ring|-b1/ && mpps[dk, r] > 0) rd = rd " " m / mpps[dk, r]
			}
			pr = (i == "ring") ? "1" : (rr == "" ? "n/a" : sprintf("%.2f", median(rr)))
			pd = (rd == "") ? "" : sprintf("%.2f", median(rd))
			cd = median(acc[key SUBSEP "cd"])
			printf "| %s | %s | %.3f | %.2f | %s | %s | %.3f | %.1f | %s | %s | %s |\n", s, i,
				median(acc[key SUBSEP "m"]), median(acc[key SUBSEP "g"]), pr, pd, median(acc[key SUBSEP "t"]),
				median(acc[key SUBSEP "l"]), median(acc[key SUBSEP "ct"]), median(acc[key SUBSEP "cr"]),
				(i ~ /direct/) ? "-" : cd
		}
	}' "$RAW"
	echo
	echo "Command: QLEN=$QLEN T=$T WARMUP=$WARMUP SIZES=\"$SIZES\" BATCH=$BATCH REPS=$REPS${UNBATCHED:+ UNBATCHED=1} $0; $(date -u '+%Y-%m-%d %H:%M UTC'),"
	echo "load before $LOAD_BEFORE; medians of $REPS interleaved round(s) (ratios: median of the per-round ratios)."
	[ -n "${UNBATCHED:-}" ] && echo "Rows *-b1: one frame per call (batch 1), as QEMU moves them; port/ring still against ring at batch $BATCH."
	echo "Rows *-direct: no vmnetd, the two clients on one socketpair (one kernel hop); port/direct = port against it."
	echo "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files),"
	echo "kernel $(uname -r), $(nproc) CPUs, net.unix.max_dgram_qlen=$(ip netns exec "$NS" sysctl -n net.unix.max_dgram_qlen) in the private namespace (QLEN)."
	echo "Target (issue): each port within 2x of the ring path (port/ring >= 0.5)."
} >"$OUT/ports.md"

echo
cat "$OUT/ports.md"
