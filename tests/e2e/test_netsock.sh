#!/bin/bash
# Socket attachments kept in a named network's definition: made by `vmnet
# network create ... --qemu-stream/--dgram` and `vmnet attach --persist`,
# saved as attach= lines, made again when vmnetd starts (vmmpeer.py and
# vhostpeer.py play the VMMs and get DHCP and ARP answers through them),
# shown by `vmnet status` and `vmnet network show`, taken out by `vmnet
# detach --persist`. A path that cannot be bound at start and a bad attach=
# line are logged while the network and its other attachments come up; bad
# requests are refused with a reason and exit status 2 (caught by vmnet) or
# 1 (refused by vmnetd), and nothing of them is saved.
. "$(dirname "$0")/lib.sh"
PEER="python3 $(dirname "$0")/vmmpeer.py"
VHOST="python3 $(dirname "$0")/vhostpeer.py"
DEFS="$WORK/state/networks"
LAB="$DEFS/lab.conf"

show_has() { "$VMNET" network show "$1" | grep -qF -- "$2"; }
status_has() { "$VMNET" status | grep -qF -- "$1"; }
# offer_in PREFIX MODE PATH MAC — a DHCP offer through the attachment, from the network PREFIX.0/24
offer_in() {
	local ip
	ip=$($PEER "$2" "$3" dhcp "$4") || return 1
	case "$ip" in "$1".*) return 0 ;; esac
	echo "offer $ip is not in $1.0/24"; return 1
}
restart() {
	stop_daemon
	start_daemon --socket-mode 0666
	"$VMNET" network list >/dev/null # named networks come up with the first client
}

start_daemon --socket-mode 0666
S1="$WORK/vm1.sock" S2="$WORK/dg.sock" S3="$WORK/vu.sock"

# ---- create with attachments ----
check "create lab with a stream and a dgram attachment" "$VMNET" network create lab --mode host \
	--subnet 192.168.180.0/24 --qemu-stream "$S1" --dgram "$S2,name=dg"
check "both sockets exist" test -S "$S1" -a -S "$S2"
check "the definition holds both (attach= lines)" sh -c \
	"grep -qxF 'attach=stream vm1 $S1' '$LAB' && grep -qxF 'attach=dgram dg $S2' '$LAB'"
check "show lists them as attached" sh -c "'$VMNET' network show lab | grep -qF 'attach      qemu-stream vm1 $S1 (attached)' &&
	'$VMNET' network show lab | grep -qF 'attach      dgram dg $S2 (attached)'"
