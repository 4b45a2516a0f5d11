#!/bin/bash
# Real virtual machines: a Linux guest under QEMU (TCG; tests/guest/) on a
# stream attachment, on a datagram attachment, through `vmnet run --fd 3`
# and on a vhost-user attachment (the guest's queues served by vmnetd).
# Each guest gets a DHCP lease, pings the gateway, resolves a name through
# the DNS proxy (dnsmasq on the host's loopback as upstream) and fetches a
# page from an HTTP server on the host (reached at the host tap's gateway
# address); guests in pairs (stream + dgram, fd + vhost-user) reach each
# other. At most two guests run at once.
. "$(dirname "$0")/lib.sh"
HOST_TAP=1
GUEST="$(dirname "$0")/../guest"
DNSMASQ=/usr/sbin/dnsmasq

command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 is not installed"; exit 77; }
[ -x "$DNSMASQ" ] || { echo "SKIP: $DNSMASQ is not installed"; exit 77; }
T0=$(date +%s)
"$GUEST/build.sh"
rc=$?
[ $rc = 77 ] && { echo "SKIP: the guest image cannot be built here"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: tests/guest/build.sh"; exit 1; }

stop_servers() {
	local p
	for p in ${DNSMASQ_PID:-} ${HTTP_PID:-}; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	DNSMASQ_PID="" HTTP_PID=""
}
trap 'stop_servers; cleanup' EXIT

# The DNS upstream on the host's loopback (the HTTP server follows once the host tap exists).
DNS_PORT=$((20000 + RANDOM % 20000))
"$DNSMASQ" --keep-in-foreground --log-facility=- --pid-file="$WORK/dnsmasq.pid" --listen-address=127.0.0.1 \
	--port="$DNS_PORT" --bind-interfaces --no-resolv --no-hosts --address=/example.test/10.1.2.3 \
	>"$WORK/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!

start_daemon --dns-upstream "127.0.0.1#$DNS_PORT"
# Fixed addresses for the guests that look for each other.
"$VMNET" config default reserve=52:54:00:00:00:0a,192.168.128.50 reserve=52:54:00:00:00:0b,192.168.128.51 \
	reserve=52:54:00:00:00:0c,192.168.128.52 reserve=52:54:00:00:00:0d,192.168.128.53 >/dev/null
S1="$WORK/stream.sock" S2="$WORK/dgram.sock"
check "attach a stream socket" "$VMNET" attach --qemu-stream "$S1" --name qs
check "attach a datagram socket" "$VMNET" attach --dgram "$S2" --name qd
# The network exists now, and with it the host tap carrying the gateway address: the web server listens there.
HTTP_PORT=$((DNS_PORT + 1))
mkdir -p "$WORK/www"
echo "hello from the host $$" >"$WORK/www/hello.txt"
python3 -m http.server --bind 192.168.128.1 --directory "$WORK/www" "$HTTP_PORT" >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do ss -ltn | grep -q "192.168.128.1:$HTTP_PORT " && break; sleep 0.1; done

# guest_script FILE [PEER] — the checks a guest runs: lease, gateway, DNS, HTTP (and a peer guest).
guest_script() {
	cat >"$1" <<EOF
fail() { echo "FAIL: \$*"; exit 1; }
ip -4 addr show dev eth0 | grep -q 'inet 192.168.128\.' || fail "no lease in 192.168.128.0/24"
ping -c 2 -W 3 192.168.128.1 >/dev/null || fail "ping the gateway"
echo "ok: ping gateway"
nslookup www.example.test >/tmp/ns 2>&1
grep -q 10.1.2.3 /tmp/ns || { cat /tmp/ns; fail "DNS through the gateway's proxy"; }
echo "ok: DNS www.example.test = 10.1.2.3"
timeout 15 wget -q -O /tmp/page http://192.168.128.1:$HTTP_PORT/hello.txt || fail "HTTP from the host"
grep -q "hello from the host $$" /tmp/page || fail "the page's content"
echo "ok: HTTP page from the host"
EOF
	[ -n "${2:-}" ] && cat >>"$1" <<EOF
i=0
until ping -c 1 -W 1 $2 >/dev/null 2>&1; do i=\$((i + 1)); [ \$i -lt 60 ] || fail "peer $2 unreachable"; done
echo "ok: peer guest $2 answers"
sleep 5 # stay up until the peer has reached us too
EOF
	return 0
}
guest_script "$WORK/full.sh"

# upload_server N MD5FILE — a TCP server on the gateway address (port DNS_PORT + 1 + N) that
# writes the md5 and length of what it receives; runs in the background ($! is its PID).
upload_server() {
	python3 - "$((DNS_PORT + 1 + $1))" "$2" >>"$WORK/upload.log" 2>&1 <<'EOPY' &
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.168.128.1", int(sys.argv[1]))); s.listen(1); s.settimeout(170)
c, _ = s.accept(); c.settimeout(60); h = hashlib.md5(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
open(sys.argv[2], "w").write("%s %d\n" % (h.hexdigest(), n))
EOPY
}
# upload_lines SCRIPT N — the guest sends 2 MB of random bytes to upload_server N, and prints their md5.
upload_lines() {
	cat >>"$1" <<EOS
dd if=/dev/urandom of=/tmp/big bs=1024 count=2048 2>/dev/null
echo "upload-md5 \$(md5sum /tmp/big | cut -d' ' -f1)"
timeout 60 nc 192.168.128.1 $((DNS_PORT + 1 + $2)) </tmp/big || fail "upload to the host"
echo "ok: uploaded 2 MB to the host"
EOS
}
# upload_ok GUEST-OUTPUT MD5FILE — what the guest sent is what the host got.
upload_ok() {
	local sum
	sum=$(sed -n 's/^ *\(\[[a-z]*\] \)\{0,1\}upload-md5 //p' "$1" | tr -d '\r')
	[ -n "$sum" ] && grep -qx "$sum 2097152" "$2"
}
# The stream guest uploads too: its 1514-byte frames are merged per batch for the host tap.
upload_server 1 "$WORK/upload1.md5"
UP1_PID=$!
upload_lines "$WORK/full.sh" 1

boot() { # boot LABEL RUN.SH-ARGS... — one guest; its output goes to the test log
	local label=$1 t rc
	shift
	t=$(date +%s)
	"$GUEST/run.sh" -t 150 "$@" >"$WORK/guest-$label.out" 2>&1
	rc=$?
	sed "s/^/  [$label] /" "$WORK/guest-$label.out"
	echo "  [$label] $(($(date +%s) - t)) s"
	return $rc
}

check "stream: QEMU -netdev stream guest (lease, gateway, DNS, HTTP)" \
	boot stream "$WORK/full.sh" -- -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$S1"
check "the guest's lease is in vmnet leases" sh -c "'$VMNET' leases | grep -q 52:54:00:12:34:56"
wait "$UP1_PID" 2>/dev/null
check "stream: 2 MB from the guest arrive intact at the host" upload_ok "$WORK/guest-stream.out" "$WORK/upload1.md5"
"$VMNET" status --json >"$WORK/st-up.json"
check "the guest's TCP segments were merged for the host tap" python3 -c "
import json,sys; d=json.load(open('$WORK/st-up.json'))
sys.exit(0 if any(n.get('host_merged', 0) > 100 for n in d['networks']) else 1)"

# Two guests at once: a on the stream socket, b on the datagram socket (QEMU binds its own path).
guest_script "$WORK/a.sh" 192.168.128.51
guest_script "$WORK/b.sh" 192.168.128.50
boot a -m 52:54:00:00:00:0a "$WORK/a.sh" -- -netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$S1" &
A_PID=$!
boot b -m 52:54:00:00:00:0b "$WORK/b.sh" -- \
	-netdev "dgram,id=n0,local.type=unix,local.path=$WORK/b.local.sock,remote.type=unix,remote.path=$S2"
B_RC=$?
wait $A_PID
A_RC=$?
check "dgram: QEMU -netdev dgram guest b (lease, gateway, DNS, HTTP, reaches guest a)" test $B_RC -eq 0
check "stream guest a reaches guest b on the dgram port" test $A_RC -eq 0

# Two more: c through `vmnet run --fd 3`, d on vhost-user (guest RAM in a sealed memfd shared
# with vmnetd; QEMU 7.2 under TCG crashes setting up MSI-X notifiers for vhost devices, so
# that NIC goes without MSI-X).
S3="$WORK/vhost.sock"
check "attach a vhost-user socket" "$VMNET" attach --vhost-user "$S3" --name qv
guest_script "$WORK/c.sh" 192.168.128.53
guest_script "$WORK/d.sh" 192.168.128.52
# d also uploads 2 MB to the host: with vhost-user offloads its stack sends 64 KiB TCP
# super-frames, which go whole into the host tap (it has offloads too).
upload_server 2 "$WORK/upload.md5"
UP_PID=$!
upload_lines "$WORK/d.sh" 2
boot c -m 52:54:00:00:00:0c -x "$VMNET run --fd 3 --name fdvm --" "$WORK/c.sh" -- \
	-netdev "stream,id=n0,addr.type=fd,addr.str=3" &
C_PID=$!
boot d -S -d ,vectors=0 -m 52:54:00:00:00:0d "$WORK/d.sh" -- \
	-chardev "socket,id=c0,path=$S3" -netdev vhost-user,id=n0,chardev=c0
D_RC=$?
wait $C_PID
C_RC=$?
check "fd: vmnet run --fd 3 -- qemu -netdev stream,addr.type=fd guest c (lease, gateway, DNS, HTTP, reaches d)" \
	test $C_RC -eq 0
check "vhost-user: QEMU -netdev vhost-user guest d (lease, gateway, DNS, HTTP, reaches c)" test $D_RC -eq 0
check "the run port is gone with the VMM" sh -c "! '$VMNET' status | grep -q fdvm"
wait $UP_PID 2>/dev/null
check "vhost-user: the guest negotiated offloads (sends and takes super-frames)" \
	grep -q "vhost qv.1: features .*: the guest sends offloaded frames and takes them" "$WORK/vmnetd.log"
check "vhost-user: 2 MB from the guest arrive intact at the host" upload_ok "$WORK/guest-d.out" "$WORK/upload.md5"
check "the vhost-user front-end was a port of its own, gone with QEMU" sh -c \
	"grep -q 'vhost qv: front-end connected: port .* (qv.1)' '$WORK/vmnetd.log' && ! '$VMNET' status | grep -q qv.1"
check "detach the vhost-user attachment" "$VMNET" detach qv

check "status still lists both attachments" sh -c "'$VMNET' status | grep -q 'stream qs' && '$VMNET' status | grep -q 'dgram  qd'"
check "detach both" sh -c "'$VMNET' detach qs && '$VMNET' detach qd"
check "their socket files are gone" sh -c "[ ! -e '$S1' ] && [ ! -e '$S2' ]"
check "daemon still alive" daemon_alive
echo "guest suite: $(($(date +%s) - T0)) s"
stop_servers
finish
