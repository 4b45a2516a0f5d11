#!/bin/bash
# Clients die at random points — during start, in the middle of packet I/O,
# during stop — with SIGKILL, while two namespaces ping each other through the
# same network. Afterwards nothing a dead client had is left in the daemon:
# no port, no connection, no descriptor, no ring mapping, no unbounded memory.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rlib.sh"

ROUNDS=${CHAOS_ROUNDS:-10}   # x PER_ROUND clients, one round every ~2 s
PER_ROUND=4

start_daemon
A=$(add_netns a); B=$(add_netns b)
check "attach namespace a" "$VMNET" attach --netns "$A" --ip 192.168.128.10/24
check "attach namespace b" "$VMNET" attach --netns "$B" --ip 192.168.128.11/24
check "a pings b before the chaos" ip netns exec "$A" ping -c 2 -i 0.2 -W 2 -q 192.168.128.11

# Warm up allocator and caches with a few clients that exit normally, then take the baseline.
api_check "warm-up: an API client exchanges frames" exchange 64
api_check "warm-up: an API client starts and stops an interface" start 1
sleep 0.3
FD0=$(fd_count "$DAEMON_PID"); RSS0=$(rss_kb "$DAEMON_PID")
echo "baseline: $FD0 descriptors, VmRSS $RSS0 kB"

# Both directions keep pinging for the whole run (bounded by -c and -w).
DURATION=$((ROUNDS * 2 + 2))
bg "$WORK/ping_ab" ip netns exec "$A" ping -i 0.2 -c $((DURATION * 5)) -w $((DURATION + 5)) 192.168.128.11
PING_AB=$BG_LAST
bg "$WORK/ping_ba" ip netns exec "$B" ping -i 0.2 -c $((DURATION * 5)) -w $((DURATION + 5)) 192.168.128.10
PING_BA=$BG_LAST

killed=0
crashed=()   # output files of chaos clients that ended other than by our SIGKILL
for ((r = 0; r < ROUNDS; r++)); do
	pids=()
	outs=()
	for ((i = 0; i < PER_ROUND; i++)); do
		outs+=("$WORK/chaos.$r.$i")
		"$RB_API" chaos >"${outs[i]}" 2>&1 &
		pids+=($!)
		BG_PIDS+=($!)
	done
	# Each one gets SIGKILL after its own random 0-300 ms (0 ms: in the middle of start).
	for p in "${pids[@]}"; do
		(sleep "0.$(printf '%03d' $((RANDOM % 300)))"; kill -9 "$p" 2>/dev/null) &
	done
	# chaos never exits by itself: any status but 137 (SIGKILL) is a crash or a sanitizer report.
	for ((i = 0; i < PER_ROUND; i++)); do
		wait "${pids[i]}" 2>/dev/null
		[ $? -eq 137 ] || crashed+=("${outs[i]}")
	done
	killed=$((killed + ${#pids[@]}))
	sleep "1.$(printf '%03d' $((RANDOM % 700)))"
done
echo "$killed clients killed"
check "every chaos client ran until it was killed (${#crashed[@]} ended otherwise)" test "${#crashed[@]}" -eq 0
for f in "${crashed[@]:0:2}"; do echo "--- $f"; show_output "$f"; done
check "daemon alive after $killed killed clients" daemon_alive

# The daemon learns of each death from its control socket: wait (bounded) for the cleanup.
only_ns_ports="len(ports) == 2 and sorted(p['name'] for p in ports) == sorted(['$A', '$B']) and d['connections'] <= 1"
for _ in $(seq 100); do status_py "$only_ns_ports" && break; sleep 0.05; done
check "status shows exactly the two namespace ports (no leaked ports)" status_py "$only_ns_ports"
"$VMNET" status
reap "$PING_AB" $((DURATION + 8)); reap "$PING_BA" 5
loss() { sed -nE 's/.* ([0-9.]+)% packet loss.*/\1/p' "$1"; }
echo "background pings: a->b $(loss "$WORK/ping_ab")% loss, b->a $(loss "$WORK/ping_ba")% loss"
check "a kept reaching b during the chaos (<= 10% loss)" awk -v l="$(loss "$WORK/ping_ab")" 'BEGIN { exit !(l != "" && l <= 10) }'
check "b kept reaching a during the chaos (<= 10% loss)" awk -v l="$(loss "$WORK/ping_ba")" 'BEGIN { exit !(l != "" && l <= 10) }'

for _ in $(seq 40); do [ "$(fd_count "$DAEMON_PID")" -le $((FD0 + 2)) ] && break; sleep 0.05; done
FD1=$(fd_count "$DAEMON_PID"); RSS1=$(rss_kb "$DAEMON_PID")
echo "after: $FD1 descriptors, VmRSS $RSS1 kB"
check "descriptor count back to baseline ($FD0 -> $FD1, +-2)" test "$FD1" -le $((FD0 + 2)) -a "$FD1" -ge $((FD0 - 2))
check "no ring mapping left in the daemon" test "$(ring_maps "$DAEMON_PID")" -eq 0
# A leaked interface would keep its ~3 MiB of rings mapped: 40 of them would be 120 MiB.
# Under ASan the quarantine keeps up to 256 MiB of freed memory resident: more slack there.
SLACK=16384
[ "${SANITIZE:-none}" != none ] && SLACK=$((320 * 1024))
check "VmRSS did not grow unboundedly ($RSS0 -> $RSS1 kB, slack $((SLACK / 1024)) MiB)" test "$RSS1" -le $((RSS0 + SLACK))
check "a pings b after the chaos" ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -q 192.168.128.11
check "b pings a after the chaos" ip netns exec "$B" ping -c 3 -i 0.2 -W 2 -q 192.168.128.10
api_check "a fresh API client still exchanges frames" exchange 32
check "daemon still alive" daemon_alive
if [ "$FAILS" -ne 0 ]; then echo "--- vmnetd log (tail) ---"; tail -n 30 "$WORK/vmnetd.log"; fi
finish
