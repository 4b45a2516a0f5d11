#!/bin/bash
# API packet I/O, events and concurrency in one process (api_io), and two
# processes on one network identifier (api_multi), against one private vmnetd.
#   usage: test_api_io.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}
run() { timeout -k 5 120 "$@"; }

# These programs count every frame they read: the gateway's unsolicited
# router advertisements would be extra frames at random moments.
mkdir -p "$WORK/state" && echo "router-adv=off" >"$WORK/state/network-192.168.128.0-24.conf"
start_daemon
check "api_io" run "$BIN/api_io"
check "daemon alive after api_io" daemon_alive
check "api_multi" run "$BIN/api_multi"
check "daemon still alive" daemon_alive
finish
