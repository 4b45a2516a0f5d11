#!/bin/bash
# Host mode with a real host interface: as root, vmnetd gives each network a
# host tap (vmnet-hostN) carrying the gateway address, so the host reaches
# guests at their addresses and guests reach services of the host at the
# gateway address, while DHCP still comes from vmnetd. The tap goes with the
# network; --no-host-tap leaves the host alone; a subnet the host already
# uses is skipped by the default network.
. "$(dirname "$0")/lib.sh"
HOST_TAP=1

host_tap() { # the host tap of network "default", from vmnet status --json
	"$VMNET" status --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
print(next((n.get('host_tap','') for n in d['networks'] if n['name']=='$1'), ''))"
}

start_daemon
A=$(add_netns a); B=$(add_netns b)
check "attach a" "$VMNET" attach --netns "$A"
HT=$(host_tap default)
echo "host tap: $HT"
check "the default network has a host tap vmnet-hostN" sh -c "echo '$HT' | grep -qE '^vmnet-host[0-9]+$'"
check "the host tap carries 192.168.128.1/24" sh -c "ip -4 addr show dev '$HT' | grep -q 'inet 192.168.128.1/24'"
check "the host tap has the gateway's MAC" sh -c "ip link show dev '$HT' | grep -q '02:76:6d:a8:80:01'"
check_not "the host tap takes no router advertisements" sh -c "[ \$(cat /proc/sys/net/ipv6/conf/$HT/accept_ra) != 0 ]"
check "a gets a lease from vmnetd (DHCP is not the kernel's)" dhcp4 "$A" "$WORK/a.lease"
read -r AIP _ <"$WORK/a.lease"
echo "a: $AIP"
check "the host pings a at its leased address" ping -c 2 -i 0.2 -W 2 -q "$AIP"
check "a pings the gateway (the host's kernel answers)" ip netns exec "$A" ping -c 2 -i 0.2 -W 2 -q 192.168.128.1

# A service of the host on the gateway address, reached by a guest.
mkdir -p "$WORK/www"; echo "hello from the host $$" >"$WORK/www/hello.txt"
PORT=$((20000 + RANDOM % 20000))
python3 -m http.server --bind 192.168.128.1 --directory "$WORK/www" "$PORT" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do ss -ltn | grep -q ":$PORT " && break; sleep 0.1; done
check "a fetches a page from the host's server at 192.168.128.1 (curl)" sh -c \
	"ip netns exec '$A' curl -s -m 5 http://192.168.128.1:$PORT/hello.txt | grep -q 'hello from the host $$'"
# Bulk TCP both ways: the guest's tap and the host tap both carry virtio-net headers, so the
# two kernels exchange 64 KiB super-frames through vmnetd; the bytes must arrive intact.
head -c 8388608 /dev/urandom >"$WORK/www/big.bin"
check "a downloads 8 MB from the host intact (host -> guest super-frames)" sh -c \
	"ip netns exec '$A' curl -s -m 20 http://192.168.128.1:$PORT/big.bin | cmp -s - '$WORK/www/big.bin'"
kill "$HTTP_PID" 2>/dev/null; wait "$HTTP_PID" 2>/dev/null
mkdir -p "$WORK/wwwa"; cp "$WORK/www/big.bin" "$WORK/wwwa/up.bin"
ip netns exec "$A" python3 -m http.server --directory "$WORK/wwwa" "$PORT" >"$WORK/http-a.log" 2>&1 &
HTTPA_PID=$!
for _ in $(seq 50); do ip netns exec "$A" ss -ltn | grep -q ":$PORT " && break; sleep 0.1; done
check "the host downloads 8 MB from a intact (guest -> host super-frames)" sh -c \
	"curl -s -m 20 http://$AIP:$PORT/up.bin | cmp -s - '$WORK/www/big.bin'"
kill "$HTTPA_PID" 2>/dev/null; wait "$HTTPA_PID" 2>/dev/null
"$VMNET" status --json >"$WORK/st-bulk.json"
check "the bulk transfers crossed the guest's tap as super-frames (fewer frames than 1514-byte frames need)" \
	python3 -c "
