#!/bin/bash
# The gateway of the default host network: ARP and ping for 192.168.128.1, and
# DHCPv4 with real clients (busybox udhcpc, ISC dhclient) in namespaces:
# leases, stable addresses across re-requests and a daemon restart, no DHCP
# on a network-identifier network.
. "$(dirname "$0")/lib.sh"

dhcp() { dhcp4 "$@"; }

start_daemon
A=$(add_netns a); B=$(add_netns b); C=$(add_netns c)
check "attach a (static address)" "$VMNET" attach --netns "$A" --ip 192.168.128.10/24
check "a pings the gateway 192.168.128.1" ip netns exec "$A" ping -c 2 -i 0.2 -W 2 -q 192.168.128.1
check "a learned the gateway's MAC by ARP" sh -c "ip -n '$A' neigh show 192.168.128.1 | grep -q '02:76:6d:a8:80:01'"

check "attach b (no address)" "$VMNET" attach --netns "$B"
BMAC=$(ip netns exec "$B" cat /sys/class/net/eth0/address)
check "udhcpc in b gets a lease" dhcp "$B" "$WORK/b.lease"
read -r BIP BMASK BROUTER BLEASE BDNS _ <"$WORK/b.lease" 2>/dev/null
echo "b: ip=$BIP mask=$BMASK router=$BROUTER dns=$BDNS lease=$BLEASE"
check "the lease is in the pool 192.168.128.2-254" sh -c "echo '$BIP' | grep -qE '^192\.168\.128\.([2-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])$'"
check "mask 255.255.255.0 (or /24), router 192.168.128.1, lease 86400" \
	sh -c "[ '$BMASK' = 255.255.255.0 -o '$BMASK' = 24 ] && [ '$BROUTER' = 192.168.128.1 ] && [ '$BLEASE' = 86400 ]"
check "the DNS server option names the gateway's proxy" test "$BDNS" = 192.168.128.1
check "b reaches a with its leased address" ip netns exec "$B" ping -c 2 -i 0.2 -W 2 -q 192.168.128.10
check "b pings the gateway" ip netns exec "$B" ping -c 1 -W 2 -q 192.168.128.1
ip -n "$B" addr flush dev eth0
check "b asks again" dhcp "$B" "$WORK/b2.lease"
check "b gets the same address again" test "$(cut -d' ' -f1 "$WORK/b2.lease")" = "$BIP"

check "attach c (no address)" "$VMNET" attach --netns "$C"
ip netns exec "$C" dhclient -1 -4 -sf /bin/true -lf "$WORK/dhclient.leases" -pf "$WORK/dhclient.pid" eth0 >"$WORK/dhclient.log" 2>&1
DHCLIENT_PID=$(cat "$WORK/dhclient.pid" 2>/dev/null)
[ -n "$DHCLIENT_PID" ] && kill "$DHCLIENT_PID" 2>/dev/null
CIP=$(grep -o 'fixed-address [0-9.]*' "$WORK/dhclient.leases" | tail -1 | cut -d' ' -f2)
check "ISC dhclient in c gets a lease ($CIP)" sh -c "[ -n '$CIP' ] && [ '$CIP' != '$BIP' ]"
check "dhclient's lease names our server" grep -q "dhcp-server-identifier 192.168.128.1" "$WORK/dhclient.leases"

"$VMNET" leases >"$WORK/leases.txt"; cat "$WORK/leases.txt"
check "vmnet leases lists b's lease with its MAC" grep -q "$BMAC *$BIP" "$WORK/leases.txt"
check "vmnet leases lists c's lease" grep -q " $CIP " "$WORK/leases.txt"
"$VMNET" leases --json default >"$WORK/leases.json"
check "vmnet leases --json NETWORK: two leases, seconds left within the lease time" python3 -c "
import json,sys; d=json.load(open('$WORK/leases.json')); ls=d['networks'][0]['leases']
live=[l for l in ls if l['expires_in'] > 0]
sys.exit(0 if len(live)>=2 and all(l['expires_in'] <= 86400 for l in ls) else 1)"
check_not "vmnet leases of an unknown network lists none" sh -c "'$VMNET' leases nosuch | grep -q '^network '"
"$VMNET" status --json >"$WORK/st.json"
check "status shows the gateway and DHCP, not as a port" python3 -c "
import json,sys; d=json.load(open('$WORK/st.json')); n=[n for n in d['networks'] if n['name']=='default'][0]
sys.exit(0 if n.get('gateway')=='192.168.128.1' and n.get('dhcp') and all(p['kind']!='gateway' for p in n['ports']) else 1)"

# Leases survive a daemon restart (same state directory).
stop_daemon
check "leases are persisted in the state directory" grep -rq "$BIP" "$WORK/state"
start_daemon
check "re-attach b" "$VMNET" attach --netns "$B"
# The daemon's exit closed b's tap; the new one gets b's old MAC (a VM keeps its MAC across restarts).
ip -n "$B" link set eth0 down; ip -n "$B" link set eth0 address "$BMAC"; ip -n "$B" link set eth0 up
check "after a restart b asks again" dhcp "$B" "$WORK/b3.lease"
check "after a restart b gets the same address" test "$(cut -d' ' -f1 "$WORK/b3.lease" 2>/dev/null)" = "$BIP"

# No DHCP on a network-identifier network (as on macOS).
D=$(add_netns d)
check "attach d to an identifier network" "$VMNET" attach --netns "$D" --network 6e3e3f4c-2c5c-4a8e-9a43-d5b1f6b6a001
check_not "no lease on an identifier network" dhcp "$D" "$WORK/d.lease"
check "daemon still alive" daemon_alive
finish
