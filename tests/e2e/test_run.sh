#!/bin/bash
# `vmnet run`: a command in a fresh namespace attached to the network; its
# exit status comes back; its attachment disappears with it.
. "$(dirname "$0")/lib.sh"

start_daemon
A=$(add_netns a)
check "attach namespace a" "$VMNET" attach --netns "$A" --ip 192.168.128.20/24
check "run: a command in a fresh namespace pings a" \
	"$VMNET" run --ip 192.168.128.21/24 -- ping -c 2 -i 0.2 -W 2 -q 192.168.128.20
"$VMNET" run --ip 192.168.128.22/24 -- sh -c 'exit 7'
check "run: the exit status of the command is returned" test $? -eq 7
"$VMNET" run -- /nonexistent/cmd 2>/dev/null
check "run: a missing command exits 127" test $? -eq 127
check "run: the namespace has the tap up with its address" \
	sh -c "'$VMNET' run --ifname vm0 --ip 192.168.128.23/24 -- ip -4 addr show vm0 | grep -q 192.168.128.23/24"
"$VMNET" status --json >"$WORK/st.json"
check "run attachments are gone after the command exited" python3 -c "
import json,sys; d=json.load(open('$WORK/st.json'))
names=[p['name'] for n in d['networks'] for p in n['ports']]
sys.exit(0 if names==['$A'] else 1)"
check "run on an isolated port cannot reach a" bash -c "! '$VMNET' run --isolated --ip 192.168.128.24/24 -- ping -c 1 -W 1 -q 192.168.128.20"
check_not "run without a command is a usage error" "$VMNET" run --ip 192.168.128.25/24
check_not "a bad --ip is refused" "$VMNET" run --ip 300.1.1.1/24 -- true
check "daemon still alive" daemon_alive
finish
