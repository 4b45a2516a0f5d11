#!/bin/bash
# Two network namespaces with static addresses on the default host network
# reach each other through vmnetd; status shows them; detach cuts them off.
. "$(dirname "$0")/lib.sh"

start_daemon
A=$(add_netns a); B=$(add_netns b)
check "attach namespace a" "$VMNET" attach --netns "$A" --ip 192.168.128.10/24
check "attach namespace b" "$VMNET" attach --netns "$B" --ip 192.168.128.11/24
check "a pings b" ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -q 192.168.128.11
check "b pings a" ip netns exec "$B" ping -c 3 -i 0.2 -W 2 -q 192.168.128.10
check "large frames (1472-byte ICMP payload) pass" ip netns exec "$A" ping -c 2 -s 1472 -M do -W 2 -q 192.168.128.11
"$VMNET" status >"$WORK/status" 2>&1
check "status lists both attachments" grep -q "$B" "$WORK/status"
check "status shows the default host network" grep -q "host mode" "$WORK/status"
"$VMNET" status --json >"$WORK/status.json"
check "status --json is valid JSON with two ports" python3 -c "
import json,sys; d=json.load(open('$WORK/status.json'))
ports=[p for n in d['networks'] for p in n['ports']]
sys.exit(0 if len(ports)==2 and all(p['tx_frames']>0 for p in ports) else 1)"
check_not "attaching the same name twice is refused" "$VMNET" attach --netns "$A" --ifname eth1 --name "$A"
check "detach b" "$VMNET" detach "$B"
check_not "a no longer reaches b" ip netns exec "$A" ping -c 1 -W 1 -q 192.168.128.11
check_not "detaching an unknown name fails" "$VMNET" detach nosuchthing
C=$(add_netns c)
check "attach namespace c" "$VMNET" attach --netns "$C" --ip 192.168.128.12/24
ip netns del "$C"
gone=1
for _ in $(seq 40); do "$VMNET" status | grep -q "$C" || { gone=0; break; }; sleep 0.1; done
check "deleting a namespace detaches it within seconds" test "$gone" -eq 0
# status is paged: more ports than one reply carries
for i in $(seq 130); do "$VMNET" attach --tap "${TAG}t$i" >/dev/null || break; done
"$VMNET" status --json >"$WORK/big.json"
check "status lists all 131 ports across pages" python3 -c "
import json,sys; d=json.load(open('$WORK/big.json'))
ports=[p for n in d['networks'] for p in n['ports']]
sys.exit(0 if len(ports)==131 and len({p['id'] for p in ports})==131 else 1)"
check "daemon still alive" daemon_alive
finish
