# lib.sh — shared helpers for the end-to-end tests (sourced, bash).
#
# Every test gets its own vmnetd on a private socket and state directory, its
# own namespaces (prefixed with a per-test tag) and cleans up on exit: daemons
# are killed by PID, namespaces and links by the names this test created.
set -u

: "${BUILD:?BUILD must point at the meson build directory}"
VMNETD="$BUILD/daemon/vmnetd"
VMNET="$BUILD/cli/vmnet"
TAG="vt$$"
WORK=$(mktemp -d "/tmp/vmnet-e2e.XXXXXX")
export VMNET_SOCKET="$WORK/vmnetd.sock"
export VMNETD="$VMNETD"
DAEMON_PID=""
NETNS=()
FAILS=0
CHECKS=0

cleanup() {
	local ns
	# add_netns runs in $(...) subshells: find this test's namespaces by their tag.
	for ns in "${NETNS[@]}" $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${TAG}"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	# Namespaces the test deleted itself (to check a detach) still have their resolv.conf folder.
	rm -rf "/etc/netns/${TAG}"[a-z]*
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
# refused WHAT STATUS CMD... — the command fails with exit status STATUS and says something
refused() {
	local what=$1 want=$2 rc; shift 2
	"$@" >"$WORK/out.txt" 2>&1
	rc=$?
	CHECKS=$((CHECKS + 1))
	if [ "$rc" -eq "$want" ] && [ -s "$WORK/out.txt" ]; then
		pass "$what (exit $rc: $(head -c 160 "$WORK/out.txt" | tr '\n' ' '))"
	else
		fail "$what (exit $rc, expected $want)"; cat "$WORK/out.txt"
	fi
}
check() { # check "description" command...
	local what=$1; shift
	CHECKS=$((CHECKS + 1))
	if "$@"; then pass "$what"; else fail "$what"; fi
}
check_not() {
	local what=$1; shift
	CHECKS=$((CHECKS + 1))
	if "$@"; then fail "$what"; else pass "$what"; fi
}

# Tests run vmnetd as root, which gives every network a host tap (vmnet-hostN):
# only tests that set HOST_TAP=1 get one, so that the host's own traffic
# (router solicitations, MLD) does not reach guests of the other tests.
start_daemon() { # start_daemon [extra vmnetd args]
	local ht=(--no-host-tap)
	[ "${HOST_TAP:-0}" = 1 ] && ht=()
	rm -f "$VMNET_SOCKET" # a stale socket file must not pass for the new daemon
	"$VMNETD" --socket "$VMNET_SOCKET" --state-dir "$WORK/state" "${ht[@]}" "$@" >>"$WORK/vmnetd.log" 2>&1 &
	DAEMON_PID=$!
	# Ready = it accepts connections (the socket file exists between bind and listen).
	for _ in $(seq 100); do
		if [ -S "$VMNET_SOCKET" ] && python3 -c "
import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])" "$VMNET_SOCKET" 2>/dev/null; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "vmnetd did not start:"; cat "$WORK/vmnetd.log"
	exit 1
}

daemon_alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }

add_netns() { # add_netns NAME — a namespace with its own resolv.conf, lo up
	local ns="${TAG}$1"
	ip netns add "$ns" || exit 1
	NETNS+=("$ns")
	mkdir -p "/etc/netns/$ns"
	echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
	ip -n "$ns" link set lo up
	echo "$ns"
}

# dhcp4 NS OUTFILE [TRIES] — one busybox udhcpc run on eth0 of NS that quits
# after a lease; the lease is applied and recorded in OUTFILE as
# "ip mask router lease dns". Fails when no lease came.
dhcp4() {
	if [ ! -x "$WORK/udhcpc.sh" ]; then
		cat >"$WORK/udhcpc.sh" <<'EOS'
#!/bin/sh
# udhcpc hook: apply a bound lease and record it.
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
	echo "$ip $mask ${router:--} ${lease:--} ${dns:--} ${domain:--}" >"$LEASE_OUT"
	;;
esac
exit 0
EOS
		chmod +x "$WORK/udhcpc.sh"
	fi
	LEASE_OUT=$2 ip netns exec "$1" busybox udhcpc -i eth0 -n -q -f -t "${3:-4}" -T 1 -s "$WORK/udhcpc.sh" >/dev/null 2>&1
}

# Stop the daemon with SIGTERM (a clean shutdown) and check its log holds no
# sanitizer report: under ASan/UBSan builds every e2e test is a daemon test too.
stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
	wait "$DAEMON_PID" 2>/dev/null
	local rc=$?
	DAEMON_PID=""
	CHECKS=$((CHECKS + 1))
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK"/vmnetd*.log 2>/dev/null; then
		fail "vmnetd log has sanitizer reports"; grep -A20 -E "Sanitizer|runtime error" "$WORK"/vmnetd*.log | head -60
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 143 ]; then
		fail "vmnetd exited with status $rc"
	else
		pass "vmnetd stopped cleanly, no sanitizer reports"
	fi
}

finish() {
	stop_daemon
	echo "$((CHECKS - FAILS)) passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
}
