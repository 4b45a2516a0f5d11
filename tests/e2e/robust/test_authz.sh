#!/bin/bash
# Authorization (the role of Apple's entitlement): a per-user daemon serves its
# own uid and root; the system daemon serves root and the group vmnet. A refused
# client gets VMNET_NOT_AUTHORIZED (1010) and the daemon carries on.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rlib.sh"

NOBODY=65534
# A second unprivileged uid: 65533 if the system has it, else any number (setuid works for any).
if getent passwd 65533 >/dev/null; then OTHER=65533; else OTHER=12345; fi
as() { # as UID GID command... — run with exactly that uid/gid and no supplementary groups
	local u=$1 g=$2; shift 2
	setpriv --reuid="$u" --regid="$g" --clear-groups "$@"
}
status_of() { sed -nE 's/^status=([0-9]+).*/\1/p' "$1"; }
# api_as UID GID SOCKET OUT — an API client as UID (setpriv keeps the environment, so
# ASAN_OPTIONS reaches it); "status=N" and its stderr in OUT, its exit status in OUT.rc.
api_as() {
	VMNET_SOCKET=$3 timeout 20 setpriv --reuid="$1" --regid="$2" --clear-groups "$RB_API" start >"$4" 2>&1
	echo $? >"$4.rc"
}
# client_check "what" OUT STATUS — the client of OUT got STATUS, and exited 0 when served
# (1000), 1 when refused: anything else (a crash, a sanitizer report) shows its output.
client_check() {
	local st rc want=1
	st=$(status_of "$2")
	rc=$(cat "$2.rc" 2>/dev/null)
	[ "$3" = 1000 ] && want=0
	CHECKS=$((CHECKS + 1))
	if [ "$st" = "$3" ] && [ "$rc" = "$want" ]; then
		pass "$1 (status $st)"
	else
		fail "$1 (status ${st:-none}, expected $3; exit status ${rc:-?}, expected $want)"
		show_output "$2"
	fi
}
# cli_refused "what" OUT UID GID CLI-ARGS... — `vmnet` as UID fails naming the refusal, with an
# error status (not a crash or a sanitizer abort).
cli_refused() {
	local what=$1 out=$2 u=$3 g=$4 rc; shift 4
	as "$u" "$g" "$VMNET" "$@" >"$out" 2>&1
	rc=$?
	CHECKS=$((CHECKS + 1))
	if [ "$rc" -ge 1 ] && [ "$rc" -lt 128 ] && grep -qi "not.authorized" "$out"; then
		pass "$what (exit status $rc)"
	else
		fail "$what (exit status $rc)"
		show_output "$out"
	fi
}

# Everything the unprivileged processes need is reachable: $WORK traversable, $PUB writable.
chmod 0711 "$WORK"
PUB="$WORK/pub"
mkdir -m 0777 "$PUB"
chmod 0777 "$PUB"
check "uid $NOBODY can run the test client" as $NOBODY $NOBODY test -x "$RB_API"

# ---- 1. per-user daemon of root, socket mode 0666 ----
export VMNET_SOCKET="$PUB/user.sock"
start_daemon --user --socket-mode 0666
check "per-user root daemon: socket is mode 0666" test "$(stat -c %a "$VMNET_SOCKET")" = 666
api_as $NOBODY $NOBODY "$VMNET_SOCKET" "$WORK/c1.out"
client_check "per-user root daemon: uid $NOBODY is refused with VMNET_NOT_AUTHORIZED" "$WORK/c1.out" 1010
cli_refused "per-user root daemon: vmnet status as uid $NOBODY fails naming the refusal" "$WORK/c1s.out" $NOBODY $NOBODY status
cli_refused "per-user root daemon: vmnet shutdown as uid $NOBODY is refused" "$WORK/c1d.out" $NOBODY $NOBODY shutdown
check "per-user root daemon: alive after the refusals (and a refused shutdown)" daemon_alive
api_check "per-user root daemon: root is served" start
api_check "per-user root daemon: root exchanges frames" exchange 16

