#!/bin/bash
# Port forwarding of a shared network (`vmnet forward`): a guest's TCP and UDP
# services reached from a "wan" namespace at the host's wan address
# (10.99.0.1, fd99::1) and from the host's own loopback (127.0.0.1); the
# rules' checks (duplicates, a host port in use, port 0, protocol, address
# outside the subnet or prefix, the gateway's address); removal; the rules
# surviving a daemon restart in the network's settings file. IPv6 forwards
# are also reached from the host's [::1], through vmnetd's relay.
. "$(dirname "$0")/lib.sh"
HOST_TAP=1

GIP=192.168.64.50
PREFIX=fd64:0:0:64
GIP6=$PREFIX::50
SETTINGS="$WORK/state/network-192.168.64.0-24.conf"

# The outside world: a namespace behind a veth.
W=$(add_netns wan)
ip link add "${TAG}w0" type veth peer name "${TAG}w1"
ip link set "${TAG}w1" netns "$W"
ip addr add 10.99.0.1/24 dev "${TAG}w0"; ip addr add fd99::1/64 dev "${TAG}w0" nodad; ip link set "${TAG}w0" up
ip -n "$W" addr add 10.99.0.2/24 dev "${TAG}w1"; ip -n "$W" addr add fd99::2/64 dev "${TAG}w1" nodad
ip -n "$W" link set "${TAG}w1" up

# The guest: a web server and a UDP echo server, both on IPv4 and IPv6.
G=$(add_netns g)
mkdir -p "$WORK/www"; echo "hello from the guest $$" >"$WORK/www/index.html"
ip netns exec "$G" python3 -m http.server --bind :: --directory "$WORK/www" 80 >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
cat >"$WORK/udpecho.py" <<'EOS'
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 7))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"echo " + data, peer)
EOS
ip netns exec "$G" python3 "$WORK/udpecho.py" &
UDP_PID=$!
head -c 3000000 /dev/urandom >"$WORK/www/big.bin"
cat >"$WORK/tcpecho.py" <<'EOS'
import socket, threading
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 9)); s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
EOS
ip netns exec "$G" python3 "$WORK/tcpecho.py" &
ECHO_PID=$!
# echo_ok ADDR PORT BYTES — BYTES random bytes through a TCP echo come back intact (both directions, half-close)
echo_ok() {
	python3 -c "
import os,socket,sys,threading
data = os.urandom(int(sys.argv[3])); got = bytearray(); err = []
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
except OSError as e:
    sys.exit(2) # refused: quietly, check_not expects it
def rd():
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            got.extend(d)
    except OSError as e:
        err.append(e)
t = threading.Thread(target=rd); t.start()
c.sendall(data); c.shutdown(socket.SHUT_WR); t.join(10)
if bytes(got) != data:
    print('  echo through %s:%s: %d of %d bytes back %s' % (sys.argv[1], sys.argv[2], len(got), len(data), err))
    sys.exit(1)" "$1" "$2" "$3"
}
# udp_ask NS|- ADDR PORT — one datagram, prints the answer (NS "-": the host itself)
udp_ask() {
	local pre=()
	[ "$1" != - ] && pre=(ip netns exec "$1")
	"${pre[@]}" python3 -c "
import socket,sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'ping', (sys.argv[1], int(sys.argv[2]))); print(s.recvfrom(2048)[0].decode())" "$2" "$3" 2>/dev/null
}
# http_get NS|- URL — the page (curl, 3 s at most)
http_get() {
	local pre=()
	[ "$1" != - ] && pre=(ip netns exec "$1")
	"${pre[@]}" curl -gs -m 3 "$2"
}
page_ok() { http_get "$1" "$2" | grep -q "hello from the guest $$"; }
udp_ok() { [ "$(udp_ask "$@")" = "echo ping" ]; }
# refused DESCRIPTION TEXT CMD... — CMD fails and says TEXT on stderr
refused() {
	local what=$1 text=$2; shift 2
	CHECKS=$((CHECKS + 1))
	if "$@" 2>"$WORK/err.txt" >/dev/null; then
		fail "$what (accepted)"
	elif ! grep -q -- "$text" "$WORK/err.txt"; then
		fail "$what (message: $(cat "$WORK/err.txt"))"
	else
		pass "$what: $(head -1 "$WORK/err.txt")"
	fi
}
# can_bind PROTO PORT — may a host program bind 0.0.0.0:PORT?
can_bind() {
	python3 -c "
import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1] == 'tcp' else socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[2])))" "$1" "$2" 2>/dev/null
}
# guest_up — attach g to the shared network with its fixed addresses and default routes
guest_up() {
	"$VMNET" attach --netns "$G" --network shared --ip "$GIP/24" &&
		ip -n "$G" route replace default via 192.168.64.1 &&
		ip -n "$G" addr add "$GIP6/64" dev eth0 nodad &&
		ip -n "$G" -6 route replace default via "$PREFIX::1" dev eth0
}

