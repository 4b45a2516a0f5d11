#!/usr/bin/env bash
# gateway.sh — the gateway services of vmnetd (DHCPv4 server, DNS proxy) beside
# dnsmasq serving the same kind of namespaces, in one run, as ratios:
#   - DHCP: DISCOVER->ACK latency (one client at a time) and lease throughput
#     (N clients, WINDOW in flight), ours vs dnsmasq on a veth; and ours again
#     under vmnetd's default DHCP flood limit;
#   - DNS: query latency and rate through our proxy (GW:53; GW = the default
#     network's gateway, normally 192.168.128.1) vs straight to the same
#     upstream, and vs dnsmasq forwarding over a veth.
#
# Usage: bench/gateway.sh                 (as root; see bench/README.md)
# Env:   N=1000 (clients, throughput)  WINDOW=16  LAT_N=200 (clients, latency)
#        LIMITED_N=300 (clients under vmnetd's default DHCP flood limit; 0 = skip)
#        DNS_N=1000 (queries, latency)  DNS_RATE_N=5000  DNS_WINDOW=16
#        REPS=3 (interleaved repetitions, medians)  DISK=1 (lease files on disk, not tmpfs)
#        HOST_TAP=1 (keep vmnetd's host tap)
#        BUILD=<repo>/build  OUT=<repo>/bench/out  NOBUILD=1 (skip ninja)
#
# Topology (all made here, all removed on exit; TAG = vgw<pid>):
#   host namespace: private vmnetds (own socket and --state-dir in a temp
#     dir, --dns-upstream 127.0.0.1#UPORT) and the upstream: dnsmasq on
#     127.0.0.1:UPORT answering bench.test and *.bench.test with 10.9.9.9;
#   TAGo  attached to vmnetd's default network (eth0): bench_dhcp;
#   TAGd  attached with address .254 of the gateway's /24: bench_dns to the proxy;
#   TAGl  attached to a second vmnetd with the default flood limit (the
#     first one is stopped by then): bench_dhcp;
#   TAGs  dnsmasq as DHCP server (192.168.128.2-254, like ours) and DNS
#     forwarder on 192.168.128.1, forwarding to its own copy of the upstream
#     on its loopback; one end of a veth pair;
#   TAGc  the other end (192.168.128.254/24): bench_dhcp and bench_dns.
# Daemons are killed by PID, namespaces deleted by the names made here.
# Output: $OUT/gateway.md (tables + environment), $OUT/gateway-raw.tsv (one
# line per run), $OUT/gateway-log.txt (stderr of every run, daemon logs),
# $OUT/gateway-env.txt.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$HERE/out}
N=${N:-1000}
WINDOW=${WINDOW:-16}
LAT_N=${LAT_N:-200}
LIMITED_N=${LIMITED_N:-300}
DNS_N=${DNS_N:-1000}
DNS_RATE_N=${DNS_RATE_N:-5000}
DNS_WINDOW=${DNS_WINDOW:-16}
REPS=${REPS:-3}
DHCP_TIMEOUT_MS=500 # per message, both servers
RUN_LIMIT=40        # seconds, per bench program run

[ "$(id -u)" -eq 0 ] || { echo "gateway.sh: needs root (namespaces, veth, AF_PACKET)"; exit 1; }
command -v dnsmasq >/dev/null || { echo "gateway.sh: needs dnsmasq"; exit 1; }

mkdir -p "$OUT"
if [ -z "${NOBUILD:-}" ]; then
	ninja -C "$BUILD" bench/bench_dhcp bench/bench_dns daemon/vmnetd cli/vmnet >"$OUT/gateway-build.log" 2>&1 ||
		{ tail -20 "$OUT/gateway-build.log"; echo "gateway.sh: the build failed (NOBUILD=1 uses what is built)"; exit 1; }
	rm -f "$OUT/gateway-build.log"
fi
VMNETD=$BUILD/daemon/vmnetd
VMNET=$BUILD/cli/vmnet
DHCPB=$BUILD/bench/bench_dhcp
DNSB=$BUILD/bench/bench_dns

# >>> DHCP_UNLIMITED: the vmnetd arguments that lift its DHCP flood limit for
# the throughput and latency runs. --dhcp-rate 0 removes the per-interface
# limit and the server-wide one for new clients (any N > 0 keeps the latter at
# 200 messages/s). Empty when this vmnetd has no such option: then every ours
# figure is under the default limit, and the table says so.
if "$VMNETD" --help 2>&1 | grep -q -- '--dhcp-rate'; then
	DHCP_UNLIMITED="--dhcp-rate 0"
