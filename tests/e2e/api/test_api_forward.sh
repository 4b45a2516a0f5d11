#!/bin/bash
# API port forwarding (api_forward): the add/get/remove round trip on a
# shared-mode interface with both API generations, blocks and _f variants.
# Shared mode needs the daemon's host taps and kernel NAT (root).
#   usage: test_api_forward.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}
HOST_TAP=1
run() { timeout -k 5 120 "$@"; } # a hung program is a failure, not a hung suite

start_daemon
check "api_forward" run "$BIN/api_forward"
check "daemon alive after api_forward" daemon_alive
check "the rules went through the shared network's settings file, and none is left" \
	sh -c "test -f '$WORK/state/network-192.168.64.0-24.conf' && ! grep -q '^forward=' '$WORK/state/network-192.168.64.0-24.conf'"
finish
