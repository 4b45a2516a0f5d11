#!/bin/bash
# Malformed and abusive control traffic: every bad message closes (or is refused on)
# that one connection only, descriptors sent along are never kept, and afterwards the
# daemon is alive, back to its descriptor baseline and serves a normal client.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rlib.sh"

start_daemon
api_check "baseline: a normal client exchanges frames" exchange 16
sleep 0.3
FD0=$(fd_count "$DAEMON_PID")
echo "daemon pid $DAEMON_PID, $FD0 descriptors at baseline"

raw_check "garbage bytes (+2 fds): connection closed" garbage
raw_check "truncated header: connection closed" short
raw_check "wrong magic: connection closed" magic
raw_check "length field longer than the packet: connection closed" len-long
raw_check "length field shorter than the packet: connection closed" len-short
raw_check "length field 0xffffffff: connection closed" len-huge
raw_check "payloads that do not decode: connection closed" undecodable
raw_check "payloads that decode to non-dictionaries: connection closed" nondict
raw_check "unknown message types: connection closed" unknown-type
raw_check "other protocol versions: VMNET_FAILURE naming the version, then EOF" version
raw_check "CTL_START with wrong-typed keys: INVALID_ARGUMENT, connection usable" start-badtype
raw_check "second CTL_START on a connection: INVALID_ARGUMENT" start-twice
raw_check "CTL_STOP without an interface: INVALID_ARGUMENT" stop-noif
raw_check "CTL_ATTACH_TAP without fd / with pipe / with 4 and 8 fds / bad names" attach
raw_check "HELLO with 32 descriptors and with 2 stray descriptors" many-fds
raw_check "64 KiB message answered, larger ones close the connection" big
raw_check "CTL_DETACH of ring ports and unknown names is refused" detach
check "daemon alive after the malformed messages" daemon_alive

raw_check "200 connections opened and dropped (+64 at once)" storm
check "daemon alive after the connection storm" daemon_alive

bg "$WORK/slow.out" "$RB_RAW" slow-reader 4
SLOW=$BG_LAST
ready_check "slow reader (3000 unread replies) and 100 idle connections are set up" "$WORK/slow.out" 15
check "another client is served while they hold on" responsive
api_check "...and can exchange frames" exchange 16
reap "$SLOW" 10
expect_rc "the slow reader finished normally" $? 0 "$WORK/slow.out"
check "daemon alive after the slow reader left" daemon_alive

api_check "a normal client still exchanges frames" exchange 32
# Connections close asynchronously: give the daemon a moment, bounded.
for _ in $(seq 40); do
	[ "$(fd_count "$DAEMON_PID")" -le $((FD0 + 2)) ] && break
	sleep 0.05
done
FD1=$(fd_count "$DAEMON_PID")
check "descriptor count back to baseline ($FD0 -> $FD1, +-2)" test "$FD1" -le $((FD0 + 2)) -a "$FD1" -ge $((FD0 - 2))
check "no ring mapping left in the daemon" test "$(ring_maps "$DAEMON_PID")" -eq 0
check "status shows no leftover port" status_py "len(ports) == 0"
check "daemon still alive" daemon_alive
if [ "$FAILS" -ne 0 ]; then echo "--- vmnetd log (tail) ---"; tail -n 40 "$WORK/vmnetd.log"; fi
finish
