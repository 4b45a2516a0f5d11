#!/bin/bash
# The daemon dies under a client (SIGKILL): packet I/O fails within 1 s with an
# error, nothing hangs or crashes, no event callback follows, and stopping the
# interface still completes its handler.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rlib.sh"

start_daemon
api_check "baseline: an API client exchanges frames" exchange 16

# rb_api death starts two interfaces (A with an event callback, B sending to A),
# SIGKILLs the daemon itself (so the moment of death is known exactly) and reports.
timeout 20 "$RB_API" death "$DAEMON_PID" >"$WORK/death.out" 2>"$WORK/death.err"
RC=$?
import_checks "$WORK/death.out"
check "the client exits normally (no crash, no hang, no leak; status $RC)" test "$RC" -eq 0
if [ "$RC" -ne 0 ]; then echo "--- rb_api death: stderr"; show_output "$WORK/death.err"; fi
check "the daemon is really gone" wait_gone "$DAEMON_PID" 2
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""   # killed on purpose: no clean-stop check for it

# The same for the command line client: a dead daemon is a clean, fast error.
T0=$(date +%s%N)
check_not "vmnet status against the dead daemon fails" timeout 5 "$VMNET" status
check "...within 2 s" test $((($(date +%s%N) - T0) / 1000000)) -lt 2000

# A restarted daemon serves again on the same socket.
start_daemon
api_check "a restarted daemon serves a new client" exchange 16

# Death while a start is in flight: the daemon is stopped (SIGSTOP) so the CTL_START
# waits in its queue, then killed; the start handler must report an error at once.
kill -STOP "$DAEMON_PID"
bg "$WORK/inflight.out" "$RB_API" start
S_PID=$BG_LAST
sleep 0.5
check "the start waits while the daemon is stopped" pid_alive "$S_PID"
kill -9 "$DAEMON_PID"; kill -CONT "$DAEMON_PID" 2>/dev/null
wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
check "...and fails within 2 s once the daemon is killed" wait_gone "$S_PID" 2
reap "$S_PID" 1
RC=$?
check "...with an error status" grep -qE "^status=10(0[1-9]|10)" "$WORK/inflight.out"
expect_rc "...and the client exits 1 (a clean failure)" "$RC" 1 "$WORK/inflight.out"
cat "$WORK/inflight.out"
finish
