#!/bin/bash
# Network objects (vmnet_network_create & co., docs/networks.md): the API
# program creates a shared network, a second process joins it from the
# serialization and exchanges frames with the first, bad serializations and
# overlapping subnets are refused, another user is refused, the creator's
# release takes the network away from the joiner. Then namespaces attached to
# network objects by name: no lease with DHCP disabled, the reserved address
# with a reservation, and the attachment goes with the network.
#   usage: test_api_network.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}
HOST_TAP=1 # shared mode: host taps and kernel NAT
run() { timeout -k 5 120 "$@"; }

# Another user must reach the daemon (group vmnet, socket 0666) for the
# network itself to refuse it; $WORK must be traversable for it.
CREATED_GROUP=0
if ! getent group vmnet >/dev/null; then
	groupadd vmnet && CREATED_GROUP=1
fi
VGID=$(getent group vmnet | cut -d: -f3)
chmod 0711 "$WORK"
mkdir -m 0755 "$WORK/pub"
chmod 0755 "$WORK/pub"

start_daemon --socket-mode 0666
export VMNET_TEST_GID="$VGID"
check "api_network main" run "$BIN/api_network" main "$WORK/pub"
check "daemon alive after the API test" daemon_alive
check_not "the network object is gone from the daemon" sh -c "'$VMNET' status | grep -q 192.168.93"

# hold SPEC: keep a network object (in the background) and print its name.
hold() {
	rm -f "$WORK/pub/$1.name" "$WORK/pub/$1.done"
	# Not through run(): HOLD_PID must be the program itself (it gives up by itself after 60 s).
	"$BIN/api_network" hold "$WORK/pub" "$1" >"$WORK/hold-$1.log" 2>&1 &
	HOLD_PID=$!
	for _ in $(seq 200); do
		[ -s "$WORK/pub/$1.name" ] && break
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	NAME=$(cat "$WORK/pub/$1.name" 2>/dev/null)
}
release() { # release SPEC — let the holder go; check it passed
	touch "$WORK/pub/$1.done"
	wait "$HOLD_PID"
	local rc=$?
	check "api_network hold $1 passed (exit status $rc)" test "$rc" -eq 0 || cat "$WORK/hold-$1.log"
}

hold nodhcp
check "a network with DHCP disabled is up ($NAME)" test -n "$NAME"
add_netns nd >/dev/null; ND="${TAG}nd"
check "attach a namespace to it by name" "$VMNET" attach --netns "$ND" --network "$NAME"
check_not "the namespace gets no lease (DHCP disabled)" dhcp4 "$ND" "$WORK/nd.lease" 3
release nodhcp
check_not "the attachment went with the network" sh -c "'$VMNET' status | grep -q '$ND'"
check_not "and so did the network" sh -c "'$VMNET' status | grep -q '$NAME'"

hold reserve
check "a network with a reservation is up ($NAME)" test -n "$NAME"
add_netns rs >/dev/null; RS="${TAG}rs"
check "attach a namespace to it by name" "$VMNET" attach --netns "$RS" --network "$NAME"
ip -n "$RS" link set eth0 down
ip -n "$RS" link set eth0 address 52:54:00:97:00:77
ip -n "$RS" link set eth0 up
check "the namespace gets a lease" dhcp4 "$RS" "$WORK/rs.lease"
read -r RIP _ <"$WORK/rs.lease" 2>/dev/null
check "it is the reserved address ($RIP)" test "$RIP" = 192.168.97.77
"$VMNET" attach --netns "$RS" --ifname eth1 --name other --network net-00000000 >"$WORK/err.txt" 2>&1
check "attaching to an unknown network name is refused" grep -q "network must be" "$WORK/err.txt" || cat "$WORK/err.txt"
release reserve
# The creator killed (no CFRelease at all): the network goes just the same.
hold nodhcp
check "a network object is up again ($NAME)" sh -c "'$VMNET' status | grep -q '$NAME'"
kill -9 "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null
for _ in $(seq 50); do "$VMNET" status | grep -q "$NAME" || break; sleep 0.1; done
check_not "kill -9 of its creator takes it away" sh -c "'$VMNET' status | grep -q '$NAME'"
check "daemon still alive" daemon_alive
stop_daemon
[ "$CREATED_GROUP" = 1 ] && groupdel vmnet
finish
