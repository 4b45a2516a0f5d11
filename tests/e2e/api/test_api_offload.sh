#!/bin/bash
# The offload keys (TSO, checksum offload, virtio header) of API interfaces
# against a real Linux stack: a namespace on the default host network whose
# tap has offloads, running a python3 server; api_offload speaks UDP and TCP
# to it by hand (see api_offload.c).
#   usage: test_api_offload.sh [API_BUILD_DIR]
. "$(dirname "$0")/../lib.sh"
BIN=${1:-$BUILD/tests/e2e/api}
PEER=192.168.128.50
OWN=192.168.128.60
PEER6=fd00:6f66:6c::50
OWN6=fd00:6f66:6c::60
SRV=""

# The program reads every frame: keep the gateway's router advertisements out.
mkdir -p "$WORK/state" && echo "router-adv=off" >"$WORK/state/network-192.168.128.0-24.conf"
start_daemon
# Not NS=$(add_netns ...): a command substitution is a subshell, and the
# namespace would be missing from NETNS at cleanup.
add_netns off >/dev/null
NS="${TAG}off"
check "attach the namespace at $PEER/24" "$VMNET" attach --netns "$NS" --ip "$PEER/24"
check "the namespace has $PEER6 too" ip -n "$NS" addr add "$PEER6/64" dev eth0 nodad

# The namespace's server, one process: UDP 5001 logs "TAG LEN" per datagram
# to udp.log; TCP 5002 (sink) stores each connection's bytes in sink.PORT
# (PORT: the client's); TCP 5003 (source) sends 100000 bytes of pattern()
# (api_offload.c: source_byte), then waits for the client's FIN.
cat >"$WORK/srv.py" <<'EOF'
import os, socket, sys, threading

work = sys.argv[1]
SOURCE_BYTES = 100000

def pattern(n):
    return bytes(((i * 131) ^ (i >> 9)) & 0xff for i in range(n))

def udp_log(s):
    with open(os.path.join(work, "udp.log"), "ab", buffering=0) as log:
        while True:
            data = s.recv(65535)
            log.write(b"%s %d\n" % (data.split(b" ")[0], len(data)))

def sink(c, peer):
    c.settimeout(10)
    got = bytearray()
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            got += b
    except OSError:
        pass
    path = os.path.join(work, "sink.%d" % peer[1])
    with open(path + ".tmp", "wb") as f:
        f.write(got)
    os.rename(path + ".tmp", path)
    c.close()

def source(c, peer):
    c.settimeout(20)
    try:
        c.sendall(pattern(SOURCE_BYTES))
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()

def serve(s, fn):
    while True:
        c, peer = s.accept()
        threading.Thread(target=fn, args=(c, peer), daemon=True).start()

u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", 5001))
threads = [threading.Thread(target=udp_log, args=(u,), daemon=True)]
for port, fn in ((5002, sink), (5003, source)):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    threads.append(threading.Thread(target=serve, args=(s, fn), daemon=True))
for t in threads:
    t.start()
open(os.path.join(work, "srv.ready"), "w").close()
threads[0].join()
EOF
ip netns exec "$NS" python3 "$WORK/srv.py" "$WORK" 2>"$WORK/srv.log" &
SRV=$!
for _ in $(seq 100); do
	[ -e "$WORK/srv.ready" ] && break
	kill -0 "$SRV" 2>/dev/null || break
	sleep 0.05
done
check "the namespace's server is listening" test -e "$WORK/srv.ready"

timeout -k 5 120 "$BIN/api_offload" "$PEER" "$OWN" "$PEER6" "$OWN6" "$WORK"
RC=$?
check "api_offload passed (exit status $RC)" test "$RC" -eq 0
check "the namespace's server still runs" kill -0 "$SRV"
[ -s "$WORK/srv.log" ] && { echo "server log:"; cat "$WORK/srv.log"; }
kill "$SRV" 2>/dev/null
wait "$SRV" 2>/dev/null
check "daemon still alive" daemon_alive
finish
