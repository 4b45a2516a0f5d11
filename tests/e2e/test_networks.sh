#!/bin/bash
# Named networks: `vmnet network create|list|show|delete`, namespaces attached
# by name (a reservation honoured, DHCP off honoured, a shared one routed by
# its gateway), definitions kept across a daemon restart (and a broken one
# ignored), deletion detaching guests, bad arguments and other users refused.
. "$(dirname "$0")/lib.sh"
HOST_TAP=1 # shared mode needs the host tap and kernel NAT
DEFS="$WORK/state/networks"

listed() { "$VMNET" network list | awk 'NR > 1 {print $1}' | grep -qx "$1"; }
show_has() { "$VMNET" network show "$1" | grep -qE "$2"; }
set_mac() { ip -n "$1" link set eth0 down; ip -n "$1" link set eth0 address "$2"; ip -n "$1" link set eth0 up; }

start_daemon --socket-mode 0666
check "no named networks at first" sh -c "'$VMNET' network list | grep -q 'no named networks'"
check "create lab (host, subnet, reservation)" "$VMNET" network create lab --mode host --subnet 192.168.150.0/24 \
	--reserve 52:54:00:15:00:09,192.168.150.9 --mtu 1500
check "create wan1 (shared by default)" "$VMNET" network create wan1 --subnet 192.168.151.0/24 --no-nat66
check "create quiet (no DHCP)" "$VMNET" network create quiet --mode host --subnet 192.168.152.0/24 --no-dhcp --no-dns
check "create auto (no subnet: one is picked)" "$VMNET" network create auto --mode host --no-router-adv
check "each definition is saved" test -s "$DEFS/lab.conf" -a -s "$DEFS/wan1.conf" -a -s "$DEFS/quiet.conf" -a -s "$DEFS/auto.conf"
check "the picked subnet is recorded" grep -qE '^subnet=192\.168\.[0-9]+\.0/24$' "$DEFS/auto.conf"
AUTO_SUBNET=$(sed -n 's/^subnet=//p' "$DEFS/auto.conf")
for n in lab wan1 quiet auto; do check "list shows $n" listed "$n"; done
check "list --json is JSON with four named networks" python3 -c "
import json,subprocess,sys
d = json.loads(subprocess.check_output([sys.argv[1], 'network', 'list', '--json']))
named = sorted(x['name'] for x in d if x['kind'] == 'named')
sys.exit(0 if named == ['auto', 'lab', 'quiet', 'wan1'] and all(x['running'] for x in d) else 1)" "$VMNET"
check "show lab: subnet, mode, reservation" sh -c "'$VMNET' network show lab | grep -q 'subnet *192.168.150.0/24' &&
	'$VMNET' network show lab | grep -q 'mode *host' && '$VMNET' network show lab | grep -q 'reserve *52:54:00:15:00:09 192.168.150.9'"
check "show wan1: shared, nat66 off" sh -c "'$VMNET' network show wan1 | grep -q 'mode *shared' && '$VMNET' network show wan1 | grep -q 'nat66 *off'"
check "show --json quiet: dhcp false" sh -c "'$VMNET' network show quiet --json | grep -q '\"dhcp\": false'"
check "vmnet status lists the running named networks" sh -c "'$VMNET' status | grep -q lab && '$VMNET' status | grep -q wan1"

# Bad arguments.
refused "a reserved name is refused" 2 "$VMNET" network create default --mode host
refused "a name with a slash is refused" 2 "$VMNET" network create a/b --mode host
refused "a UUID as name is refused" 2 "$VMNET" network create 6f1c9a57-5d5e-4c53-9b1e-1a2b3c4d5e6f
refused "a public subnet is refused" 2 "$VMNET" network create pub --subnet 8.8.8.0/24
refused "a /31 is refused" 2 "$VMNET" network create tiny --subnet 192.168.160.0/31
refused "a bad mode is refused" 2 "$VMNET" network create m --mode bridged
refused "an MTU of 100 is refused" 2 "$VMNET" network create m --mtu 100
refused "a malformed reservation is refused" 2 "$VMNET" network create m --subnet 192.168.161.0/24 --reserve 52:54:00:00:00:01
refused "a reservation outside the subnet is refused" 2 "$VMNET" network create m --subnet 192.168.161.0/24 --reserve 52:54:00:00:00:01,192.168.162.5
refused "a reservation of the gateway is refused" 2 "$VMNET" network create m --subnet 192.168.161.0/24 --reserve 52:54:00:00:00:01,192.168.161.1
refused "a /64-less prefix is refused" 2 "$VMNET" network create m --prefix fd00::/48
refused "an unknown option is refused" 2 "$VMNET" network create m --frobnicate
refused "create without a name is refused" 2 "$VMNET" network create --mode host
refused "a duplicate name is refused" 1 "$VMNET" network create lab --mode host --subnet 192.168.170.0/24
refused "an overlapping subnet is refused" 1 "$VMNET" network create over --mode host --subnet 192.168.150.128/25
refused "an unknown external interface is refused" 1 "$VMNET" network create ext --subnet 192.168.171.0/24 --external nosuchif0
refused "show of an unknown network fails" 1 "$VMNET" network show nosuch
refused "delete of an unknown network fails" 1 "$VMNET" network delete nosuch
refused "an unknown subcommand is refused" 2 "$VMNET" network frob
check_not "nothing of the refused ones was saved" sh -c "ls '$DEFS' | grep -vE '^(lab|wan1|quiet|auto)\.conf$'"

