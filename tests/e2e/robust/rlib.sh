# rlib.sh — helpers shared by the robustness tests (sourced after ../lib.sh).
#
# Every background process a test starts is recorded in BG_PIDS (or in
# EXTRA_DAEMONS for daemons other than $DAEMON_PID) and killed by PID on exit.
# The helpers' directory: the wrapper's first argument (meson passes it), else the usual place.
RB_DIR="${1:-$BUILD/tests/e2e/robust}"
RB_API="$RB_DIR/rb_api"
RB_RAW="$RB_DIR/rb_raw"
[ -x "$RB_API" ] && [ -x "$RB_RAW" ] || { echo "rb_api/rb_raw not found in $RB_DIR"; exit 1; }
BG_PIDS=()
EXTRA_DAEMONS=()
EXTRA_CLEANUP=()

rb_cleanup() {
	local p c
	for p in "${BG_PIDS[@]}" "${EXTRA_DAEMONS[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for c in "${EXTRA_CLEANUP[@]}"; do
		eval "$c"
	done
	cleanup
}
trap rb_cleanup EXIT

# bg OUTFILE command... — run in the background, remember the PID in BG_LAST.
bg() {
	local out=$1; shift
	"$@" >"$out" 2>&1 &
	BG_LAST=$!
	BG_PIDS+=("$BG_LAST")
}

# reap PID [TIMEOUT_S] — wait for a background process, SIGKILL it after the timeout.
# Return: its exit status (137 when killed).
reap() {
	local pid=$1 t=${2:-10} i
	for ((i = 0; i < t * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# stop_bg PID — SIGKILL a background process of ours now and reap it.
stop_bg() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# wait_line FILE REGEX [TIMEOUT_S] — until a line matches (bounded).
wait_line() {
	local i
	for ((i = 0; i < ${3:-5} * 20; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# wait_gone PID TIMEOUT_S — until the process is gone (zombies of ours count as gone).
wait_gone() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -d "/proc/$1" ] || return 0
		grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

pid_alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
ring_maps() { grep -c 'vmnet-ring' "/proc/$1/maps" 2>/dev/null; }

# responsive [SOCKET] — the daemon answers `vmnet status` within 3 s.
responsive() {
	VMNET_SOCKET=${1:-$VMNET_SOCKET} timeout 3 "$VMNET" status >/dev/null 2>&1
}

# status_py PYTHON_EXPR — evaluate a Python expression over `vmnet status --json` (d = the
# document, ports = every port of every network); success when it is true.
status_py() {
	local js
	js=$(timeout 5 "$VMNET" status --json 2>/dev/null) || return 1
	python3 -c "
import json, sys
d = json.loads(sys.argv[1])
ports = [p for n in d.get('networks', []) for p in n.get('ports', [])]
sys.exit(0 if ($1) else 1)" "$js"
}

# import_checks FILE — turn "CHECK 0|1 what" lines (rb_api) and "ok:/FAIL:" lines (rb_raw) into checks.
import_checks() {
	local tag rest
	while read -r tag rest; do
		case "$tag" in
		CHECK)
			CHECKS=$((CHECKS + 1))
			if [ "${rest%% *}" = 1 ]; then pass "${rest#* }"; else fail "${rest#* }"; fi ;;
		ok:) CHECKS=$((CHECKS + 1)); pass "$rest" ;;
		FAIL:) CHECKS=$((CHECKS + 1)); fail "$rest" ;;
		esac
	done <"$1"
}

# show_output FILE — a client's output (stdout and stderr, e.g. a sanitizer report), indented.
show_output() {
	sed 's/^/    | /' "$1" | head -n 120
}

# expect_rc "what" RC WANT FILE — one check that a client's exit status RC is WANT;
# otherwise its output FILE is shown. Under ASan/UBSan a leak or an error at exit
# turns the status into 134 (abort_on_error=1), so this also catches those.
expect_rc() {
	CHECKS=$((CHECKS + 1))
	if [ "$2" -eq "$3" ]; then pass "$1"; else fail "$1 (exit status $2, expected $3)"; show_output "$4"; fi
}

# raw_check "what" SCENARIO [ARG] — run one rb_raw scenario; its ok/FAIL lines become checks,
# plus one check that it exited 0 (bounded at 30 s).
raw_check() {
	local what=$1 out="$WORK/raw.$2.out" rc; shift
	timeout 30 "$RB_RAW" "$@" >"$out" 2>&1
	rc=$?
	import_checks "$out"
	CHECKS=$((CHECKS + 1))
	if [ "$rc" -eq 0 ]; then pass "$what"; else fail "$what (rb_raw $* exited $rc)"; show_output "$out"; fi
}

# api_check "what" ARGS... — one check that `rb_api ARGS` exits 0 (bounded at 60 s);
# on failure its exit status and its whole output are shown.
API_RUNS=0
api_check() {
	local what=$1 out rc; shift
	API_RUNS=$((API_RUNS + 1))
	out="$WORK/api.$API_RUNS.out"
	timeout 60 "$RB_API" "$@" >"$out" 2>&1
	rc=$?
	CHECKS=$((CHECKS + 1))
	if [ "$rc" -eq 0 ]; then pass "$what"; else fail "$what (rb_api $* exited $rc)"; show_output "$out"; fi
}

# ready_check "what" FILE [TIMEOUT_S] — a background client printed READY (bounded, default 5 s);
# if not, show its output.
ready_check() {
	CHECKS=$((CHECKS + 1))
	if wait_line "$2" READY "${3:-5}"; then pass "$1"; else fail "$1 (no READY)"; show_output "$2"; fi
}

# alive_check "what" PID FILE — a background client is still running; if not, show its output.
alive_check() {
	CHECKS=$((CHECKS + 1))
	if pid_alive "$2"; then pass "$1"; else fail "$1 (it is gone)"; show_output "$3"; fi
}