else
	DHCP_UNLIMITED=""
fi

# Without a host tap (vmnet-hostN carrying the gateway address in this
# namespace) when this vmnetd can do without: the benchmark does not use it,
# and two daemons on one host would have to pick different subnets.
# HOST_TAP=1 keeps it (then DHCP broadcasts are also copied to the host).
VMNETD_ARGS=()
if [ -z "${HOST_TAP:-}" ] && "$VMNETD" --help 2>&1 | grep -q -- '--no-host-tap'; then
	VMNETD_ARGS+=(--no-host-tap)
fi

# Lease files (vmnetd's --state-dir, dnsmasq's --dhcp-leasefile) live in the
# temp dir. Both servers fsync the file on every new lease and RELEASE, so on a
# disk the DHCP figures measure the disk's fsync latency more than the servers:
# by default the temp dir is on tmpfs (fsync costs nothing); DISK=1 puts it in /tmp.
if [ -n "${DISK:-}" ]; then
	WORK=$(mktemp -d /tmp/vmnet-gwbench.XXXXXX)
else
	WORK=$(mktemp -d /dev/shm/vmnet-gwbench.XXXXXX)
fi
TAG="vgw$$"
NS_O="${TAG}o" NS_D="${TAG}d" NS_S="${TAG}s" NS_C="${TAG}c"
VETH_S="vgs$$" VETH_C="vgc$$"
PIDS=()     # daemons started here, killed by PID
NS_MADE=()  # namespaces made here
DAEMON_PID=""

