#!/bin/bash
# Socket attachments without a real VM: vmmpeer.py plays the VMM over QEMU's
# stream framing, over datagrams (QEMU and vfkit style) and over a descriptor
# from `vmnet run --fd`. Also every kind of bad input a VMM can send: the bad
# client is cut, vmnetd and the other ports go on.
. "$(dirname "$0")/lib.sh"

PEER="python3 $(dirname "$0")/vmmpeer.py"
start_daemon
S1="$WORK/vm1.sock" S2="$WORK/vm2.sock"

port_field() { # port_field NAME FIELD — a counter of a port from vmnet status --json
	"$VMNET" status --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
print(next((p['$2'] for n in d['networks'] for p in n['ports'] if p['name']=='$1'), 'none'))"
}

check "attach --qemu-stream" "$VMNET" attach --qemu-stream "$S1"
check "the socket file is there, owned by root, mode 0700" sh -c "[ -S '$S1' ] && [ \"\$(stat -c %a '$S1')\" = 700 ]"
check "status lists vm1 as a persistent stream attachment" sh -c \
	"'$VMNET' status --json | grep -q '\"kind\": \"stream\"' && '$VMNET' status | grep -q 'vm1 .* persistent'"
check_not "a second attachment on the same path is refused" "$VMNET" attach --qemu-stream "$S1" --name other
check_not "the same name again is refused" "$VMNET" attach --qemu-stream "$WORK/x.sock" --name vm1
echo plain >"$WORK/file"
check_not "a path that is not a socket is never replaced" "$VMNET" attach --dgram "$WORK/file"
check "and the file is untouched" grep -q plain "$WORK/file"
check_not "a relative name beyond the socket limit is refused" "$VMNET" attach --dgram "$WORK/$(printf 'x%.0s' $(seq 120))"

check "stream: DHCP offer from the gateway" $PEER stream "$S1" dhcp 52:54:00:00:00:01
check "stream: ARP reply from the gateway" $PEER stream "$S1" arp 52:54:00:00:00:01 192.168.128.50 192.168.128.1
check "stream: two connections are two ports (unicast between them)" $PEER stream "$S1" pair "$S1"
check "stream: 20000 frames of 60 to 1514 bytes VM to VM arrive intact and in order" $PEER stream "$S1" bulk 20000
check "stream: a reconnecting client gets the same lease each time" $PEER stream "$S1" reconnect 52:54:00:00:00:09 3

for k in zero huge garbage midframe; do
	check "bad input ($k): the client is cut, another client keeps working" $PEER stream "$S1" bad $k
done
check "a sane length over the MTU: frame skipped, connection kept" $PEER stream "$S1" bad oversize
# The daemon logs a cut client when it next reads that connection: give it a moment.
for _ in $(seq 50); do grep -q "in the middle of a frame" "$WORK/vmnetd.log" && break; sleep 0.1; done
check "the log names the bad length" grep -q "bad frame length 0 " "$WORK/vmnetd.log"
check "the log tells of the client cut mid-frame" grep -q "in the middle of a frame" "$WORK/vmnetd.log"
check "flood against a reader that does not read: it still works afterwards" $PEER stream "$S1" flood 100000
check "vmnetd answers after the flood" timeout 5 "$VMNET" status

check "attach --dgram" "$VMNET" attach --dgram "$S2" --name vm2
check "dgram (QEMU style, own bound path): DHCP offer" $PEER dgram "$S2" dhcp 52:54:00:00:00:02
check "dgram (vfkit style, VFKT hello): DHCP offer" $PEER vfkit "$S2" dhcp 52:54:00:00:00:03
check_not "dgram from an unbound socket gets nothing" $PEER unbound "$S2" dhcp 52:54:00:00:00:04
check "the log says why" grep -q "without an address dropped" "$WORK/vmnetd.log"
check "dgram and stream ports share the network" $PEER dgram "$S2" pair "$S1" stream
check "status lists vm2 as dgram" sh -c "'$VMNET' status | grep -q 'dgram  vm2'"

# vhost-user: vhostpeer.py is the front-end, with a sealed memfd as guest memory.
S3="$WORK/vu.sock"
VHOST="python3 $(dirname "$0")/vhostpeer.py"
check "attach --vhost-user" "$VMNET" attach --vhost-user "$S3" --name vu
check "vhost-user: DHCP offer through the guest's queues" $VHOST "$S3" dhcp 52:54:00:00:00:06
for k in unsealed shortmem outside loop index request features; do
	check "vhost-user, bad front-end ($k): disconnected" $VHOST "$S3" bad $k
done
check "the log says why (memory not sealed)" grep -q "not a sealed memfd" "$WORK/vmnetd.log"
check "the log says why (descriptor outside guest memory)" grep -q "points outside guest memory" "$WORK/vmnetd.log"
check "vhost-user still serves a good front-end" $VHOST "$S3" dhcp 52:54:00:00:00:07
check "and the stream port too" $PEER stream "$S1" dhcp 52:54:00:00:00:01
check "detach vu" "$VMNET" detach vu

check "run --fd 3: the VMM's descriptor 3 is a stream port" \
	"$VMNET" run --fd 3 --name fdvm -- $PEER fd 3 dhcp 52:54:00:00:00:05
check "the run port is gone once the command exited" test "$(port_field fdvm id)" = none
"$VMNET" run --fd 5 -- sh -c 'exit 9'
check "run --fd returns the VMM's exit status" test $? -eq 9
check_not "run --fd with a socket path is a usage error" "$VMNET" run --fd 3 --qemu-stream "$S1" -- true
check_not "run --fd 1 is refused (stdio)" "$VMNET" run --fd 1 -- true

# A client connected while its attachment is detached is cut.
python3 -c "
import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
open(sys.argv[2],'w').write('connected')
sys.exit(0 if s.recv(1)==b'' else 1)" "$S1" "$WORK/conn.flag" &
CL=$!
for _ in $(seq 50); do [ -s "$WORK/conn.flag" ] && break; sleep 0.1; done
sleep 0.2
check "detach vm1" "$VMNET" detach vm1
wait $CL
check "its connected client was cut" test $? -eq 0
check "detach vm2" "$VMNET" detach vm2
check "the socket files are removed" sh -c "[ ! -e '$S1' ] && [ ! -e '$S2' ]"
check_not "detach of an unknown name fails" "$VMNET" detach vm1
check "no port left" sh -c "'$VMNET' status | grep -q 'no networks'"

# A stale socket file (no listener) is replaced.
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$S1"
check "a stale socket file is replaced" "$VMNET" attach --qemu-stream "$S1"
check "daemon still alive" daemon_alive
finish