check "show --json lists them" sh -c "'$VMNET' network show lab --json | python3 -c '
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if sorted((a[\"kind\"], a[\"name\"], a[\"attached\"]) for a in d[\"attachments\"]) ==
         [(\"dgram\", \"dg\", True), (\"stream\", \"vm1\", True)] else 1)'"
check "status shows the stream socket's path and definition" status_has "socket $S1, kept in the definition of network lab"
check "status shows the dgram socket's path" status_has "socket $S2, kept in the definition of network lab"
check "status --json has path and definition" sh -c "'$VMNET' status --json | python3 -c '
import json,sys; d=json.load(sys.stdin)
p={x[\"name\"]: x for n in d[\"networks\"] for x in n[\"ports\"]}
sys.exit(0 if p[\"vm1\"][\"path\"]==sys.argv[1] and p[\"vm1\"][\"definition\"]==\"lab\" and p[\"dg\"][\"kind\"]==\"dgram\" else 1)' '$S1'"
check "stream: a DHCP offer from lab" offer_in 192.168.180 stream "$S1" 52:54:00:18:00:01
check "stream: the gateway answers ARP" $PEER stream "$S1" arp 52:54:00:18:00:01 192.168.180.50 192.168.180.1
check "dgram: a DHCP offer from lab" offer_in 192.168.180 dgram "$S2" 52:54:00:18:00:02

# ---- attach --persist ----
check "attach --persist: a vhost-user socket into lab's definition" \
	"$VMNET" attach --vhost-user "$S3" --name vu --network lab --persist
check "it is saved" grep -qxF "attach=vhost-user vu $S3" "$LAB"
check "vhost-user: a DHCP offer" $VHOST "$S3" dhcp 52:54:00:18:00:03
check "a plain attach on lab is not saved" "$VMNET" attach --qemu-stream "$WORK/tmp.sock" --network lab
check_not "the definition does not hold it" grep -q tmp.sock "$LAB"
check "status shows it without a definition" sh -c "'$VMNET' status | grep -F 'socket $WORK/tmp.sock' | grep -vq definition"

# ---- restart: the attachments come back ----
restart
check "after a restart the stream socket is back" test -S "$S1"
check "the dgram socket is back" test -S "$S2"
check "the vhost-user socket is back" test -S "$S3"
check_not "the unsaved one is not" test -e "$WORK/tmp.sock"
check "status shows the paths again" sh -c "'$VMNET' status | grep -qF 'socket $S1' && '$VMNET' status | grep -qF 'socket $S3'"
check "stream after the restart: a DHCP offer" offer_in 192.168.180 stream "$S1" 52:54:00:18:00:01
check "stream after the restart: ARP" $PEER stream "$S1" arp 52:54:00:18:00:01 192.168.180.50 192.168.180.1
check "dgram after the restart: a DHCP offer" offer_in 192.168.180 dgram "$S2" 52:54:00:18:00:02
check "vhost-user after the restart: a DHCP offer" $VHOST "$S3" dhcp 52:54:00:18:00:03

# ---- detach: plain (until the next start) and --persist (for good) ----
"$VMNET" detach vm1 >"$WORK/out.txt" 2>&1
check "plain detach of a defined attachment says it comes back" grep -q "detach --persist vm1" "$WORK/out.txt"
check "its socket is gone" test ! -e "$S1"
check "it stays in the definition" grep -qxF "attach=stream vm1 $S1" "$LAB"
check "show says it is detached" show_has lab "vm1 $S1 (not attached: detached"
check "detach --persist dg" "$VMNET" detach --persist dg
check_not "dg left the definition" grep -q "dg" "$LAB"
check "dg's socket is gone" test ! -e "$S2"
check "detach --persist vm1 (not attached now)" "$VMNET" detach --persist vm1
check_not "vm1 left the definition" grep -q "vm1" "$LAB"
restart
check_not "after a restart vm1 is gone" test -e "$S1"
check_not "and dg" test -e "$S2"
check "vu is still there" test -S "$S3"
check_not "status lists no vm1 or dg" sh -c "'$VMNET' status | grep -qE ' (vm1|dg) '"

# ---- bad requests ----
echo plain >"$WORK/file"
LONG="$WORK/$(printf 'x%.0s' $(seq 120)).sock"
refused "create: a too long path (caught by vmnet)" 2 "$VMNET" network create bad1 --mode host --qemu-stream "$LONG"
refused "create: a regular file at the path (vmnetd)" 1 "$VMNET" network create bad2 --mode host \
	--subnet 192.168.181.0/24 --dgram "$WORK/file"
check "the file is untouched" grep -qx plain "$WORK/file"
refused "create: the same path twice" 2 "$VMNET" network create bad3 --mode host \
	--qemu-stream "$WORK/b3.sock" --dgram "$WORK/b3.sock,name=other"
refused "create: the same name twice" 2 "$VMNET" network create bad3 --mode host \
	--qemu-stream "$WORK/b3.sock,name=x" --dgram "$WORK/b4.sock,name=x"
refused "create: a path of another network's definition" 1 "$VMNET" network create bad4 --mode host \
	--subnet 192.168.182.0/24 --qemu-stream "$S3,name=vu2"
refused "create: a bad attachment name" 2 "$VMNET" network create bad5 --mode host \
	--qemu-stream "$WORK/b5.sock,name=$(printf 'n%.0s' $(seq 31))"
refused "create: a missing directory (vmnetd)" 1 "$VMNET" network create bad6 --mode host \
	--subnet 192.168.183.0/24 --qemu-stream "$WORK/nodir/b6.sock"
check_not "nothing of the refused ones was saved" sh -c "ls '$DEFS' | grep -v '^lab\.conf$'"
check_not "nor listed" sh -c "'$VMNET' network list | grep -q bad"
check_not "no socket of a refused create was left behind" sh -c "ls '$WORK' | grep -q '^b[0-9]'"
refused "attach --persist: a too long path" 2 "$VMNET" attach --qemu-stream "$LONG" --network lab --persist
refused "attach --persist: a regular file at the path" 1 "$VMNET" attach --dgram "$WORK/file" --network lab --persist
refused "attach --persist: a path already in the definition" 1 "$VMNET" attach --qemu-stream "$S3" --name vu3 \
	--network lab --persist
refused "attach --persist: a name already in use" 1 "$VMNET" attach --qemu-stream "$WORK/n.sock" --name vu \
	--network lab --persist
refused "attach --persist without --network" 2 "$VMNET" attach --qemu-stream "$WORK/n.sock" --persist
refused "attach --persist on a network that is not named" 1 "$VMNET" attach --qemu-stream "$WORK/n.sock" \
	--network default --persist
refused "detach --persist of a name in no definition" 1 "$VMNET" detach --persist nosuch
refused "detach with two names" 2 "$VMNET" detach a b
check "the definition holds vu only" sh -c "[ \"\$(grep -c '^attach=' '$LAB')\" = 1 ]"
(cd "$WORK" && "$VMNET" network create rel --mode host --subnet 192.168.184.0/24 --qemu-stream rel.sock) >/dev/null
check "a relative path is saved absolute" grep -qxF "attach=stream rel $WORK/rel.sock" "$DEFS/rel.conf"
check "delete rel removes its socket" sh -c "'$VMNET' network delete rel && [ ! -e '$WORK/rel.sock' ]"

# Another user may use the daemon but not change a definition.
CREATED_GROUP=0
if ! getent group vmnet >/dev/null; then groupadd vmnet && CREATED_GROUP=1; fi
VGID=$(getent group vmnet | cut -d: -f3)
chmod 0777 "$WORK"
AS_OTHER=(setpriv --reuid=65534 --regid="$VGID" --clear-groups)
refused "another user cannot attach --persist" 1 "${AS_OTHER[@]}" "$VMNET" attach --qemu-stream "$WORK/o.sock" \
	--network lab --persist
refused "another user cannot detach --persist" 1 "${AS_OTHER[@]}" "$VMNET" detach --persist vu
check "another user sees the attachments" sh -c "$(printf '%q ' "${AS_OTHER[@]}") '$VMNET' network show lab | grep -q 'vu $S3'"
[ "$CREATED_GROUP" = 1 ] && groupdel vmnet
chmod 0700 "$WORK"

# ---- a hand-edited definition ----
stop_daemon
printf 'attach=bogus x %s\n' "$WORK/bogus.sock" >>"$LAB"
printf 'attach=stream blocked %s\n' "$WORK/file" >>"$LAB"
printf '  attach=dgram ok2 isolated %s  \n' "$WORK/ok 2.sock" >>"$LAB"
printf 'attach=stream vu %s\n' "$WORK/dupname.sock" >>"$LAB"
start_daemon --socket-mode 0666
"$VMNET" network list >/dev/null
check "lab runs with a bad attach= line" show_has lab "(named, running)"
check "the bad line is logged" grep -q "lab.conf: line [0-9]*: attachment skipped: kind must be" "$WORK/vmnetd.log"
check "a name given twice is logged" grep -q "attachment skipped: the same name or path" "$WORK/vmnetd.log"
check "the path held by a regular file is logged" grep -q "blocked at $WORK/file not attached: that path exists and is not a socket" "$WORK/vmnetd.log"
check "show says why blocked is not attached" show_has lab "blocked $WORK/file (not attached: that path exists and is not a socket)"
check "the other attachments came up (a path with a blank, isolated)" test -S "$WORK/ok 2.sock" -a -S "$S3"
check "show: ok2 isolated" show_has lab "dgram ok2 $WORK/ok 2.sock isolated (attached)"
check "dgram ok2 answers" offer_in 192.168.180 dgram "$WORK/ok 2.sock" 52:54:00:18:00:04
check "the file is still untouched" grep -qx plain "$WORK/file"
rm -f "$WORK/file"
check "once the file is gone, blocked is attached by hand" "$VMNET" attach --qemu-stream "$WORK/file" --name blocked \
	--network lab
check "show counts it as the definition's" show_has lab "blocked $WORK/file (attached)"
check "detach --persist blocked" "$VMNET" detach --persist blocked
check "its socket went with it" test ! -e "$WORK/file"
check_not "the rewritten definition has no bad line left" grep -qE "bogus|blocked|dupname" "$LAB"
check "it keeps the good ones" sh -c "grep -qxF 'attach=dgram ok2 isolated $WORK/ok 2.sock' '$LAB' && grep -qxF 'attach=vhost-user vu $S3' '$LAB'"

# ---- a network that could not start makes its sockets when it does ----
# late overlaps lab: whichever loads first runs; the other starts when an attachment names it.
stop_daemon
printf 'id=%s\nmode=host\nsubnet=192.168.180.128/25\nattach=stream late %s\n' \
	"$(python3 -c 'import uuid; print(uuid.uuid4())')" "$WORK/late.sock" >"$DEFS/late.conf"
start_daemon --socket-mode 0666
"$VMNET" network list >/dev/null
if show_has lab "(named, running)"; then UP=lab DOWN=late DOWN_SOCK="$WORK/late.sock" UP_SOCK="$S3"
else UP=late DOWN=lab DOWN_SOCK="$S3" UP_SOCK="$WORK/late.sock"; fi
check "one of two overlapping networks runs ($UP)" sh -c "'$VMNET' network show $DOWN | grep -q 'not running'"
check "the stopped one's socket is not made" test ! -e "$DOWN_SOCK"
check "show says why" show_has "$DOWN" "(not attached: the network is not running)"
check "delete $UP" "$VMNET" network delete "$UP"
check "its socket went with it" test ! -e "$UP_SOCK"
check "an attachment naming $DOWN starts it" "$VMNET" attach --qemu-stream "$WORK/kick.sock" --network "$DOWN"
check "and its definition's socket is made" test -S "$DOWN_SOCK"

# ---- delete: the attachments go with the network ----
check "delete $DOWN" "$VMNET" network delete "$DOWN"
check "its sockets are gone" sh -c "[ ! -e '$DOWN_SOCK' ] && [ ! -e '$WORK/kick.sock' ]"
check "no named networks are left" sh -c "'$VMNET' network list | grep -q 'no named networks'"
check "daemon still alive" daemon_alive
finish
