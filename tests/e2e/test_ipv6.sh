#!/bin/bash
# IPv6 on the default host network, with the kernel's own stack in
# namespaces: SLAAC from the gateway's router advertisements (prefix, RDNSS,
# DNSSL as rdisc6 sees them), neighbour discovery and ping -6 of the
# gateway's link-local and global addresses, stateless DHCPv6 with ISC
# dhclient -S naming the gateway as DNS server; then, with router
# advertisements switched off, no RA and no SLAAC while NDP and ping stay.
. "$(dirname "$0")/lib.sh"

# The gateway's IPv6 addresses and MAC as vmnetd reports them (status --json).
gw_field() { # gw_field KEY
	"$VMNET" status --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
n=[n for n in d['networks'] if n['name']=='default'][0]; print(n.get(sys.argv[1], ''))" "$1"
}

# Let the namespace's kernel take RAs and autoconfigure, then bounce the link
# so that it solicits at once with those settings.
ra_on() { # ra_on NS
	ip netns exec "$1" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 net.ipv6.conf.eth0.accept_ra=1 \
		net.ipv6.conf.eth0.autoconf=1 net.ipv6.conf.eth0.forwarding=0
	ip -n "$1" link set eth0 down
	ip -n "$1" link set eth0 up
}

# A global, non-tentative address on eth0 of NS, within ~SECS seconds. Prints it.
slaac_addr() { # slaac_addr NS SECS
	local a
	for _ in $(seq $(($2 * 10))); do
		a=$(ip -n "$1" -6 -o addr show dev eth0 scope global -tentative | awk '{print $4}' | head -1)
		if [ -n "$a" ]; then echo "${a%/*}"; return 0; fi
		sleep 0.1
	done
	return 1
}

# eth0 of NS has a usable (non-tentative) link-local address within ~5 s: it can send.
ll_ready() { # ll_ready NS
	for _ in $(seq 50); do
		ip -n "$1" -6 -o addr show dev eth0 scope link -tentative | grep -q fe80 && return 0
		sleep 0.1
	done
	return 1
}

in_prefix() { # in_prefix ADDR PREFIX/64
	python3 -c "import ipaddress,sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)" "$1" "$2"
}

start_daemon
check "set a search domain for the default network" "$VMNET" config default domain=vm6.test
A=$(add_netns a)
check "attach a" "$VMNET" attach --netns "$A"
ra_on "$A"
GW6=$(gw_field gateway6); GWLL=$(gw_field gateway6_ll); GWMAC=$(gw_field gateway_mac)
PREFIX=$("$VMNET" config --json default | python3 -c "import json,sys; print(json.load(sys.stdin)['prefix'])")
echo "gateway: $GW6 $GWLL $GWMAC, prefix $PREFIX"
check "the gateway has IPv6: a ULA /64 and prefix::1" \
	sh -c "echo '$PREFIX' | grep -q '^fd[0-9a-f:]*::/64$' && [ '$GW6' = '${PREFIX%/64}1' ]"

AADDR=$(slaac_addr "$A" 10)
echo "a: SLAAC address ${AADDR:-none}"
check "a gets a SLAAC address from the advertised prefix within 10 s" in_prefix "${AADDR:-::}" "$PREFIX"
check "a's address is its own, not the gateway's ::1" \
	sh -c "[ -n '$AADDR' ] && [ '$AADDR' != '$GW6' ]"
check "the kernel put the prefix on-link" sh -c "ip -n '$A' -6 route show dev eth0 | grep -q '^${PREFIX} '"
check_not "host mode: router lifetime 0, so no default route through the gateway" \
	sh -c "ip -n '$A' -6 route show default | grep -q ."

ip netns exec "$A" rdisc6 -1 -w 3000 -r 3 eth0 >"$WORK/rdisc6.txt" 2>&1
cat "$WORK/rdisc6.txt"
check "rdisc6: an RA from the gateway's link-local address" grep -qi "from $GWLL" "$WORK/rdisc6.txt"
check "rdisc6: the prefix, on-link and autonomous" \
	sh -c "grep -qi 'Prefix *: $PREFIX' '$WORK/rdisc6.txt' && grep -qi 'On-link *: *Yes' '$WORK/rdisc6.txt' &&
	       grep -qi 'Autonomous address conf.*Yes' '$WORK/rdisc6.txt'"