start_daemon
# A known /64 for the shared network, set before it exists.
check "the shared subnet gets prefix $PREFIX::/64" sh -c "'$VMNET' config 192.168.64.0/24 prefix=$PREFIX::/64 >/dev/null"
refused "forward on a network that does not run" "no running network" "$VMNET" forward add tcp 8080 "$GIP:80"
check "attach g to the shared network at $GIP and $GIP6" guest_up
for _ in $(seq 50); do ip netns exec "$G" ss -ltn | grep -q ":80 " && break; sleep 0.1; done
check "the host reaches g directly (sanity)" page_ok - "http://$GIP/"

# --- add, and reach the guest from outside and from the host ---
check "forward tcp 8080 -> $GIP:80" "$VMNET" forward add tcp 8080 "$GIP:80"
check "forward udp 5353 -> $GIP:7" "$VMNET" forward add udp 5353 "$GIP:7"
check "forward tcp 8080 -> [$GIP6]:80 (IPv6)" "$VMNET" forward add tcp 8080 "[$GIP6]:80"
check "forward udp 5353 -> [$GIP6]:7 (IPv6)" "$VMNET" forward add --network shared udp 5353 "[$GIP6]:7"
check "the wan fetches the guest's page at 10.99.0.1:8080" page_ok "$W" "http://10.99.0.1:8080/"
check "the guest saw the wan's own address (no masquerade inbound)" grep -qE "^(::ffff:)?10.99.0.2 " "$WORK/http.log"
check "the wan exchanges UDP with the guest at 10.99.0.1:5353" udp_ok "$W" 10.99.0.1 5353
check "the wan fetches the page over IPv6 at [fd99::1]:8080" page_ok "$W" "http://[fd99::1]:8080/"
check "the wan exchanges UDP over IPv6 at [fd99::1]:5353" udp_ok "$W" fd99::1 5353
check "the host fetches the page at 127.0.0.1:8080 (loopback)" page_ok - "http://127.0.0.1:8080/"
check "the host exchanges UDP at 127.0.0.1:5353 (loopback)" udp_ok - 127.0.0.1 5353
check "the host fetches the page at its own wan address 10.99.0.1:8080" page_ok - "http://10.99.0.1:8080/"
check "the host fetches the page at its own IPv6 address [fd99::1]:8080" page_ok - "http://[fd99::1]:8080/"
check "the host fetches the page at [::1]:8080 (IPv6 loopback, relayed)" page_ok - "http://[::1]:8080/"
check "the host exchanges UDP at [::1]:5353 (relayed)" udp_ok - ::1 5353
check "3 MB through [::1]:8080 arrive intact" \
	sh -c "curl -gs -m 10 'http://[::1]:8080/big.bin' | cmp -s - '$WORK/www/big.bin'"
check "forward tcp 9009 -> [$GIP6]:9 (an echo server)" "$VMNET" forward add tcp 9009 "[$GIP6]:9"
check "2 MB each way through the relay ([::1]:9009), with a half-close" echo_ok ::1 9009 2000000
check "2 MB each way from the wan ([fd99::1]:9009, DNAT)" \
	ip netns exec "$W" bash -c "$(declare -f echo_ok); echo_ok fd99::1 9009 2000000"
