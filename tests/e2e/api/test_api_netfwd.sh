#!/bin/bash
# Network objects with a port forward and with an external interface
# (docs/networks.md §1-3, docs/forwarding.md, docs/shared.md). Two "wan"
# namespaces behind two veths stand in for two uplinks: wan A 10.98.1.0/24,
# wan B 10.98.2.0/24.
#  1. api_netfwd create: a shared 192.168.97.0/24 with a DHCP reservation and
#     a TCP forward 18097 -> 192.168.97.50:8080 made by the configuration API;
#     a second process (api_netfwd join) joins it from the serialization and
#     lists the rule through its own interface; a namespace guest attached by
#     the network's name gets the reserved address by DHCP, serves HTTP on
#     8080 and is reached through the forward, from the host's 127.0.0.1 and
#     from wan A; the forward goes with the network.
#  2. api_netfwd external: a shared 192.168.98.0/24 whose external interface
#     is wan A's veth: its guest reaches wan A, masqueraded, and not wan B
#     (which routes the subnet back, so only a drop keeps it out); a guest of
#     an ordinary shared network does reach wan B; and the same the other way
#     round with `vmnet network create --external`.
#   usage: test_api_netfwd.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}
HOST_TAP=1 # shared mode: host taps and kernel NAT
MY_PIDS=()

my_cleanup() {
	local p
	for p in "${MY_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	ip link del "${TAG}a0" 2>/dev/null
	ip link del "${TAG}b0" 2>/dev/null
	cleanup
}
trap my_cleanup EXIT