check "rdisc6: the RDNSS is the gateway's global address" grep -qi "Recursive DNS server *: $GW6" "$WORK/rdisc6.txt"
check "rdisc6: the DNS search list carries vm6.test" grep -qi "DNS search list *: vm6.test" "$WORK/rdisc6.txt"
check "rdisc6: other configuration (O) set, managed (M) not" \
	sh -c "grep -qi 'Stateful other conf.*Yes' '$WORK/rdisc6.txt' && grep -qi 'Stateful address conf.*No' '$WORK/rdisc6.txt'"
check "rdisc6: source link-layer address is the gateway's MAC" grep -qi "Source link-layer address: $GWMAC" "$WORK/rdisc6.txt"

check "a pings the gateway's link-local address" ip netns exec "$A" ping -6 -c 2 -i 0.2 -W 2 -q "$GWLL%eth0"
check "a pings the gateway's global address" ip netns exec "$A" ping -6 -c 2 -i 0.2 -W 2 -q "$GW6"
ip -n "$A" -6 neigh show dev eth0 >"$WORK/neigh.txt"; cat "$WORK/neigh.txt"
check "a learned the gateway's MAC for its link-local address (NDP)" grep -qi "^$GWLL lladdr $GWMAC" "$WORK/neigh.txt"
check "a learned the gateway's MAC for its global address (NDP)" grep -qi "^$GW6 lladdr $GWMAC" "$WORK/neigh.txt"

# Stateless DHCPv6. dhclient runs its script with an environment of its own
# making, so the output path is written into the script.
cat >"$WORK/dh6.sh" <<EOS
#!/bin/sh
echo "\$reason \${new_dhcp6_name_servers:--} \${new_dhcp6_domain_search:--}" >>"$WORK/dh6.out"
exit 0
EOS
chmod +x "$WORK/dh6.sh"
timeout 20 ip netns exec "$A" dhclient -6 -S -1 -v -sf "$WORK/dh6.sh" -lf "$WORK/dh6.leases" \
	-pf "$WORK/dh6.pid" eth0 >"$WORK/dh6.log" 2>&1
DH6_PID=$(cat "$WORK/dh6.pid" 2>/dev/null)
[ -n "$DH6_PID" ] && kill "$DH6_PID" 2>/dev/null
cat "$WORK/dh6.out" 2>/dev/null || tail -20 "$WORK/dh6.log"
# The reason is INFORM6 upstream; Debian's 4.4 reports an information reply as RENEW6.
check "dhclient -6 -S: the gateway's global address is the DNS server" grep -qi "^[A-Z0-9]* $GW6 " "$WORK/dh6.out"
check "dhclient -6 -S: the domain search list is vm6.test" grep -qi "^[A-Z0-9]* .* vm6\.test\.\?$" "$WORK/dh6.out"

# Router advertisements off (applied to the running network): the kernel of a
# new guest hears no RA and makes no global address; neighbour discovery and
# echo for the link-local address go on.
check "switch router advertisements off" "$VMNET" config default router-adv=off
B=$(add_netns b)
check "attach b" "$VMNET" attach --netns "$B"
ra_on "$B"
check "b has a usable link-local address" ll_ready "$B"
check_not "rdisc6 in b hears no RA" ip netns exec "$B" rdisc6 -1 -w 1000 -r 2 eth0
check_not "b gets no SLAAC address (5 s)" slaac_addr "$B" 5
check "b still pings the gateway's link-local address" ip netns exec "$B" ping -6 -c 2 -i 0.2 -W 2 -q "$GWLL%eth0"
check "b learned the gateway's MAC by NDP" sh -c "ip -n '$B' -6 neigh show dev eth0 | grep -qi '^$GWLL lladdr $GWMAC'"
check "switch router advertisements on again" "$VMNET" config default router-adv=on
ll_ready "$B"
check "rdisc6 in b hears the RA again" ip netns exec "$B" rdisc6 -1 -w 3000 -r 3 eth0
BADDR=$(slaac_addr "$B" 10)
check "b now gets a SLAAC address (${BADDR:-none})" in_prefix "${BADDR:-::}" "$PREFIX"
check "daemon still alive" daemon_alive
finish
