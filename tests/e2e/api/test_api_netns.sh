#!/bin/bash
# A real Linux stack and an API client on the default host network: the API
# program ARPs and pings a namespace with hand-made frames, then answers the
# namespace's pings from its event callback.
#   usage: test_api_netns.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}

start_daemon
# Not NS=$(add_netns ...): a command substitution is a subshell, and the
# namespace would be missing from NETNS at cleanup.
add_netns api >/dev/null
NS="${TAG}api"
check "attach the namespace at 192.168.128.50/24" "$VMNET" attach --netns "$NS" --ip 192.168.128.50/24

timeout -k 5 60 "$BIN/api_netns" 192.168.128.50 192.168.128.60 "$WORK/ready" "$WORK/done" &
PROG=$!
for _ in $(seq 300); do
	[ -e "$WORK/ready" ] && break
	kill -0 "$PROG" 2>/dev/null || break
	sleep 0.05
done
check "api_netns is serving" test -e "$WORK/ready"
check "the namespace pings the API client" ip netns exec "$NS" ping -c 3 -i 0.2 -W 2 -q 192.168.128.60
check "the namespace learned the API client's MAC" sh -c "ip -n '$NS' neigh show 192.168.128.60 | grep -q lladdr"
touch "$WORK/done"
wait "$PROG"
RC=$?
check "api_netns passed (exit status $RC)" test "$RC" -eq 0
check "daemon still alive" daemon_alive
finish