check "eight relayed connections at once" bash -c "
	$(declare -f echo_ok); pids=(); for i in 1 2 3 4 5 6 7 8; do echo_ok ::1 9009 300000 & pids+=(\$!); done
	rc=0; for p in \${pids[@]}; do wait \$p || rc=1; done; exit \$rc"
check "remove tcp 9009 (IPv6)" "$VMNET" forward remove tcp 9009 --ipv6
check_not "[::1]:9009 no longer answers" echo_ok ::1 9009 10
check_not "a port that is not forwarded is not (10.99.0.1:8081)" page_ok "$W" "http://10.99.0.1:8081/"

"$VMNET" forward list >"$WORK/list.txt"
sed 's/^/    /' "$WORK/list.txt"
check "list shows the four rules" test "$(grep -cE '(tcp|udp) +(8080|5353) -> ' "$WORK/list.txt")" -eq 4
check "list shows the IPv6 guest in brackets" grep -q "tcp  8080 -> \[$GIP6\]:80" "$WORK/list.txt"
"$VMNET" forward list --json --network shared >"$WORK/list.json"
check "list --json parses and has four rules" python3 -c "
import json,sys
d = json.load(open(sys.argv[1]))
r = d['networks'][0]['rules']
assert d['networks'][0]['name'] == 'shared' and len(r) == 4, d
assert {(x['protocol'], x['external_port'], x['internal_port']) for x in r} == {(6, 8080, 80), (17, 5353, 7)}
assert all(x['active'] for x in r)" "$WORK/list.json"
check "the rules are in the network's settings file" \
	sh -c "grep -qx 'forward=tcp,4,8080,$GIP,80' '$SETTINGS' && grep -qx 'forward=udp,6,5353,$GIP6,7' '$SETTINGS'"

# --- conflicts and bad rules ---
refused "a duplicate (same protocol, family and host port)" "already forwarded" \
	"$VMNET" forward add tcp 8080 192.168.64.51:80
check_not "while forwarded, no host program can bind tcp 8080" can_bind tcp 8080
check_not "while forwarded, no host program can bind udp 5353" can_bind udp 5353
python3 -c "
import socket,time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 9090)); s.listen(); u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('0.0.0.0', 9091)); s6 = socket.socket(socket.AF_INET6); s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s6.bind(('::1', 9092)); s6.listen(); time.sleep(60)" &
LISTENER=$!
for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:9090 " && break; sleep 0.1; done
refused "a host port a host service listens on (tcp 9090)" "in use on the host" \
	"$VMNET" forward add tcp 9090 "$GIP:80"
refused "a host port a host service holds (udp 9091)" "in use on the host" "$VMNET" forward add udp 9091 "$GIP:7"
refused "an IPv6 host port a host service listens on (tcp [::1]:9092)" "in use on the host" \
	"$VMNET" forward add tcp 9092 "[$GIP6]:80"
kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null
refused "host port 0" "port 0" "$VMNET" forward add tcp 0 "$GIP:80"
refused "guest port 0" "port 0" "$VMNET" forward add tcp 8090 "$GIP:0"
refused "a protocol that is not tcp or udp (by name)" "tcp or udp" "$VMNET" forward add icmp 8090 "$GIP:80"
refused "a protocol that is not tcp or udp (number 1, refused by vmnetd)" "tcp (6) or udp (17)" \
	"$VMNET" forward add 1 8090 "$GIP:80"
refused "a guest that is no address" "A.B.C.D:PORT" "$VMNET" forward add tcp 8090 "guest:80"
refused "an IPv4 guest outside the subnet" "outside the network's subnet" "$VMNET" forward add tcp 8090 10.0.0.5:80
refused "the gateway as guest" "gateway" "$VMNET" forward add tcp 8090 192.168.64.1:80
refused "the subnet's broadcast address as guest" "broadcast" "$VMNET" forward add tcp 8090 192.168.64.255:80
refused "an IPv6 guest outside the /64" "outside the network's /64" "$VMNET" forward add tcp 8090 "[fd00::50]:80"
refused "a link-local IPv6 guest" "unicast" "$VMNET" forward add tcp 8090 "[fe80::50]:80"
refused "the IPv6 gateway as guest" "gateway" "$VMNET" forward add tcp 8090 "[$PREFIX::1]:80"
refused "a host-mode network" "shared-mode" sh -c "'$VMNET' attach --netns '$(add_netns h)' >/dev/null && \
	'$VMNET' forward add --network default tcp 8090 192.168.128.5:80"
