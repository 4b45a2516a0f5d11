#!/bin/bash
# `vmnet config`: per-network settings of the gateway services. A lease time
# and a reservation honoured by a real DHCP client, settings applied to a
# running network at once (DHCP switched off hands out nothing), kept across
# a daemon restart, and every bad value refused with a clear error.
. "$(dirname "$0")/lib.sh"

start_daemon
"$VMNET" config >"$WORK/c0.txt" 2>&1; cat "$WORK/c0.txt"
check "defaults of the (not yet running) default network: lease time 86400, DHCP on" \
	sh -c "grep -q 'lease-time=86400' '$WORK/c0.txt' && grep -q 'dhcp=on' '$WORK/c0.txt' && grep -q 'not running' '$WORK/c0.txt'"
check "set a lease time and a reservation before the network exists" \
	"$VMNET" config default lease-time=600 reserve=02:00:00:aa:bb:cc,192.168.128.77 domain=vm.test
check "the settings file is in the state directory" \
	grep -q "reserve=02:00:00:aa:bb:cc 192.168.128.77" "$WORK/state/network-192.168.128.0-24.conf"

A=$(add_netns a); B=$(add_netns b)
check "attach a" "$VMNET" attach --netns "$A"
ip -n "$A" link set eth0 down; ip -n "$A" link set eth0 address 02:00:00:aa:bb:cc; ip -n "$A" link set eth0 up
check "a (the reserved MAC) gets a lease" dhcp4 "$A" "$WORK/a.lease"
read -r AIP _ _ ALEASE _ ADOM <"$WORK/a.lease" 2>/dev/null
echo "a: ip=$AIP lease=$ALEASE domain=$ADOM"
check "the reservation is honoured (192.168.128.77)" test "$AIP" = 192.168.128.77
check "the configured lease time is offered (600 s)" test "$ALEASE" = 600
check "the domain option carries vm.test" test "$ADOM" = vm.test
# A renewal: udhcpc stays in the background; SIGUSR1 makes it renew (a unicast REQUEST) at once.
LEASE_OUT="$WORK/a-bg.lease" ip netns exec "$A" busybox udhcpc -i eth0 -f -t 4 -T 1 -s "$WORK/udhcpc.sh" \
	>"$WORK/udhcpc-bg.log" 2>&1 &
UPID=$!
for _ in $(seq 50); do [ -s "$WORK/a-bg.lease" ] && break; sleep 0.1; done
rm -f "$WORK/a-bg.lease"
kill -USR1 "$UPID" 2>/dev/null
for _ in $(seq 50); do [ -s "$WORK/a-bg.lease" ] && break; sleep 0.1; done
kill "$UPID" 2>/dev/null; wait "$UPID" 2>/dev/null
cat "$WORK/udhcpc-bg.log"
check "a renews its lease (same address, lease time 600)" grep -q "^192.168.128.77 .* 600 " "$WORK/a-bg.lease"
check "udhcpc says it renewed" grep -qi "sending renew" "$WORK/udhcpc-bg.log"
"$VMNET" leases >"$WORK/leases.txt"; cat "$WORK/leases.txt"
check "vmnet leases shows the lease time and the reservation" \
	sh -c "grep -q 'lease time 600 s' '$WORK/leases.txt' && grep -q '02:00:00:aa:bb:cc *192.168.128.77 .*reserved' '$WORK/leases.txt'"

# Changes apply to the running network at once.
check "switch DHCP off on the running network" "$VMNET" config default dhcp=off
"$VMNET" config --json >"$WORK/c1.json"
check "config --json: running, dhcp off, reservation kept" python3 -c "
import json,sys; d=json.load(open('$WORK/c1.json'))
sys.exit(0 if d['running'] and not d['dhcp'] and d['reservations'][0]['ip']=='192.168.128.77' else 1)"
check "attach b" "$VMNET" attach --netns "$B"
check_not "b gets no lease with DHCP off" dhcp4 "$B" "$WORK/b.lease" 2
check "a still reaches the gateway (ARP/ICMP stay on)" ip netns exec "$A" ping -c 1 -W 2 -q 192.168.128.1
check "switch DHCP on again" "$VMNET" config default dhcp=on
check "b now gets a lease" dhcp4 "$B" "$WORK/b.lease"
check "unreserve the MAC" "$VMNET" config default unreserve=02:00:00:aa:bb:cc
check_not "the reservation is gone from the file" grep -q "reserve=" "$WORK/state/network-192.168.128.0-24.conf"

# Bad values: refused, nothing changed.
check_not "lease time below a minute is refused" "$VMNET" config default lease-time=5
check_not "a reservation outside the subnet is refused" "$VMNET" config default reserve=02:00:00:00:00:09,10.0.0.5
check_not "reserving the gateway address is refused" "$VMNET" config default reserve=02:00:00:00:00:09,192.168.128.1
check_not "a multicast MAC is refused" "$VMNET" config default reserve=01:00:5e:00:00:01,192.168.128.90
check_not "an unknown key is refused" "$VMNET" config default colour=blue
check_not "a bad on/off value is refused" "$VMNET" config default dns=maybe
check_not "a non-/64 prefix is refused" "$VMNET" config default prefix=fd00::/48
check_not "an unknown network is refused" "$VMNET" config nosuchnet lease-time=600
"$VMNET" config default lease-time=5 2>"$WORK/err.txt"
check "the error names the bad setting" grep -q "lease-time=5" "$WORK/err.txt"
check "the lease time is still 600 after the refusals" grep -q "lease-time=600" "$WORK/state/network-192.168.128.0-24.conf"
check "another subnet can be configured ahead" "$VMNET" config 192.168.140.0/24 ipv6=off
check "its own file" grep -q "ipv6=off" "$WORK/state/network-192.168.140.0-24.conf"

# Settings survive a restart.
stop_daemon
start_daemon
"$VMNET" config >"$WORK/c2.txt"
check "after a restart the lease time is still 600" grep -q "lease-time=600" "$WORK/c2.txt"

# A hand-broken file: the daemon serves defaults and says why.
echo "lease-time=banana" >>"$WORK/state/network-192.168.128.0-24.conf"
C=$(add_netns c)
check "attach c with a broken settings file" "$VMNET" attach --netns "$C"
check "c still gets a lease (defaults)" dhcp4 "$C" "$WORK/c.lease"
check "the daemon log names the bad line" grep -q "network-192.168.128.0-24.conf: line .*lease-time=banana" "$WORK/vmnetd.log"
finish
