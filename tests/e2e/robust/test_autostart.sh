#!/bin/bash
# Finding and starting the daemon: VMNET_SOCKET + VMNET_AUTOSTART=1 start exactly
# one detached vmnetd even when clients race; without VMNET_AUTOSTART a missing
# daemon is a quick, clean failure; an idle daemon exits by itself unless a
# persistent attachment holds it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rlib.sh"

# PIDs of the vmnetd processes serving socket $1 (matched on their command lines; lookup only).
daemons_for() {
	pgrep -f -- "vmnetd .*--socket $1( |\$)"
}
# Autostarted daemons are detached (not our children): kill whatever serves a socket under $WORK.
kill_auto() {
	local p
	for p in $(daemons_for "$WORK/auto/vmnetd.sock") $(daemons_for "$WORK/race/vmnetd.sock"); do
		kill "$p" 2>/dev/null
	done
}
EXTRA_CLEANUP+=(kill_auto)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2" 2>/dev/null; }

# Autostarted daemons keep their state here (lib/client.c passes it on as --state-dir).
export VMNET_STATE_DIR="$WORK/auto-state"

# ---- 1. autostart by the first client ----
AUTO="$WORK/auto/vmnetd.sock"
VMNET_SOCKET=$AUTO VMNET_AUTOSTART=1 timeout 15 "$VMNET" status --json >"$WORK/auto.json" 2>"$WORK/auto.err"
check "VMNET_AUTOSTART=1: vmnet status starts a daemon at a fresh VMNET_SOCKET" test -S "$AUTO"
APID=$(json_field "$WORK/auto.json" pid)
echo "autostarted daemon pid: ${APID:-?}"
check "the pid in status --json is a running vmnetd serving that socket" \
	test -n "$APID" -a "$(daemons_for "$AUTO")" = "${APID:-x}"
check "the autostarted daemon is detached (parent is not this shell)" \
	test "$(awk '/^PPid:/ { print $2 }' "/proc/${APID:-0}/status" 2>/dev/null)" != "$$"
check "the autostarted daemon runs in its own session" \
	test "$(ps -o sid= -p "${APID:-0}" 2>/dev/null | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')"
check "the autostarted daemon has an idle timeout" grep -q -- "--idle-timeout" "/proc/${APID:-0}/cmdline"
check "its log goes next to the socket" test -s "$WORK/auto/vmnetd.log"
check "it keeps its state in VMNET_STATE_DIR ($(json_field "$WORK/auto.json" state_dir))" \
	test "$(json_field "$WORK/auto.json" state_dir)" = "$VMNET_STATE_DIR"
# lib/client.c passes --system only for the system socket; any other socket is a
# private (0700) directory, i.e. a per-user daemon — which must not use the system state.
check "an autostarted daemon for a private VMNET_SOCKET is per-user (system=$(json_field "$WORK/auto.json" system), state $(json_field "$WORK/auto.json" state_dir))" \
	test "$(json_field "$WORK/auto.json" system)" = False
check "a second client finds the running daemon (no new one)" \
	env VMNET_SOCKET="$AUTO" VMNET_AUTOSTART=1 timeout 10 "$VMNET" status
check "still exactly one daemon for the socket" test "$(daemons_for "$AUTO" | wc -l)" -eq 1
kill_auto

# ---- 2. clients racing to autostart ----
RACE="$WORK/race/vmnetd.sock"
racers=()
for i in 1 2 3 4; do
	VMNET_SOCKET=$RACE VMNET_AUTOSTART=1 timeout 15 "$VMNET" status >"$WORK/race.$i" 2>&1 &
	racers+=($!)
done
ok=0
for p in "${racers[@]}"; do wait "$p" && ok=$((ok + 1)); done
check "4 clients racing to autostart all succeed ($ok/4)" test "$ok" -eq 4
sleep 0.5 # losers of the lock exit at once; let them go
check "the race leaves exactly one daemon ($(daemons_for "$RACE" | wc -l))" test "$(daemons_for "$RACE" | wc -l)" -eq 1
kill_auto