refused "a network that does not exist" "no running network" "$VMNET" forward add --network nosuch tcp 8090 "$GIP:80"
check "after all that, still four rules" test "$("$VMNET" forward list | grep -cE ' -> ')" -eq 4

# --- the rules survive a daemon restart ---
stop_daemon
check "the daemon is gone and the wan no longer reaches the guest" sh -c "! curl -s -m 2 http://10.99.0.1:8080/ >/dev/null"
start_daemon
check "attach g again after the restart" guest_up
check "after the restart the wan fetches the page at 10.99.0.1:8080" page_ok "$W" "http://10.99.0.1:8080/"
check "after the restart the wan exchanges UDP at 10.99.0.1:5353" udp_ok "$W" 10.99.0.1 5353
check "after the restart the wan fetches the page at [fd99::1]:8080" page_ok "$W" "http://[fd99::1]:8080/"
check "after the restart the host fetches the page at 127.0.0.1:8080" page_ok - "http://127.0.0.1:8080/"
check "after the restart the host fetches the page at [::1]:8080" page_ok - "http://[::1]:8080/"
check "after the restart the four rules are listed" test "$("$VMNET" forward list | grep -cE ' -> ')" -eq 4
check_not "after the restart the host port is held again" can_bind tcp 8080

# --- a settings change (the gateway is replaced) keeps them ---
check "vmnet config changes the lease time of the running network" sh -c "'$VMNET' config shared lease-time=600 >/dev/null"
check "after vmnet config the wan still fetches the page" page_ok "$W" "http://10.99.0.1:8080/"

# --- remove ---
check "remove tcp 8080 (IPv4)" "$VMNET" forward remove tcp 8080
check_not "the wan no longer reaches 10.99.0.1:8080" page_ok "$W" "http://10.99.0.1:8080/"
check_not "the host no longer reaches 127.0.0.1:8080" page_ok - "http://127.0.0.1:8080/"
check "the IPv6 rule of the same port still works" page_ok "$W" "http://[fd99::1]:8080/"
check "a host program may bind tcp 8080 again" can_bind tcp 8080
refused "removing it again" "no forward of tcp port 8080 (IPv4)" "$VMNET" forward remove tcp 8080
refused "removing a rule that never was" "no forward" "$VMNET" forward remove udp 4242
check "remove tcp 8080 --ipv6" "$VMNET" forward remove tcp 8080 --ipv6
check_not "the wan no longer reaches [fd99::1]:8080" page_ok "$W" "http://[fd99::1]:8080/"
check_not "the host no longer reaches [::1]:8080" page_ok - "http://[::1]:8080/"
check "remove udp 5353 and udp 5353 --ipv6" sh -c "'$VMNET' forward remove udp 5353 && '$VMNET' forward remove udp 5353 --ipv6"
check_not "the wan no longer gets UDP answers at 10.99.0.1:5353" udp_ok "$W" 10.99.0.1 5353
check "list says there are none" grep -q "no port forwards" <("$VMNET" forward list)
check "the settings file has no forward lines" sh -c "! grep -q '^forward=' '$SETTINGS'"
check "the daemon is alive" daemon_alive

kill "$HTTP_PID" "$UDP_PID" "$ECHO_PID" 2>/dev/null; wait "$HTTP_PID" "$UDP_PID" "$ECHO_PID" 2>/dev/null
ip link del "${TAG}w0" 2>/dev/null
[ "$FAILS" -eq 0 ] || { echo "--- vmnetd.log (end)"; tail -40 "$WORK/vmnetd.log"; }
finish