# ---- 2. per-user daemon of uid nobody ----
NSOCK="$PUB/nobody.sock"
# setpriv directly (not the `as` function) so that $! is the daemon itself.
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$VMNETD" --user --socket "$NSOCK" --state-dir "$PUB/nobody-state" --socket-mode 0666 \
	>"$WORK/vmnetd-nobody.log" 2>&1 &
NPID=$!
EXTRA_DAEMONS+=("$NPID")
for _ in $(seq 100); do [ -S "$NSOCK" ] && break; sleep 0.05; done
check "a per-user daemon runs as uid $NOBODY" test "$(awk '/^Uid:/ { print $2 }' "/proc/$NPID/status" 2>/dev/null)" = $NOBODY
api_as 0 0 "$NSOCK" "$WORK/c2.out"
client_check "nobody's daemon: root is served" "$WORK/c2.out" 1000
api_as $NOBODY $NOBODY "$NSOCK" "$WORK/c3.out"
client_check "nobody's daemon: its own uid is served" "$WORK/c3.out" 1000
api_as $OTHER $OTHER "$NSOCK" "$WORK/c4.out"
client_check "nobody's daemon: uid $OTHER is refused with VMNET_NOT_AUTHORIZED" "$WORK/c4.out" 1010
VMNET_SOCKET=$NSOCK cli_refused "nobody's daemon: vmnet shutdown as uid $OTHER is refused" "$WORK/c4d.out" $OTHER $OTHER shutdown
check "nobody's daemon: alive after the refusals (and a refused shutdown by uid $OTHER)" pid_alive "$NPID"
api_as 0 0 "$NSOCK" "$WORK/c5.out"
client_check "nobody's daemon: root still served afterwards" "$WORK/c5.out" 1000
kill -TERM "$NPID"
wait_gone "$NPID" 5
wait "$NPID"; RC=$?
check "nobody's daemon stops cleanly on SIGTERM (status $RC)" test "$RC" -eq 0

# ---- 3. system daemon, socket mode 0666 ----
CREATED_GROUP=0
if ! getent group vmnet >/dev/null; then
	groupadd vmnet && CREATED_GROUP=1
	EXTRA_CLEANUP+=('[ "$CREATED_GROUP" = 1 ] && groupdel vmnet')
fi
VGID=$(getent group vmnet | cut -d: -f3)
OGID=$OTHER
[ "$OGID" = "$VGID" ] && OGID=$((OTHER + 1))
SSOCK="$PUB/sys.sock"
"$VMNETD" --system --socket "$SSOCK" --state-dir "$WORK/sys-state" --socket-mode 0666 >"$WORK/vmnetd-system.log" 2>&1 &
SPID=$!
EXTRA_DAEMONS+=("$SPID")
for _ in $(seq 100); do [ -S "$SSOCK" ] && break; sleep 0.05; done
check "system daemon: status says system" env VMNET_SOCKET="$SSOCK" bash -c "'$VMNET' status --json | grep -q '\"system\": true'"
api_as $OTHER $OGID "$SSOCK" "$WORK/c6.out"
client_check "system daemon: uid $OTHER gid $OGID is refused with VMNET_NOT_AUTHORIZED" "$WORK/c6.out" 1010
check "system daemon: alive after the refusal" pid_alive "$SPID"
api_as $OTHER "$VGID" "$SSOCK" "$WORK/c7.out"
client_check "system daemon: uid $OTHER with primary group vmnet ($VGID) is served" "$WORK/c7.out" 1000
api_as 0 0 "$SSOCK" "$WORK/c8.out"
client_check "system daemon: root is served" "$WORK/c8.out" 1000
check "system daemon: alive at the end" pid_alive "$SPID"
kill -TERM "$SPID"
wait_gone "$SPID" 5
wait "$SPID"; RC=$?
check "system daemon stops cleanly on SIGTERM (status $RC)" test "$RC" -eq 0
if [ "$CREATED_GROUP" = 1 ]; then
	groupdel vmnet && CREATED_GROUP=0
fi
check "per-user root daemon still alive at the end" daemon_alive
if [ "$FAILS" -ne 0 ]; then
	for f in "$WORK"/vmnetd*.log "$WORK"/c*.out; do echo "--- $f"; tail -n 8 "$f"; done
fi
finish
