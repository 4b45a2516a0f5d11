#!/bin/bash
# Bridged mode: guests on a host interface's LAN. The "LAN" is a veth pair
# whose far end sits in a namespace running a real DHCP server (udhcpd) and
# a web server; the near end is the host interface guests are bridged to.
# Guests get their leases from the LAN's DHCP server, reach LAN services and
# are reached from the LAN, reach each other; the host's own traffic on the
# interface keeps working; link down/up recovers; promiscuous mode is left
# when the daemon is killed; bad interface names are refused.
. "$(dirname "$0")/lib.sh"

LAN=$(add_netns lan)
NIC="${TAG}n0"
ip link add "$NIC" type veth peer name "${TAG}n1"
ip link set "${TAG}n1" netns "$LAN"
ip link set "$NIC" up
ip addr add 10.55.0.2/24 dev "$NIC"  # the host's own address on this LAN
ip -n "$LAN" addr add 10.55.0.1/24 dev "${TAG}n1"
ip -n "$LAN" link set "${TAG}n1" up
# The LAN's DHCP server: busybox udhcpd. (dnsmasq answers a DISCOVER that
# arrives over the veth from a packet socket with "Error sending DHCP packet:
# No such device" on this kernel; across a real wire it does not see such
# frames. Noted in docs/bridged.md.)
cat >"$WORK/udhcpd.conf" <<EOC
start 10.55.0.100
end 10.55.0.150
interface ${TAG}n1
lease_file $WORK/udhcpd.leases
option subnet 255.255.255.0
option router 10.55.0.1
EOC
touch "$WORK/udhcpd.leases"
ip netns exec "$LAN" busybox udhcpd -f "$WORK/udhcpd.conf" >"$WORK/udhcpd.log" 2>&1 &
UDHCPD_PID=$!
mkdir -p "$WORK/www"; echo "hello from the lan $$" >"$WORK/www/index.html"
head -c 8000000 /dev/urandom >"$WORK/www/big.bin" # large enough for GRO/GSO super-frames
ip netns exec "$LAN" python3 -m http.server --bind 10.55.0.1 --directory "$WORK/www" 8080 >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
promiscuity() { ip -d link show dev "$NIC" | grep -o 'promiscuity [0-9]*' | cut -d' ' -f2; }

start_daemon
G=$(add_netns g); H=$(add_netns h)
check_not "bridging to an unknown interface is refused" "$VMNET" attach --netns "$G" --bridge nosuch0
check_not "bridging to a name longer than IFNAMSIZ is refused" "$VMNET" attach --netns "$G" --bridge averyveryverylongname0
check_not "bridging to loopback is refused" "$VMNET" attach --netns "$G" --bridge lo
check "attach g bridged to $NIC" "$VMNET" attach --netns "$G" --bridge "$NIC"
check "the interface is promiscuous while bridged" test "$(promiscuity)" -ge 1
check "g gets a lease from the LAN's own DHCP server" dhcp4 "$G" "$WORK/g.lease"
read -r GIP _ GROUTER _ <"$WORK/g.lease"
echo "g: $GIP"
check "the lease is the LAN server's (10.55.0.100-150)" sh -c "echo '$GIP' | grep -qE '^10\.55\.0\.1[0-5][0-9]$'"
check "g fetches a page from the LAN" sh -c "ip netns exec '$G' curl -s -m 5 http://10.55.0.1:8080/ | grep -q 'hello from the lan $$'"
ip netns exec "$G" curl -s -m 20 -o "$WORK/big.got" http://10.55.0.1:8080/big.bin
check "g downloads 8 MB from the LAN intact (super-frames cut back to the MTU)" cmp -s "$WORK/big.got" "$WORK/www/big.bin"
check "the LAN pings g" ip netns exec "$LAN" ping -c 2 -i 0.2 -W 2 -q "$GIP"
check "attach h bridged too" "$VMNET" attach --netns "$H" --bridge "$NIC"
check "h gets a lease" dhcp4 "$H" "$WORK/h.lease"
read -r HIP _ <"$WORK/h.lease"
check "g and h reach each other" ip netns exec "$G" ping -c 2 -i 0.2 -W 2 -q "$HIP"
check "the host's own traffic on $NIC still works" ping -c 2 -i 0.2 -W 2 -q 10.55.0.1
"$VMNET" status >"$WORK/status.txt"; cat "$WORK/status.txt"
check "vmnet status shows the uplink" grep -q "uplink *$NIC" "$WORK/status.txt"

ip link set "$NIC" down
check_not "link down: g loses the LAN" ip netns exec "$G" ping -c 1 -W 1 -q 10.55.0.1
ip link set "$NIC" up
for _ in $(seq 30); do ip netns exec "$G" ping -c 1 -W 1 -q 10.55.0.1 >/dev/null 2>&1 && break; sleep 0.2; done
check "link up again: g reaches the LAN" ip netns exec "$G" ping -c 1 -W 2 -q 10.55.0.1

kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
check "promiscuous mode is left when the daemon is killed" test "$(promiscuity)" -eq 0

start_daemon
check "attach g again after the crash" "$VMNET" attach --netns "$G" --bridge "$NIC"
ip link del "$NIC"
for _ in $(seq 20); do "$VMNET" status | grep -q "uplink" || break; sleep 0.1; done
check_not "a removed interface stops its uplink" sh -c "'$VMNET' status | grep -q 'uplink'"
check "the daemon is still alive" daemon_alive
# A per-user daemon without CAP_NET_RAW: refused with VMNET_NOT_AUTHORIZED and a sentence.
NOBODY=$(id -u nobody)
PUB=$(mktemp -d /tmp/vmnet-brpub.XXXXXX); chmod 1777 "$PUB" # the daemon (nobody) makes its socket and state here
setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups "$VMNETD" --user --socket "$PUB/n.sock" \
	--state-dir "$PUB/state" --socket-mode 0666 >"$WORK/vmnetd-nobody.log" 2>&1 &
NPID=$!
for _ in $(seq 100); do [ -S "$PUB/n.sock" ] && break; sleep 0.05; done
ip link add "${TAG}m0" type veth peer name "${TAG}m1"; ip link set "${TAG}m0" up
VMNET_SOCKET="$PUB/n.sock" "$VMNET" attach --netns "$H" --bridge "${TAG}m0" >"$WORK/nobody.out" 2>&1
cat "$WORK/nobody.out"
check "an unprivileged daemon refuses bridging with VMNET_NOT_AUTHORIZED, saying CAP_NET_RAW" \
	sh -c "grep -q VMNET_NOT_AUTHORIZED '$WORK/nobody.out' && grep -q CAP_NET_RAW '$WORK/nobody.out'"
kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null
ip link del "${TAG}m0" 2>/dev/null; rm -rf "$PUB"
kill "$UDHCPD_PID" "$HTTP_PID" 2>/dev/null
finish
