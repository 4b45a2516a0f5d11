#!/bin/bash
# Shared mode through the kernel (nftables): guests on 192.168.64.0/24 reach a
# "wan" namespace that stands in for the outside world (TCP, UDP, ping; IPv4
# through NAT44, IPv6 through NAT66), masqueraded behind the host; the wan
# cannot reach them directly; two shared networks and host-mode guests stay
# apart; the daemon's nftables tables go with their networks, with the daemon,
# and after a crash when the daemon starts again.
. "$(dirname "$0")/lib.sh"
HOST_TAP=1

own_tables() { nft list tables 2>/dev/null | grep -c "vmnetd_" || true; }

# The outside world: a namespace behind a veth, with a web server and a UDP echo server.
W=$(add_netns wan)
ip link add "${TAG}w0" type veth peer name "${TAG}w1"
ip link set "${TAG}w1" netns "$W"
ip addr add 10.99.0.1/24 dev "${TAG}w0"; ip addr add fd99::1/64 dev "${TAG}w0" nodad; ip link set "${TAG}w0" up
ip -n "$W" addr add 10.99.0.2/24 dev "${TAG}w1"; ip -n "$W" addr add fd99::2/64 dev "${TAG}w1" nodad
ip -n "$W" link set "${TAG}w1" up
mkdir -p "$WORK/www"; echo "hello from the wan $$" >"$WORK/www/index.html"
ip netns exec "$W" python3 -m http.server --bind :: --directory "$WORK/www" 8080 >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
cat >"$WORK/udpecho.py" <<'EOS'
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 9999))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data + b" from " + peer[0].removeprefix("::ffff:").encode(), peer)
EOS
ip netns exec "$W" python3 "$WORK/udpecho.py" &
UDP_PID=$!
udp_ask() { # udp_ask NS ADDR — one datagram to the wan's echo server; prints the answer
	ip netns exec "$1" python3 -c "
import socket,sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(b'ping', (sys.argv[1], 9999)); print(s.recvfrom(2048)[0].decode())" "$2"
}
for _ in $(seq 50); do ip netns exec "$W" ss -ltn | grep -q ":8080 " && break; sleep 0.1; done

start_daemon
G=$(add_netns g)
check "attach g to the shared network" "$VMNET" attach --netns "$G" --network shared
check "g gets a lease (with a router) on 192.168.64.0/24" dhcp4 "$G" "$WORK/g.lease"
read -r GIP _ GROUTER _ GDNS _ <"$WORK/g.lease"
echo "g: $GIP router $GROUTER dns $GDNS"
check "the lease is in 192.168.64.0/24, router and DNS 192.168.64.1" \
	sh -c "echo '$GIP' | grep -q '^192\.168\.64\.' && [ '$GROUTER' = 192.168.64.1 ] && [ '$GDNS' = 192.168.64.1 ]"
check "the daemon installed its nftables table" test "$(own_tables)" -ge 1
check "IPv4 forwarding is on" test "$(cat /proc/sys/net/ipv4/ip_forward)" = 1
check "g pings the wan (NAT44)" ip netns exec "$G" ping -c 2 -i 0.2 -W 2 -q 10.99.0.2
check "g fetches a page from the wan over TCP" sh -c \
	"ip netns exec '$G' curl -s -m 5 http://10.99.0.2:8080/ | grep -q 'hello from the wan $$'"
check "the wan saw the host's address, not the guest's (masquerade)" grep -qE "^(::ffff:)?10.99.0.1 " "$WORK/http.log"
ANS=$(udp_ask "$G" 10.99.0.2)
check "g exchanges UDP with the wan, masqueraded ($ANS)" test "$ANS" = "ping from 10.99.0.1"

# IPv6: SLAAC from the gateway's router advertisement, default route through it, NAT66.
ip netns exec "$G" sysctl -qw net.ipv6.conf.eth0.accept_ra=2
for _ in $(seq 100); do
	ip -n "$G" -6 addr show dev eth0 scope global | grep inet6 | grep -qv tentative &&
		ip -n "$G" -6 route show default | grep -q via && break
	sleep 0.1
done
check "g has a global IPv6 address and a default route from the RA" \
	sh -c "ip -n '$G' -6 addr show dev eth0 scope global | grep -q inet6 && ip -n '$G' -6 route show default | grep -q via"
check "g pings the wan over IPv6 (NAT66)" ip netns exec "$G" ping -6 -c 3 -i 0.3 -W 3 -q fd99::2
check "g fetches a page from the wan over IPv6" sh -c \
	"ip netns exec '$G' curl -s -m 5 'http://[fd99::2]:8080/' | grep -q 'hello from the wan $$'"
ANS=$(udp_ask "$G" fd99::2)
check "g exchanges UDP over IPv6, masqueraded ($ANS)" test "$ANS" = "ping from fd99::1"

# The outside world does not reach guests directly.
ip -n "$W" route add 192.168.64.0/24 via 10.99.0.1
check_not "the wan cannot ping g directly" ip netns exec "$W" ping -c 1 -W 1 -q "$GIP"

# A second shared network and a host-mode guest: kept apart from g.
S2=$(add_netns s2); H=$(add_netns h)
check "attach s2 to a second shared network 192.168.70.0/24" "$VMNET" attach --netns "$S2" --network shared --subnet 192.168.70.0/24
check "s2 gets a lease there" dhcp4 "$S2" "$WORK/s2.lease"
read -r S2IP _ <"$WORK/s2.lease"
check "s2 reaches the wan too" ip netns exec "$S2" ping -c 1 -W 2 -q 10.99.0.2
check_not "s2 cannot reach g on the other shared network" ip netns exec "$S2" ping -c 1 -W 1 -q "$GIP"
check_not "g cannot reach s2" ip netns exec "$G" ping -c 1 -W 1 -q "$S2IP"
check_not "a refused subnet: the shared subnet of another network" \
	"$VMNET" attach --netns "$H" --network shared --subnet 192.168.64.0/25
check "attach h to the host network" "$VMNET" attach --netns "$H"
check "h gets a lease" dhcp4 "$H" "$WORK/h.lease"
check_not "a host-mode guest is not forwarded to the wan (even with a default route)" \
	ip netns exec "$H" ping -c 1 -W 1 -q 10.99.0.2
check_not "h cannot reach g" ip netns exec "$H" ping -c 1 -W 1 -q "$GIP"
check "the host itself still reaches g" ping -c 1 -W 2 -q "$GIP"

N=$(own_tables)
check "one table per network ($N)" test "$N" -eq 3
check "detach s2" "$VMNET" detach "$S2"
check "its table goes with its network" test "$(own_tables)" -eq 2
stop_daemon
check "no table is left after the daemon stops" test "$(own_tables)" -eq 0

# A crash leaves the tables behind; the next daemon (same socket) removes them.
start_daemon
check "attach g again" "$VMNET" attach --netns "$G" --network shared
check "its table is there" test "$(own_tables)" -ge 1
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
check "after a crash the table is still there" test "$(own_tables)" -ge 1
start_daemon
check "the restarted daemon removed the stale table" test "$(own_tables)" -eq 0

# Without root the mode is refused with a clear error (the rootless user NAT is a later release).
stop_daemon
start_daemon --no-host-tap
"$VMNET" attach --netns "$G" --network shared 2>"$WORK/err.txt"
check "shared mode without host taps is refused and says why" grep -q "shared mode" "$WORK/err.txt"
kill "$HTTP_PID" "$UDP_PID" 2>/dev/null
ip link del "${TAG}w0" 2>/dev/null
finish