# wan LETTER N — namespace ${TAG}wLETTER behind veth ${TAG}LETTER0 (10.98.N.1, host
# side) / ${TAG}LETTER1 (10.98.N.2), routing 192.168.0.0/16 back to the host so
# that unmasqueraded traffic would be answered too; a UDP echo server on 9999
# that logs every sender to $WORK/udp-LETTER.log. Prints the namespace's name.
wan() {
	local ns
	ns=$(add_netns "w$1") || exit 1
	ip link add "${TAG}$1"0 type veth peer name "${TAG}$1"1
	ip link set "${TAG}$1"1 netns "$ns"
	ip addr add "10.98.$2.1/24" dev "${TAG}$1"0
	ip link set "${TAG}$1"0 up
	ip -n "$ns" addr add "10.98.$2.2/24" dev "${TAG}$1"1
	ip -n "$ns" link set "${TAG}$1"1 up
	ip -n "$ns" route add 192.168.0.0/16 via "10.98.$2.1"
	: >"$WORK/udp-$1.log"
	ip netns exec "$ns" python3 -c "
import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 9999))
log = open(sys.argv[1], 'a')
while True:
    data, peer = s.recvfrom(2048)
    log.write(peer[0] + '\n'); log.flush()
    s.sendto(data + b' from ' + peer[0].encode(), peer)" "$WORK/udp-$1.log" >/dev/null 2>&1 &
	echo "$ns"
}
udp_ask() { # udp_ask NS ADDR — one datagram to a wan's echo server; prints the answer
	ip netns exec "$1" python3 -c "
import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'ping', (sys.argv[1], 9999)); print(s.recvfrom(2048)[0].decode())" "$2" 2>/dev/null
}
set_mac() { ip -n "$1" link set eth0 down; ip -n "$1" link set eth0 address "$2"; ip -n "$1" link set eth0 up; }
wait_file() { # wait_file PATH PID — until PATH exists (10 s) or PID is gone
	for _ in $(seq 200); do
		[ -e "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	[ -e "$1" ]
}
finish_prog() { # finish_prog WHAT PID LOG — wait for an api_netfwd process; it must pass
	local rc
	wait "$2"
	rc=$?
	check "$1 passed all its checks ($(tail -n 1 "$3"), exit status $rc)" test "$rc" -eq 0
	[ "$rc" -eq 0 ] || cat "$3"
}
gone() { # gone NAME — the daemon no longer lists the network (5 s)
	for _ in $(seq 50); do "$VMNET" status | grep -q "$1" || return 0; sleep 0.1; done
	return 1
}

WA=$(wan a 1)
wan b 2 >/dev/null # wan B: only reached by networks that may leave by it
start_daemon

# ---- 1. a forward and a reservation made by the configuration API ----
D="$WORK/fwd"; mkdir -p "$D"
"$BIN/api_netfwd" create "$D" >"$WORK/create.log" 2>&1 &
CREATE_PID=$!; MY_PIDS+=("$CREATE_PID")
wait_file "$D/net.name" "$CREATE_PID"
NAME=$(cat "$D/net.name" 2>/dev/null)
check "the creator made the network and published its name ($NAME)" sh -c "echo '$NAME' | grep -qE '^net-[0-9a-f]{8}$'"
"$VMNET" network show "$NAME" >"$WORK/show1.txt" 2>&1
check "vmnet status lists it" sh -c "'$VMNET' status | grep -q '$NAME'"
check "it is shared, 192.168.97.0/24" sh -c "grep -q 'mode *shared' '$WORK/show1.txt' && grep -q 'subnet *192.168.97.0/24' '$WORK/show1.txt'"
check "the daemon has the reservation 02:00:00:97:00:50 -> 192.168.97.50" grep -q 'reserve *02:00:00:97:00:50 192.168.97.50' "$WORK/show1.txt"
check "the daemon has the forward tcp 18097 -> 192.168.97.50:8080" grep -q 'forward *tcp 18097 -> 192.168.97.50 port 8080' "$WORK/show1.txt"

"$BIN/api_netfwd" join "$D" >"$WORK/join.log" 2>&1 &
JOIN_PID=$!; MY_PIDS+=("$JOIN_PID")
check "a second process joined from the serialization and found the rule through its interface" \
	wait_file "$D/join.ready" "$JOIN_PID"
check "vmnet network show counts the creator (pid $CREATE_PID) and one joiner" \
	sh -c "'$VMNET' network show '$NAME' | grep -q 'creator *pid $CREATE_PID (uid [0-9]*), 1 joined'"

G=$(add_netns g)
check "attach a namespace guest to $NAME" "$VMNET" attach --netns "$G" --network "$NAME"
set_mac "$G" 02:00:00:97:00:50
check "the guest gets a lease" dhcp4 "$G" "$WORK/g.lease"
read -r GIP _ GROUTER _ <"$WORK/g.lease" 2>/dev/null
check "it is the reserved address, router the gateway ($GIP via $GROUTER)" \
	test "$GIP" = 192.168.97.50 -a "$GROUTER" = 192.168.97.1
mkdir -p "$WORK/www"; echo "hello from the guest $$" >"$WORK/www/index.html"
ip netns exec "$G" python3 -m http.server --bind 0.0.0.0 --directory "$WORK/www" 8080 >"$WORK/http.log" 2>&1 &
MY_PIDS+=("$!")
for _ in $(seq 50); do ip netns exec "$G" ss -ltn | grep -q ":8080 " && break; sleep 0.1; done
check "the host reaches the guest through the forward (curl 127.0.0.1:18097)" \
	sh -c "curl -s -m 5 http://127.0.0.1:18097/ | grep -q 'hello from the guest $$'"
check "the guest saw the gateway's address (loopback masqueraded)" grep -q '^192\.168\.97\.1 ' "$WORK/http.log"
check "wan A reaches it at the host's address (10.98.1.1:18097)" \
	sh -c "ip netns exec '$WA' curl -s -m 5 http://10.98.1.1:18097/ | grep -q 'hello from the guest $$'"
check "the guest saw wan A's real address" grep -q '^10\.98\.1\.2 ' "$WORK/http.log"
check_not "no forward on another port (18098)" curl -s -m 2 -o /dev/null http://127.0.0.1:18098/

touch "$D/join.done"
finish_prog "the joiner (rule listed, the guest's frames seen on its interface)" "$JOIN_PID" "$WORK/join.log"
check "the network outlives the joiner" sh -c "curl -s -m 5 http://127.0.0.1:18097/ | grep -q 'hello from the guest $$'"
touch "$D/create.done"
finish_prog "the creator" "$CREATE_PID" "$WORK/create.log"
check "the network went with its creator" gone "$NAME"
check_not "so did the guest's attachment" sh -c "'$VMNET' status | grep -q '$G'"
check_not "and the forward: 127.0.0.1:18097 no longer answers" curl -s -m 2 -o /dev/null http://127.0.0.1:18097/

# ---- 2. an external interface ----
D="$WORK/ext"; mkdir -p "$D"
"$BIN/api_netfwd" external "$D" "${TAG}a0" >"$WORK/external.log" 2>&1 &
EXT_PID=$!; MY_PIDS+=("$EXT_PID")
wait_file "$D/net.name" "$EXT_PID"
NAME=$(cat "$D/net.name" 2>/dev/null)
check "a shared network with external interface ${TAG}a0 is up ($NAME)" test -n "$NAME"
check "the daemon has its external interface" sh -c "'$VMNET' network show '$NAME' | grep -q 'external *${TAG}a0$'"
E=$(add_netns e)
check "attach a guest to it" "$VMNET" attach --netns "$E" --network "$NAME"
check "the guest gets a lease" dhcp4 "$E" "$WORK/e.lease"
read -r EIP _ EROUTER _ <"$WORK/e.lease" 2>/dev/null
check "in 192.168.98.0/24 with the gateway as router ($EIP via $EROUTER)" \
	sh -c "echo '$EIP' | grep -q '^192\.168\.98\.' && [ '$EROUTER' = 192.168.98.1 ]"
check "the guest pings wan A (its external interface's side)" ip netns exec "$E" ping -c 2 -i 0.2 -W 2 -q 10.98.1.2
ANS=$(udp_ask "$E" 10.98.1.2)
check "UDP to wan A is masqueraded behind 10.98.1.1 ($ANS)" test "$ANS" = "ping from 10.98.1.1"
check_not "the guest does not ping wan B (which routes its subnet back)" ip netns exec "$E" ping -c 2 -i 0.2 -W 1 -q 10.98.2.2
ANS=$(udp_ask "$E" 10.98.2.2)
check "UDP to wan B gets no answer ($ANS)" test -z "$ANS"
check "wan B received nothing at all from it (dropped, not sent unmasqueraded)" test ! -s "$WORK/udp-b.log"
check "the guest still reaches its gateway" ip netns exec "$E" ping -c 1 -W 2 -q 192.168.98.1

# Control: wan B is reachable from an ordinary shared network (default route's uplink = any).
C=$(add_netns c)
check "attach a guest to the default shared network" "$VMNET" attach --netns "$C" --network shared
check "it gets a lease" dhcp4 "$C" "$WORK/c.lease"
check "a guest without an external interface pings wan B" ip netns exec "$C" ping -c 1 -W 2 -q 10.98.2.2
ANS=$(udp_ask "$C" 10.98.2.2)
check "and its UDP reaches wan B masqueraded behind 10.98.2.1 ($ANS)" test "$ANS" = "ping from 10.98.2.1"

# The other way round, defined with the CLI: leaves only by wan B.
check "vmnet network create extb --external ${TAG}b0" \
	"$VMNET" network create extb --subnet 192.168.99.0/24 --external "${TAG}b0"
check "its definition records the external interface" grep -qx "external=${TAG}b0" "$WORK/state/networks/extb.conf"
X=$(add_netns x)
check "attach a guest to extb" "$VMNET" attach --netns "$X" --network extb
check "it gets a lease" dhcp4 "$X" "$WORK/x.lease"
ANS=$(udp_ask "$X" 10.98.2.2)
check "extb's guest reaches wan B, masqueraded behind 10.98.2.1 ($ANS)" test "$ANS" = "ping from 10.98.2.1"
: >"$WORK/udp-a.log"
check_not "extb's guest does not ping wan A" ip netns exec "$X" ping -c 2 -i 0.2 -W 1 -q 10.98.1.2
ANS=$(udp_ask "$X" 10.98.1.2)
check "wan A received nothing from extb's guest ($ANS)" sh -c "[ -z '$ANS' ] && [ ! -s '$WORK/udp-a.log' ]"
check "delete extb" "$VMNET" network delete extb

touch "$D/create.done"
finish_prog "the external-interface holder" "$EXT_PID" "$WORK/external.log"
check "its network went with it" gone "$NAME"
check "daemon still alive" daemon_alive
stop_daemon
if [ "$FAILS" -ne 0 ]; then
	for f in create join external; do echo "--- api_netfwd $f:"; cat "$WORK/$f.log" 2>/dev/null; done
	echo "--- vmnetd:"; tail -n 40 "$WORK/vmnetd.log"
fi
finish