import json,sys; d=json.load(open('$WORK/st-bulk.json'))
p=[p for n in d['networks'] for p in n['ports'] if p.get('kind')=='tap'][0]
sys.exit(0 if p.get('offload') and p['rx_bytes'] > 8e6 and p['rx_frames'] < p['rx_bytes'] / 1514 / 2 else 1)"
check "the host tap took every frame of the bulk transfers (host_drops 0)" python3 -c "
import json,sys; d=json.load(open('$WORK/st-bulk.json')); n=d['networks'][0]
sys.exit(0 if 'host_drops' in n and n['host_drops'] == 0 else 1)"

# A TCP connection from the host to a guest.
# (python at both ends: busybox nc lost the line in about one run in six, with or without vmnet.)
ip netns exec "$A" timeout 10 python3 -c "
import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 7777)); s.listen(1); open('$WORK/nc.ready', 'w').close()
c, _ = s.accept(); d = b''
while True:
    b = c.recv(100)
    if not b: break
    d += b
open('$WORK/nc.out', 'wb').write(d)" &
NC_PID=$!
for _ in $(seq 100); do [ -e "$WORK/nc.ready" ] && break; sleep 0.05; done
python3 -c "
import socket; s = socket.create_connection(('$AIP', 7777), timeout=3)
s.sendall(b'from the host\n'); s.shutdown(socket.SHUT_WR); s.recv(10)" 2>/dev/null
wait "$NC_PID" 2>/dev/null
check "the host opens a TCP connection to a guest" grep -q "from the host" "$WORK/nc.out"

"$VMNET" status >"$WORK/status.txt"; cat "$WORK/status.txt"
check "vmnet status names the host tap" grep -q "host tap $HT" "$WORK/status.txt"
check "detach a" "$VMNET" detach "$A"
check_not "the host tap goes with the network" ip link show dev "$HT"

# A subnet the host already uses is skipped by the default network.
ip link add "${TAG}d0" type veth peer name "${TAG}d1" && ip addr add 192.168.128.200/24 dev "${TAG}d0" && ip link set "${TAG}d0" up
check "attach b while the host uses 192.168.128.0/24" "$VMNET" attach --netns "$B"
"$VMNET" status --json >"$WORK/st.json"
check "the default network moved to 192.168.129.0/24, with its own host tap" python3 -c "
import json,sys; d=json.load(open('$WORK/st.json')); n=d['networks'][0]
sys.exit(0 if n['start']=='192.168.129.1' and n.get('host_tap','').startswith('vmnet-host') else 1)"
check "b gets a lease" dhcp4 "$B" "$WORK/b.lease"
check "b's lease is in 192.168.129.0/24" grep -q '^192\.168\.129\.' "$WORK/b.lease"
ip link del "${TAG}d0"

# An identifier network has no gateway; vmnet_host_ip_address gives the host a tap with that address.
E=$(add_netns e)
NETID=1f0e8a52-9c1b-4e57-8d0c-3a1b2c3d4e5f
check_not "--host-ip on the default network is refused" "$VMNET" attach --netns "$E" --host-ip 10.77.0.1/24
check_not "--host-ip with a network address is refused" "$VMNET" attach --netns "$E" --network $NETID --host-ip 10.77.0.0/24
check "attach e to an identifier network with host address 10.77.0.1/24" \
	"$VMNET" attach --netns "$E" --network $NETID --ip 10.77.0.2/24 --host-ip 10.77.0.1/24
check "a host tap carries 10.77.0.1/24" sh -c "ip -4 -o addr show | grep -q 'vmnet-host[0-9]* *inet 10.77.0.1/24'"
check "the host pings e on the identifier network" ping -c 2 -i 0.2 -W 2 -q 10.77.0.2
check "e pings the host" ip netns exec "$E" ping -c 1 -W 2 -q 10.77.0.1
check "detach e" "$VMNET" detach "$E"
check_not "its host tap goes with it" sh -c "ip -4 -o addr show | grep -q 'inet 10.77.0.1/'"

stop_daemon
check_not "no host tap is left after the daemon stops" sh -c "ip -o link show | grep -q 'vmnet-host'"

# --no-host-tap: the host is left alone.
start_daemon --no-host-tap
check "attach a again (no host tap)" "$VMNET" attach --netns "$A"
check_not "no host tap with --no-host-tap" sh -c "ip -o link show | grep -q 'vmnet-host'"
check "a gets a lease without a host tap" dhcp4 "$A" "$WORK/a2.lease"
check "a pings the gateway (vmnetd answers)" ip netns exec "$A" ping -c 1 -W 2 -q 192.168.128.1
finish
