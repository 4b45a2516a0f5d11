#!/bin/bash
# A client that abuses its shared-memory rings can lose its own frames or be
# disconnected — nothing more: the daemon stays alive and responsive, other
# interfaces keep working, and a fresh API client can start and exchange frames.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rlib.sh"

# after WHAT — the daemon is alive, answers, and a new API client exchanges frames.
after() {
	check "$1: daemon alive" daemon_alive
	check "$1: daemon answers status" responsive
	api_check "$1: a fresh API client starts and exchanges frames" exchange 32
}

# check_responsive WHAT — check that the daemon answers status; remember the answer in WEDGED.
check_responsive() {
	WEDGED=0
	responsive || WEDGED=1
	check "$1" test "$WEDGED" -eq 0
}

# restart_if_hung WHAT TAG — a wedged daemon cannot be tested further: note it, start a new one.
restart_if_hung() {
	if [ "$WEDGED" -ne 0 ]; then
		echo "note: the daemon is wedged after $1 (stack of its thread below); restarting it"
		cat "/proc/$DAEMON_PID/stack" 2>/dev/null | head -8 | sed 's/^/    | /'
		kill -9 "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		mv "$WORK/vmnetd.log" "$WORK/vmnetd-hung-$2.log"
		start_daemon
	fi
}

start_daemon
api_check "baseline: an API client exchanges frames" exchange 16

# (a) garbage record lengths: dropped and counted, the client keeps its connection.
bg "$WORK/a.out" "$RB_RAW" ring-garbage 20
A_PID=$BG_LAST
ready_check "(a) hostile client started its interface by hand" "$WORK/a.out" 5
PORT=$(awk '/^PORT/ { print $2 }' "$WORK/a.out")
echo "hostile port id: ${PORT:-?}"
errs_ok() { status_py "any(p['id'] == ${PORT:-0} and p['rx_errors'] >= 4 for p in ports)"; }
for _ in $(seq 40); do errs_ok && break; sleep 0.05; done
check "(a) lengths 0, 13, 65535, 0xffffffff are counted as rx_errors of that port" errs_ok
check "(a) no frame of the garbage reached the network (rx_frames 0)" \
	status_py "any(p['id'] == ${PORT:-0} and p['rx_frames'] == 0 for p in ports)"
api_check "(a) another pair of interfaces works while the hostile one is connected" exchange 32
stop_bg "$A_PID"
after "(a)"

# (b) an impossible TX producer index: disconnected.
raw_check "(b) TX prod = cons + 100000: the daemon disconnects that client" ring-prod
after "(b)"

# (c) a corrupted RX consumer index, found by the daemon's producer side while a peer floods.
bg "$WORK/flood_c.out" "$RB_API" flood 6
F_PID=$BG_LAST
ready_check "(c) flooding peer started" "$WORK/flood_c.out" 5
raw_check "(c) RX cons corrupted during a broadcast flood: the daemon disconnects that client" ring-rxcons 4
alive_check "(c) the flooding peer is still served" "$F_PID" "$WORK/flood_c.out"
stop_bg "$F_PID"
after "(c)"

# (d) random bytes over the whole mapping while a peer floods.
bg "$WORK/flood_d.out" "$RB_API" flood 6
F_PID=$BG_LAST
ready_check "(d) flooding peer started" "$WORK/flood_d.out" 5
raw_check "(d) 2 s of random bytes over header, indices and slots" ring-scribble 2
alive_check "(d) the flooding peer is still served" "$F_PID" "$WORK/flood_d.out"
stop_bg "$F_PID"
after "(d)"

# (e) the memfd cannot change size under the daemon's mapping (that would be SIGBUS).
raw_check "(e) the ring memfd is sealed against shrinking and growing" ring-seal
after "(e)"

# (f) the doorbell eventfds are shared open file descriptions: a client can clear
# O_NONBLOCK on them. With the RX doorbell saturated, a blocking write() in the
# daemon would wedge it for good.
bg "$WORK/f.out" "$RB_RAW" ring-evblock-rx 6
H_PID=$BG_LAST
ready_check "(f) hostile client cleared O_NONBLOCK on its RX doorbell and saturated it" "$WORK/f.out" 5
bg "$WORK/flood_f.out" "$RB_API" flood 3
F_PID=$BG_LAST
wait_line "$WORK/flood_f.out" READY 5
sleep 0.5
check_responsive "(f) daemon still answers status while a peer floods the hostile client"
stop_bg "$F_PID"
stop_bg "$H_PID"
check "(f) daemon alive" daemon_alive
restart_if_hung "(f)" f
api_check "(f) a fresh API client starts and exchanges frames" exchange 32

# (g) the same on the TX doorbell: O_NONBLOCK cleared, more than one budget of
# frames published with a single kick; the daemon comes back for the rest from
# its pending list and reads the (empty) doorbell again.
bg "$WORK/g.out" "$RB_RAW" ring-evblock-tx 6
H_PID=$BG_LAST
ready_check "(g) hostile client cleared O_NONBLOCK on its TX doorbell, published 1000 frames, kicked once" \
	"$WORK/g.out" 5
sleep 0.5
check_responsive "(g) daemon still answers status"
stop_bg "$H_PID"
check "(g) daemon alive" daemon_alive
restart_if_hung "(g)" g
api_check "(g) a fresh API client starts and exchanges frames" exchange 32

check "no ring mapping left in the daemon" test "$(ring_maps "$DAEMON_PID")" -eq 0
check "status shows no leftover port" status_py "len(ports) == 0"
if [ "$FAILS" -ne 0 ]; then echo "--- vmnetd log (tail) ---"; tail -n 30 "$WORK/vmnetd.log"; fi
finish
