#!/bin/bash
# The DNS proxy on the gateway address, with dig in a namespace and dnsmasq
# on 127.0.0.1 as the only upstream (vmnetd --dns-upstream): answers over UDP
# and TCP, NXDOMAIN relayed, an answer larger than a frame truncated over UDP
# (TC) and whole over TCP, the guest's EDNS0 size honoured, IPv6 when the
# gateway has it, and no listening socket of vmnetd on port 53: the host side
# never reaches the proxy.
. "$(dirname "$0")/lib.sh"

DNSMASQ=/usr/sbin/dnsmasq
DNSMASQ_PID=""
GW=192.168.128.1

stop_dnsmasq() {
	[ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null
	DNSMASQ_PID=""
}
trap 'stop_dnsmasq; cleanup' EXIT

# A loopback port free for both UDP and TCP.
free_port() {
	python3 -c "
import socket
while True:
    t = socket.socket(); t.bind(('127.0.0.1', 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(('127.0.0.1', p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()"
}

# NAME with N TXT records of 200 characters each (N * ~210 bytes of answer).
txt_records() { # txt_records NAME N
	local s i
	s=$(printf '%0200d' 0 | tr 0 t)
	for i in $(seq "$2"); do printf -- '--txt-record=%s,%03d%s\n' "$1" "$i" "${s:3}"; done
}

# dig in namespace A, short timeouts: prints dig's output.
qdig() { # qdig [dig args...]
	ip netns exec "$A" dig +time=2 +tries=2 "$@" 2>&1
}

# dig's output in namespace A matches PATTERN (grep -E).
qgrep() { # qgrep PATTERN [dig args...]
	local pat=$1
	shift
	qdig "$@" | grep -qE -- "$pat"
}

# dig's output in namespace A has COUNT lines matching PATTERN.
qcount() { # qcount COUNT PATTERN [dig args...]
	local n=$1 pat=$2
	shift 2
	[ "$(qdig "$@" | grep -cE -- "$pat")" -eq "$n" ]
}

[ -x "$DNSMASQ" ] || { echo "SKIP: $DNSMASQ is not installed"; exit 77; }
command -v dig >/dev/null || { echo "SKIP: dig is not installed"; exit 77; }

PORT=$(free_port)
mapfile -t BIG < <(txt_records big.example.test 10)
mapfile -t MEDIUM < <(txt_records medium.example.test 4)
"$DNSMASQ" --keep-in-foreground --log-facility=- --log-queries --pid-file="$WORK/dnsmasq.pid" \
	--listen-address=127.0.0.1 --port="$PORT" --bind-interfaces --no-resolv --no-hosts \
	--local=/example.test/ --host-record=www.example.test,10.1.2.3 --host-record=six.example.test,10.1.2.6,fd00::6 \
	--address=/wild.test/10.9.9.9 --edns-packet-max=4096 "${BIG[@]}" "${MEDIUM[@]}" \
	>"$WORK/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!
for _ in $(seq 50); do
	dig @127.0.0.1 -p "$PORT" +time=1 +tries=1 +short www.example.test 2>/dev/null | grep -q 10.1.2.3 && break
	sleep 0.1
done
check "dnsmasq answers on 127.0.0.1#$PORT" sh -c "dig @127.0.0.1 -p $PORT +short www.example.test | grep -qx 10.1.2.3"

start_daemon --dns-upstream "127.0.0.1#$PORT"
A=$(add_netns a)
check "attach a (static address)" "$VMNET" attach --netns "$A" --ip 192.168.128.10/24

# Plain answers, UDP and TCP.
check "UDP: www.example.test is 10.1.2.3" qgrep '^10\.1\.2\.3$' @$GW +notcp +short www.example.test
check "TCP: www.example.test is 10.1.2.3" qgrep '^10\.1\.2\.3$' @$GW +tcp +short www.example.test
check "UDP: a wildcard name (wild.test) is 10.9.9.9" qgrep '^10\.9\.9\.9$' @$GW +notcp +short x.y.wild.test
qdig @$GW +notcp www.example.test >"$WORK/www.txt"
check "the answer comes from the gateway and keeps dig's ID (no ID mismatch warning)" \
	sh -c "grep -q 'SERVER: $GW#53' '$WORK/www.txt' && ! grep -qi 'ID mismatch' '$WORK/www.txt' && grep -q 'status: NOERROR' '$WORK/www.txt'"

# NXDOMAIN is relayed, not turned into a timeout or SERVFAIL.
check "UDP: nosuch.example.test is NXDOMAIN" qgrep 'status: NXDOMAIN' @$GW +notcp nosuch.example.test
check "TCP: nosuch.example.test is NXDOMAIN" qgrep 'status: NXDOMAIN' @$GW +tcp nosuch.example.test

# Sizes. medium (~900 bytes) fits an EDNS0 size of 1232, not the classic 512.
qdig @$GW +notcp +bufsize=1232 medium.example.test TXT >"$WORK/medium.txt"
check "UDP, EDNS0 1232: the medium answer whole (4 records, no TC)" \
	sh -c "grep -q 'ANSWER: 4,' '$WORK/medium.txt' && ! grep -q 'flags:.* tc' '$WORK/medium.txt'"
qdig @$GW +notcp +noedns +ignore medium.example.test TXT >"$WORK/medium512.txt"
check "UDP without EDNS0: the medium answer truncated (TC)" grep -q 'flags:.* tc' "$WORK/medium512.txt"
# big (~2.3 kB) is larger than a 1500-byte frame: TC over UDP whatever the guest takes, whole over TCP.
qdig @$GW +notcp +bufsize=4096 +ignore big.example.test TXT >"$WORK/big-udp.txt"
check "UDP, EDNS0 4096: the big answer (larger than a frame) is truncated: TC, header and question only" \
	sh -c "grep -q 'flags:.* tc' '$WORK/big-udp.txt' && grep -q 'QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0' '$WORK/big-udp.txt' &&
	       grep -q 'MSG SIZE  rcvd: 34$' '$WORK/big-udp.txt'"
check "dnsmasq itself sends the big answer whole over UDP (so the TC is the proxy's)" \
	sh -c "dig @127.0.0.1 -p $PORT +notcp +bufsize=4096 +ignore big.example.test TXT | grep -q 'ANSWER: 10,'"
qdig @$GW +tcp big.example.test TXT >"$WORK/big-tcp.txt"
check "TCP: the big answer whole (10 records)" \
	sh -c "grep -q 'ANSWER: 10,' '$WORK/big-tcp.txt' && [ \$(grep -c 'TXT.*\"0[0-9][0-9]t' '$WORK/big-tcp.txt') -eq 10 ]"
qdig @$GW +bufsize=4096 big.example.test TXT >"$WORK/big-auto.txt"
check "dig's own fallback: TC over UDP, then the whole answer over TCP" \
	sh -c "grep -q 'Truncated, retrying in TCP mode' '$WORK/big-auto.txt' && grep -q 'ANSWER: 10,' '$WORK/big-auto.txt'"
check "TCP: several queries on one connection (+keepopen)" \
	qcount 3 '^10\.' @$GW +tcp +keepopen +short www.example.test six.example.test x.wild.test

# Many queries in a row: all answered (the pending table and IDs keep up).
check "50 queries in a row over UDP, all answered" sh -c "
	for i in \$(seq 50); do echo \"q\$i.wild.test\"; done >'$WORK/batch'
	[ \$(ip netns exec '$A' dig @$GW +notcp +time=2 +tries=2 +short -f '$WORK/batch' | grep -c '^10\.9\.9\.9$') -eq 50 ]"

# IPv6, when the gateway has an address (status --json) and the guest takes RAs.
GW6=$("$VMNET" status --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
n=[n for n in d['networks'] if n['name']=='default'][0]; print(n.get('gateway6', ''))" 2>/dev/null)
if [ -n "$GW6" ]; then
	ip netns exec "$A" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.eth0.accept_ra=1 \
		net.ipv6.conf.eth0.autoconf=1
	ip -n "$A" link set eth0 down; ip -n "$A" link set eth0 up
	for _ in $(seq 60); do
		ip -n "$A" -6 -o addr show dev eth0 scope global -tentative | grep -q inet6 && break
		sleep 0.1
	done
	check "IPv6 UDP: AAAA of six.example.test via $GW6" qgrep '^fd00::6$' @"$GW6" +notcp +short six.example.test AAAA
	check "IPv6 TCP: the big answer whole via $GW6" qgrep 'ANSWER: 10,' @"$GW6" +tcp big.example.test TXT
	check "IPv6 UDP: the big answer truncated (a frame takes 1452 bytes of DNS)" \
		qgrep 'flags:.* tc' @"$GW6" +notcp +bufsize=4096 +ignore big.example.test TXT
else
	echo "skip: the gateway has no IPv6 address"
fi

# The proxy is only for guests: vmnetd listens on no port 53, UDP or TCP, on any address.
ss -H -lunp >"$WORK/ss-udp.txt"; ss -H -ltnp >"$WORK/ss-tcp.txt"
check_not "no vmnetd UDP socket bound to port 53" grep -E "[:.]53 .*pid=$DAEMON_PID," "$WORK/ss-udp.txt"
check_not "no vmnetd TCP listener at all" grep -q "pid=$DAEMON_PID," "$WORK/ss-tcp.txt"
check_not "no socket of any process bound to port 53 on the gateway address" \
	grep -E "$GW:53 " "$WORK/ss-udp.txt" "$WORK/ss-tcp.txt"
check_not "from the host, $GW:53 gives no proxied answer" sh -c "dig @$GW +time=1 +tries=1 +short www.example.test | grep -q 10.1.2.3"

# The upstream going away: no answer (given up after ~5 s), the proxy and daemon stay up.
stop_dnsmasq
check_not "upstream gone: no answer over UDP" qgrep '^10\.1\.2\.3$' @$GW +notcp +short www.example.test
check_not "upstream gone: no answer over TCP" qgrep '^10\.1\.2\.3$' @$GW +tcp +short www.example.test
check "a still pings the gateway" ip netns exec "$A" ping -c 1 -W 2 -q $GW
check "daemon still alive" daemon_alive
finish