# ---- 3. no daemon and no autostart: a quick, clean failure ----
NONE="$WORK/none/vmnetd.sock"
T0=$(date +%s%N)
VMNET_SOCKET=$NONE timeout 10 "$RB_API" start >"$WORK/none.out" 2>&1
RC=$?
MS=$(ms_since "$T0")
check "no daemon, VMNET_AUTOSTART unset: the API client fails ($(grep -o 'status=[0-9]*' "$WORK/none.out"), exit $RC)" \
	grep -qE "^status=10(0[1-9]|10)" "$WORK/none.out"
expect_rc "...and exits 1 (a clean failure)" "$RC" 1 "$WORK/none.out"
check "...within 2 s ($MS ms)" test "$MS" -lt 2000
T0=$(date +%s%N)
check_not "no daemon, VMNET_AUTOSTART=0: vmnet status fails" env VMNET_SOCKET="$NONE" VMNET_AUTOSTART=0 timeout 10 "$VMNET" status
MS=$(ms_since "$T0")
check "...within 2 s ($MS ms)" test "$MS" -lt 2000
check "...and nothing was started for that socket" test -z "$(daemons_for "$NONE")" -a ! -e "$NONE"
# A daemon binary that cannot run: autostart gives up with an error, bounded.
T0=$(date +%s%N)
check_not "VMNET_AUTOSTART=1 with VMNETD=/nonexistent fails" \
	env VMNET_SOCKET="$WORK/broken/vmnetd.sock" VMNET_AUTOSTART=1 VMNETD=/nonexistent/vmnetd timeout 20 "$VMNET" status
MS=$(ms_since "$T0")
check "...within 8 s ($MS ms)" test "$MS" -lt 8000

# ---- 4. the idle timeout ----
start_daemon --idle-timeout 2
bg "$WORK/hold.out" "$RB_API" start 4
H=$BG_LAST
ready_check "idle-timeout 2: a client holds an interface" "$WORK/hold.out" 5
sleep 3
check "idle-timeout 2: the daemon stays while the interface exists (3 s)" daemon_alive
reap "$H" 5
RC=$?
check "the client stopped its interface" grep -q "^status=1000" "$WORK/hold.out"
expect_rc "...and exited normally" "$RC" 0 "$WORK/hold.out"
T0=$(date +%s%N)
sleep 1.2
check "idle-timeout 2: not gone 1.2 s after the last client left" daemon_alive
check "idle-timeout 2: exits by itself afterwards" wait_gone "$DAEMON_PID" 6
MS=$(ms_since "$T0")
wait "$DAEMON_PID"; RC=$?
check "...cleanly, $MS ms after the last client left (exit status $RC)" test "$RC" -eq 0 -a "$MS" -ge 1900
check "...and removes its socket" test ! -e "$VMNET_SOCKET"
DAEMON_PID=""

# ---- 5. a persistent attachment keeps an idle daemon ----
start_daemon --idle-timeout 2
A=$(add_netns a)
check "attach a namespace persistently" "$VMNET" attach --netns "$A" --ip 192.168.128.10/24
sleep 4
check "idle-timeout 2: a persistent attachment keeps the daemon (4 s, no client connected)" daemon_alive
check "detach the namespace" "$VMNET" detach "$A"
check "idle-timeout 2: with the attachment gone the daemon exits by itself" wait_gone "$DAEMON_PID" 6
wait "$DAEMON_PID"; RC=$?
check "...cleanly (exit status $RC)" test "$RC" -eq 0
DAEMON_PID=""
if [ "$FAILS" -ne 0 ]; then for f in "$WORK"/auto.err "$WORK"/auto/vmnetd.log "$WORK"/race/vmnetd.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 10 "$f"; }; done; fi
finish
