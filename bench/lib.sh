# lib.sh — sourced by bench/ports.sh and bench/vhost.sh: a temp dir, a private
# network namespace and a private vmnetd in it, all removed by an EXIT trap
# (the daemon killed by PID). Needs VMNETD, VMNET and OUT set.
#
#   bench_begin NAME   WORK (temp dir), NS, RAW=$OUT/NAME-raw.tsv, LOG=$OUT/NAME-log.txt
#                      (both emptied), LOAD_BEFORE; the namespace is made
#   bench_daemon       starts vmnetd in NS (own socket and state dir, no host tap);
#                      sets DAEMON_PID and exports VMNET_SOCKET; exits if it does not answer

bench_cleanup() {
	set +e
	if [ -n "${DAEMON_PID:-}" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	[ -n "${NS_MADE:-}" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}

bench_begin() {
	WORK=$(mktemp -d "/tmp/vmnet-$1.XXXXXX")
	DAEMON_PID=""
	NS="v$1$$"
	NS_MADE=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$OUT"
	RAW=$OUT/$1-raw.tsv
	LOG=$OUT/$1-log.txt
	: >"$RAW"
	: >"$LOG"
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	ip netns add "$NS"
	NS_MADE=1
}

bench_daemon() {
	export VMNET_SOCKET=$WORK/vmnetd.sock
	# In this shell, not a subshell; `ip netns exec` execs without forking: $! is vmnetd itself.
	ip netns exec "$NS" "$VMNETD" --socket "$VMNET_SOCKET" --state-dir "$WORK/state" --no-host-tap \
		>"$WORK/vmnetd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 100); do
		[ -S "$VMNET_SOCKET" ] && "$VMNET" status >/dev/null 2>&1 && break
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	"$VMNET" status >/dev/null 2>&1 || { echo "vmnetd did not start:"; cat "$WORK/vmnetd.log"; exit 1; }
}