# Guests by name.
add_netns l1 >/dev/null; L1="${TAG}l1"
add_netns q1 >/dev/null; Q1="${TAG}q1"
add_netns w1 >/dev/null; W1="${TAG}w1"
check "attach a namespace to lab" "$VMNET" attach --netns "$L1" --network lab
set_mac "$L1" 52:54:00:15:00:09
check "it gets a lease on lab" dhcp4 "$L1" "$WORK/l1.lease"
read -r LIP _ <"$WORK/l1.lease" 2>/dev/null
check "the reserved address ($LIP)" test "$LIP" = 192.168.150.9
check "show lab counts the guest" show_has lab 'guests *1'
check "attach a namespace to quiet" "$VMNET" attach --netns "$Q1" --network quiet
check_not "no lease on quiet (DHCP off)" dhcp4 "$Q1" "$WORK/q1.lease" 3
check "attach a namespace to wan1 (shared)" "$VMNET" attach --netns "$W1" --network wan1
check "it gets a lease on wan1 with a router" dhcp4 "$W1" "$WORK/w1.lease"
read -r WIP _ WROUTER _ <"$WORK/w1.lease" 2>/dev/null
check "wan1's lease ($WIP via $WROUTER)" sh -c "echo '$WIP' | grep -q '^192\.168\.151\.' && [ '$WROUTER' = 192.168.151.1 ]"
check "the guest on wan1 pings its gateway (the host tap)" ip netns exec "$W1" ping -c 1 -W 2 -q 192.168.151.1
check_not "lab's guest cannot reach wan1's guest" ip netns exec "$L1" ping -c 1 -W 1 -q "$WIP"
add_netns x1 >/dev/null; X1="${TAG}x1"
refused "--subnet with a named network is refused" 1 "$VMNET" attach --netns "$X1" --network lab --subnet 192.168.150.0/24

# Another user may use the daemon (group vmnet) but not define or delete networks.
CREATED_GROUP=0
if ! getent group vmnet >/dev/null; then groupadd vmnet && CREATED_GROUP=1; fi
VGID=$(getent group vmnet | cut -d: -f3)
chmod 0711 "$WORK"
refused "another user cannot define a network" 1 setpriv --reuid=65534 --regid="$VGID" --clear-groups "$VMNET" network create theirs --mode host
refused "another user cannot delete a network" 1 setpriv --reuid=65534 --regid="$VGID" --clear-groups "$VMNET" network delete lab
check "another user can list networks" setpriv --reuid=65534 --regid="$VGID" --clear-groups "$VMNET" network list
[ "$CREATED_GROUP" = 1 ] && groupdel vmnet

# Restart: the definitions come back, with the same subnets; a broken file is ignored.
printf 'id=not-a-uuid\nmode=host\n' >"$DEFS/broken.conf"
printf 'garbage\n' >"$DEFS/notes.txt"
stop_daemon
start_daemon --socket-mode 0666
for n in lab wan1 quiet auto; do check "after a restart list shows $n" listed "$n"; done
check_not "the broken definition is not listed" listed broken
check "the broken file is left alone" test -s "$DEFS/broken.conf"
check "auto keeps its subnet ($AUTO_SUBNET)" show_has auto "subnet *$AUTO_SUBNET"
check "lab is running again" show_has lab '\(named, running\)'
check "reattach to lab after the restart" "$VMNET" attach --netns "$L1" --network lab
set_mac "$L1" 52:54:00:15:00:09 # a new tap (the old one went with the old daemon)
check "the reservation still holds" dhcp4 "$L1" "$WORK/l1b.lease"
read -r LIP _ <"$WORK/l1b.lease" 2>/dev/null
check "the reserved address again ($LIP)" test "$LIP" = 192.168.150.9

# Delete: guests go with the network, the definition with it.
check "delete lab" "$VMNET" network delete lab
check_not "lab is no longer listed" listed lab
check_not "its definition is gone" test -e "$DEFS/lab.conf"
check_not "its guest was detached" sh -c "'$VMNET' status | grep -q '$L1'"
check_not "the network is gone from vmnet status" sh -c "'$VMNET' status | grep -q '^network lab\|192.168.150.'"
check "the subnet is free again" "$VMNET" network create lab2 --mode host --subnet 192.168.150.0/24
for n in lab2 wan1 quiet auto; do check "delete $n" "$VMNET" network delete "$n"; done
check "no named networks are left" sh -c "'$VMNET' network list | grep -q 'no named networks'"
check "daemon still alive" daemon_alive
finish
