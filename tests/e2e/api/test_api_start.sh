#!/bin/bash
# API lifecycle (api_start): start/interface_param, interface_desc validation,
# interface id -> MAC (also across a daemon restart with the same state
# directory), stop semantics, stop from atexit, the shared interface list.
#   usage: test_api_start.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}
run() { timeout -k 5 120 "$@"; } # a hung program is a failure, not a hung suite

start_daemon
check "api_start all" run "$BIN/api_start" all
check "api_start idmac-save (before the daemon restart)" run "$BIN/api_start" idmac-save "$WORK/idmac"
check "daemon alive before the restart" daemon_alive

# Restart the daemon on the same state directory: the interface id must keep its MAC.
OLD_PID=$DAEMON_PID
stop_daemon
check_not "the first daemon is gone" kill -0 "$OLD_PID"
rm -f "$VMNET_SOCKET"
start_daemon
check "api_start idmac-check (after the daemon restart)" run "$BIN/api_start" idmac-check "$WORK/idmac"

# Once more with a daemon that dies without cleaning up (kill -9): the MAC was persisted when first handed out.
check "api_start idmac-save (before kill -9)" run "$BIN/api_start" idmac-save "$WORK/idmac2"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
rm -f "$VMNET_SOCKET"
start_daemon
check "api_start idmac-check (after kill -9 and restart)" run "$BIN/api_start" idmac-check "$WORK/idmac2"
check "api_start idmac-check (the first id, still)" run "$BIN/api_start" idmac-check "$WORK/idmac"
check "daemon still alive" daemon_alive
finish