cleanup() {
	set +e
	local p ns
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	for ns in "${NS_MADE[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	ip link del "$VETH_S" 2>/dev/null # only if it never left this namespace
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RAW=$OUT/gateway-raw.tsv
LOG=$OUT/gateway-log.txt
MD=$OUT/gateway.md
: >"$RAW"
: >"$LOG"

log() { echo "$*" | tee -a "$LOG"; }

# A UDP port on 127.0.0.1 nobody listens on.
free_port() {
	local p
	for p in $(seq $((20000 + $$ % 20000)) $((20100 + $$ % 20000))); do
		if [ -z "$(ss -Hlun "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
UPORT=$(free_port) || { echo "gateway.sh: no free UDP port"; exit 1; }

# --- namespaces ------------------------------------------------------------------
add_ns() { # add_ns NAME: IPv6 off (no RS/MLD/DAD noise on the measured links), lo up
	ip netns add "$1"
	NS_MADE+=("$1")
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$1" link set lo up
}

# --- the upstream: dnsmasq on loopback, answers *.bench.test --------------------
UPSTREAM_ARGS=(-C /dev/null -k --user=root --no-resolv --no-hosts --address=/bench.test/10.9.9.9
	--port "$UPORT" --listen-address 127.0.0.1 --bind-interfaces)
dnsmasq "${UPSTREAM_ARGS[@]}" --pid-file="$WORK/up.pid" --log-facility="$WORK/upstream.log" &
UP_PID=$!
PIDS+=("$UP_PID")

# --- ours: private vmnetd ----------------------------------------------------------
start_vmnetd() { # start_vmnetd DIR [args]: sets DAEMON_PID and VMNET_SOCKET
	local dir=$1
	shift
	export VMNET_SOCKET=$dir/vmnetd.sock
	mkdir -p "$dir"
	# shellcheck disable=SC2086 # the args are words
	"$VMNETD" --socket "$VMNET_SOCKET" --state-dir "$dir/state" --dns-upstream "127.0.0.1#$UPORT" \
		"${VMNETD_ARGS[@]}" "$@" \
		>"$dir/vmnetd.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	for _ in $(seq 100); do
		if [ -S "$VMNET_SOCKET" ] && python3 -c "
import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])" "$VMNET_SOCKET" 2>/dev/null; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "vmnetd did not start:"
	cat "$dir/vmnetd.log"
	exit 1
}

stop_vmnetd() {
	kill "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=""
}

# shellcheck disable=SC2086
start_vmnetd "$WORK/ours" $DHCP_UNLIMITED
add_ns "$NS_O"
add_ns "$NS_D"
"$VMNET" attach --netns "$NS_O" >/dev/null
# The default network's gateway: 192.168.128.1 unless that subnet was in use on this host.
GW=$("$VMNET" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([n for n in d["networks"] if n["name"] == "default"][0]["gateway"])' 2>/dev/null) || GW=192.168.128.1
"$VMNET" attach --netns "$NS_D" --ip "${GW%.*}.254/24" >/dev/null
OURS_PID=$DAEMON_PID

# --- peer: dnsmasq as DHCP server and DNS forwarder on a veth --------------------
add_ns "$NS_S"
add_ns "$NS_C"
ip link add "$VETH_S" type veth peer name "$VETH_C"
ip link set "$VETH_S" netns "$NS_S"
ip link set "$VETH_C" netns "$NS_C"
ip -n "$NS_S" addr add 192.168.128.1/24 dev "$VETH_S"
ip -n "$NS_C" addr add 192.168.128.254/24 dev "$VETH_C"
ip -n "$NS_S" link set "$VETH_S" up
ip -n "$NS_C" link set "$VETH_C" up
ip netns exec "$NS_S" dnsmasq "${UPSTREAM_ARGS[@]}" --pid-file="$WORK/up-s.pid" --log-facility="$WORK/upstream-s.log" &
PIDS+=("$!")
# Same pool as ours (192.168.128.2-254), same lease time, leases in a file;
# no ICMP probe before an offer (ours has none: it is the only server on its link).
ip netns exec "$NS_S" dnsmasq -C /dev/null -k --user=root --interface="$VETH_S" --except-interface=lo \
	--bind-interfaces --dhcp-range=192.168.128.2,192.168.128.254,255.255.255.0,86400 --dhcp-authoritative \
	--dhcp-leasefile="$WORK/dnsmasq.leases" --dhcp-lease-max=4096 --no-ping \
	--no-resolv --no-hosts --server="127.0.0.1#$UPORT" \
	--pid-file="$WORK/peer.pid" --log-facility="$WORK/dnsmasq.log" &
PEER_PID=$!
PIDS+=("$PEER_PID")

# Ready: the upstream answers on both sides.
ready=""
for _ in $(seq 50); do
	if "$DNSB" -s "127.0.0.1#$UPORT" -n 1 -N 0 -t 100 >/dev/null 2>&1 &&
		ip netns exec "$NS_C" "$DNSB" -s 192.168.128.1 -n 1 -N 0 -t 100 >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
[ -n "$ready" ] || { echo "gateway.sh: dnsmasq did not come up"; cat "$WORK"/*.log; exit 1; }

# --- environment -------------------------------------------------------------------
{
	echo "date: $(date -Is)"
	echo "command: N=$N WINDOW=$WINDOW LAT_N=$LAT_N LIMITED_N=$LIMITED_N DNS_N=$DNS_N DNS_RATE_N=$DNS_RATE_N DNS_WINDOW=$DNS_WINDOW REPS=$REPS $0"
	echo "kernel: $(uname -r)"
	echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files"
	echo "cc: $(clang --version | head -1)"
	echo "buildtype: $(meson introspect --buildoptions "$BUILD" 2>/dev/null | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"][0])' 2>/dev/null || echo '?')"
	echo "dnsmasq: $(dnsmasq --version | head -1)"
	echo "vmnetd: $VMNETD --dns-upstream 127.0.0.1#$UPORT ${VMNETD_ARGS[*]} ${DHCP_UNLIMITED:-(no --dhcp-rate option: default flood limit)}; gateway $GW"
	echo "state and lease files: $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }'))"
} >"$OUT/gateway-env.txt"

# --- runs ---------------------------------------------------------------------------
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
rep=0

# run PATH TEST PID NS PROGRAM ARGS...: one bench run in namespace NS ("" = this
# one). Appends a raw line with the CPU time of server PID over the run
# (cpu_ms), prints a summary.
run() {
	local path=$1 test=$2 pid=$3 ns=$4 line rc=0 c0 c1
	local -a in=()
	shift 4
	[ -z "$ns" ] || in=(ip netns exec "$ns")
	c0=$(cpu_ticks "$pid")
	line=$(timeout -k 2 $((RUN_LIMIT + 15)) "${in[@]}" "$@" 2>>"$LOG") || rc=$?
	c1=$(cpu_ticks "$pid")
	echo "rep=$rep path=$path test=$test rc=$rc $line" >>"$LOG"
	if [ -z "$line" ]; then
		log "  $path $test: FAILED (status $rc, see $LOG)"
		return 0
	fi
	printf 'rep=%s\tpath=%s\ttest=%s\tcpu_ms=%s\t%s\n' "$rep" "$path" "$test" \
		"$(((c1 - c0) * 1000 / HZ))" "$(echo "${line#RESULT }" | tr ' ' '\t')" >>"$RAW"
	echo "$line" | awk -v p="$path" -v t="$test" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["impl"] == "dhcp")
			printf "  %-8s %-10s %5d/%-5d bound, %7.1f leases/s, median %7.3f ms, p99 %8.3f ms, %d failed, %d resent\n",
				p, t, v["bound"], v["clients"], v["leases_per_s"], v["lat_med_ms"], v["lat_p99_ms"], v["failed"], v["resent"]
		else
			printf "  %-8s %-10s %5d/%-5d answered, median %7.3f ms, p99 %7.3f ms; %d/%d at window %d: %.0f qps\n",
				p, t, v["answered"], v["queries"], v["lat_med_ms"], v["lat_p99_ms"], v["rate_answered"], v["rate_queries"],
				v["rate_window"], v["qps"] }' | tee -a "$LOG"
}

dhcp_run() { # dhcp_run PATH TEST PID NS IF CLIENTS WINDOW [bench_dhcp args]
	local path=$1 test=$2 pid=$3 ns=$4 ifn=$5 n=$6 w=$7
	shift 7
	run "$path" "$test" "$pid" "$ns" "$DHCPB" -i "$ifn" -n "$n" -c "$w" -t "$DHCP_TIMEOUT_MS" -T "$RUN_LIMIT" "$@"
}
dns_run() { # dns_run PATH PID NS SERVER
	run "$1" dns "$2" "$3" "$DNSB" -s "$4" -u -e 10.9.9.9 -n "$DNS_N" -N "$DNS_RATE_N" -c "$DNS_WINDOW" -T "$RUN_LIMIT"
}
side_dhcp() { # side_dhcp SIDE TEST CLIENTS WINDOW
	if [ "$1" = ours ]; then
		dhcp_run ours "$2" "$OURS_PID" "$NS_O" eth0 "$3" "$4"
	else
		dhcp_run dnsmasq "$2" "$PEER_PID" "$NS_C" "$VETH_C" "$3" "$4"
	fi
}

# Is the proxy there? A few queries through it (the first also resolves the gateway's MAC).
PROXY=1
if ! ip netns exec "$NS_D" "$DNSB" -s "$GW" -e 10.9.9.9 -n 3 -N 0 -t 500 >>"$LOG" 2>&1; then
	PROXY=""
	log "vmnetd's DNS proxy: not available (no valid answer from $GW:53); DNS runs direct and via dnsmasq only"
fi

log "gateway bench: N=$N WINDOW=$WINDOW LAT_N=$LAT_N LIMITED_N=$LIMITED_N REPS=$REPS, results in $OUT"
# Warm-up (not recorded): every pool address used once. vmnetd remembers a
# released lease for its client (and writes it to its lease file), dnsmasq
# forgets it; from here on both stay in that steady state for every rep.
ip netns exec "$NS_O" "$DHCPB" -i eth0 -n 300 -c "$WINDOW" -T "$RUN_LIMIT" >/dev/null 2>>"$LOG" || true
ip netns exec "$NS_C" "$DHCPB" -i "$VETH_C" -n 300 -c "$WINDOW" -T "$RUN_LIMIT" >/dev/null 2>>"$LOG" || true
for rep in $(seq "$REPS"); do
	# Alternate which side goes first, so slow drift does not favour one.
	if [ $((rep % 2)) -eq 1 ]; then order="ours dnsmasq"; else order="dnsmasq ours"; fi
	for side in $order; do side_dhcp "$side" dhcp_lat "$LAT_N" 1; done
	for side in $order; do side_dhcp "$side" dhcp_tput "$N" "$WINDOW"; done
	for side in $order; do
		if [ "$side" = ours ]; then
			dns_run direct "$UP_PID" "" "127.0.0.1#$UPORT"
			[ -z "$PROXY" ] || dns_run proxy "$OURS_PID" "$NS_D" "$GW"
		else
			dns_run dnsmasq "$PEER_PID" "$NS_C" 192.168.128.1
		fi
	done
done

# Ours again under vmnetd's default DHCP flood limit, on a fresh daemon (the
# first one is stopped: both would want the same subnet). Clients retry for
# longer: a limited server drops what exceeds its budget, and clients retry.
LIMITED_RAN=""
if [ "$LIMITED_N" -gt 0 ] && [ -n "$DHCP_UNLIMITED" ]; then
	stop_vmnetd
	start_vmnetd "$WORK/limited"
	NS_L="${TAG}l"
	add_ns "$NS_L"
	"$VMNET" attach --netns "$NS_L" >/dev/null
	rep=1
	dhcp_run ours dhcp_limited "$DAEMON_PID" "$NS_L" eth0 "$LIMITED_N" "$WINDOW" -r 40
	LIMITED_RAN=1
fi
cat "$WORK"/ours/vmnetd.log "$WORK"/limited/vmnetd.log 2>/dev/null | grep -v 'info: dhcp: .* leased to' >>"$LOG" || true

# --- tables: medians over reps ---------------------------------------------------------
field() { # field PATH TEST KEY -> values, one per line
	awk -F'\t' -v p="$1" -v t="$2" -v k="$3" '{
		delete v; for (n = 1; n <= NF; n++) { split($n, kv, "="); v[kv[1]] = kv[2] }
		if (v["path"] == p && v["test"] == t) print v[k] }' "$RAW"
}
median() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { field "$@" | median; }
sum() { field "$@" | awk '{ s += $1 } END { print NR ? s : "nan" }'; }

# row LABEL OURS PEER BETTER [FMT]: a table row with the ratio ours/peer.
row() {
	awk -v l="$1" -v o="$2" -v p="$3" -v b="$4" -v f="${5:-%.3f}" 'BEGIN {
		os = (o == "nan" || o == "") ? "n/a" : sprintf(f, o)
		ps = (p == "nan" || p == "") ? "n/a" : sprintf(f, p)
		r = (os == "n/a" || ps == "n/a" || p + 0 == 0) ? "n/a" : sprintf(o / p < 0.1 ? "%.3f" : "%.2f", o / p)
		printf "| %s | %s | %s | %s | %s |\n", l, os, ps, r, b }'
}
per_lease_us() { # CPU µs per bound client of PATH TEST (medians)
	awk -v c="$(med "$1" "$2" cpu_ms)" -v b="$(med "$1" "$2" bound)" 'BEGIN { print (c == "nan" || b + 0 == 0) ? "nan" : c * 1000 / b }'
}
per_query_us() {
	awk -v c="$(med "$1" dns cpu_ms)" -v q="$(med "$1" dns answered)" -v r="$(med "$1" dns rate_answered)" \
		'BEGIN { print (c == "nan" || q + r == 0) ? "nan" : c * 1000 / (q + r) }'
}

if [ -n "$PROXY" ]; then P=proxy; else P=none; fi
unl=${DHCP_UNLIMITED:-none: default limit}
{
	echo "## DHCPv4: vmnetd's gateway vs dnsmasq"
	echo
	echo "Ratio = ours / dnsmasq. Latency: lower is better; leases/s: higher is better."
	echo "Both serve the addresses .2-.254 of a /24 (253), lease time 86400 s, leases persisted to a file"
	echo "on $(df -PT "$WORK" | awk 'NR == 2 { print $2 }') (both fsync it per new lease and per RELEASE; vmnetd also fsyncs the directory);"
	echo "every client RELEASEs after its ACK. vmnetd runs with \`$unl\` unless the row says otherwise."
	echo
	echo "| metric | ours (vmnetd) | dnsmasq | ours/dnsmasq | better |"
	echo "|---|---:|---:|---:|---|"
	row "DISCOVER→ACK median, one client at a time, $LAT_N clients (ms)" "$(med ours dhcp_lat lat_med_ms)" "$(med dnsmasq dhcp_lat lat_med_ms)" lower
	row "DISCOVER→ACK p99, one client at a time (ms)" "$(med ours dhcp_lat lat_p99_ms)" "$(med dnsmasq dhcp_lat lat_p99_ms)" lower
	row "lease throughput, $N clients, $WINDOW in flight (leases/s)" "$(med ours dhcp_tput leases_per_s)" "$(med dnsmasq dhcp_tput leases_per_s)" higher %.1f
	row "DISCOVER→ACK median in the throughput run (ms)" "$(med ours dhcp_tput lat_med_ms)" "$(med dnsmasq dhcp_tput lat_med_ms)" lower
	row "DISCOVER→ACK p99 in the throughput run (ms)" "$(med ours dhcp_tput lat_p99_ms)" "$(med dnsmasq dhcp_tput lat_p99_ms)" lower
	row "server CPU per lease in the throughput run (µs)" "$(per_lease_us ours dhcp_tput)" "$(per_lease_us dnsmasq dhcp_tput)" lower %.0f
	if [ -n "$LIMITED_RAN" ]; then
		row "lease throughput under vmnetd's default flood limit, $LIMITED_N clients, $WINDOW in flight (leases/s; dnsmasq: no limit)" \
			"$(med ours dhcp_limited leases_per_s)" "$(med dnsmasq dhcp_tput leases_per_s)" higher %.1f
	fi
	row "failed clients, all DHCP runs (sum)" "$(sum ours dhcp_lat failed | awk -v t="$(sum ours dhcp_tput failed)" '{ print $1 + t }')" \
		"$(sum dnsmasq dhcp_lat failed | awk -v t="$(sum dnsmasq dhcp_tput failed)" '{ print $1 + t }')" "-" %.0f
	row "retransmissions, all DHCP runs (sum)" "$(sum ours dhcp_lat resent | awk -v t="$(sum ours dhcp_tput resent)" '{ print $1 + t }')" \
		"$(sum dnsmasq dhcp_lat resent | awk -v t="$(sum dnsmasq dhcp_tput resent)" '{ print $1 + t }')" "-" %.0f
	if [ -n "$LIMITED_RAN" ]; then
		echo
		echo "Default-limited run: $(med ours dhcp_limited bound)/$LIMITED_N bound, $(med ours dhcp_limited failed) failed, $(med ours dhcp_limited resent) retransmissions."
	elif [ -z "$DHCP_UNLIMITED" ]; then
		echo
		echo "**This vmnetd has no \`--dhcp-rate\` option: every ours figure above is under its default DHCP flood limit.**"
	fi
	echo
	echo "## DNS: through vmnetd's proxy vs straight to the same upstream"
	echo
	echo "Upstream: dnsmasq on 127.0.0.1:$UPORT answering *.bench.test locally. Every query asks a name of its own"
	echo "(no cache hits). Latency: $DNS_N queries one at a time; rate: $DNS_RATE_N queries, $DNS_WINDOW outstanding."
	echo "\"direct\" runs in the host namespace over loopback. \"dnsmasq fwd\" is dnsmasq forwarding over a veth to its"
	echo "own copy of the upstream on its loopback: the same job as our proxy. Ratios are ours/other: latency lower is better, qps higher."
	echo
	if [ -z "$PROXY" ]; then
		echo "**vmnetd's DNS proxy: not available** (no valid answer from $GW:53 in this build)."
		echo
	fi
	echo "| metric | ours: proxy | direct | proxy/direct | dnsmasq fwd | proxy/dnsmasq fwd | better |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	dns_row() { # dns_row LABEL KEY FMT BETTER
		local o d f
		o=$(med $P dns "$2")
		d=$(med direct dns "$2")
		f=$(med dnsmasq dns "$2")
		awk -v l="$1" -v o="$o" -v d="$d" -v f="$f" -v fmt="$3" -v b="$4" 'BEGIN {
			os = (o == "nan") ? "n/a" : sprintf(fmt, o); ds = (d == "nan") ? "n/a" : sprintf(fmt, d)
			fs = (f == "nan") ? "n/a" : sprintf(fmt, f)
			r1 = (os == "n/a" || ds == "n/a" || d + 0 == 0) ? "n/a" : sprintf("%.2f", o / d)
			r2 = (os == "n/a" || fs == "n/a" || f + 0 == 0) ? "n/a" : sprintf("%.2f", o / f)
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", l, os, ds, r1, fs, r2, b }'
	}
	dns_row "query latency median (ms)" lat_med_ms %.3f lower
	dns_row "query latency p99 (ms)" lat_p99_ms %.3f lower
	dns_row "queries/s, $DNS_WINDOW outstanding" qps %.0f higher
	dns_row "lost queries, latency pass" lost %.0f "-"
	dns_row "lost queries, rate pass" rate_lost %.0f "-"
	echo
	echo "Server CPU per query (µs): proxy (vmnetd) $(per_query_us $P | awk '{ print ($1 == "nan") ? "n/a" : sprintf("%.1f", $1) }'),"\
		"upstream when queried directly $(per_query_us direct | awk '{ printf "%.1f", $1 }'),"\
		"dnsmasq forwarder $(per_query_us dnsmasq | awk '{ printf "%.1f", $1 }') (CPU tick resolution: $((1000 / HZ)) ms per run)."
	echo
	echo "## Environment"
	echo
	echo '```'
	cat "$OUT/gateway-env.txt"
	echo '```'
} >"$MD"

echo
cat "$MD"
