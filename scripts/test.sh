#!/bin/bash
# test.sh — the whole test suite, as CI runs it (root, Debian 12):
#   1. install build/test dependencies (scripts/deps.sh)
#   2. build (clang, warnings as errors) and run unit + end-to-end tests
#   3. rebuild with AddressSanitizer + UndefinedBehaviorSanitizer and run them again
#   4. run every libFuzzer target for a bounded time (FUZZ_SECONDS, default 20)
# Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

./scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
export CC=clang

passed=0
failed=0

# meson_suite BUILD_DIR [meson setup options] — build and run every test of the suite.
meson_suite() {
	local dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" >/dev/null || { failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		cat "$dir.build.log"; failed=$((failed + 1)); return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2
	local log="$dir/meson-logs/testlog.json"
	local p f
	p=$(python3 -c "import json,sys; print(sum(1 for l in open('$log') if json.loads(l)['result'] in ('OK','EXPECTEDFAIL','SKIP')))")
	f=$(python3 -c "import json,sys; print(sum(1 for l in open('$log') if json.loads(l)['result'] not in ('OK','EXPECTEDFAIL','SKIP')))")
	passed=$((passed + p)); failed=$((failed + f))
}

echo "== build and test (release-like, -O2) =="
meson_suite build

echo "== AddressSanitizer + UndefinedBehaviorSanitizer =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
meson_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

echo "== fuzz targets (${FUZZ_SECONDS}s each) =="
if [ ! -d build-fuzz ]; then meson setup build-fuzz -Dfuzz=true -Dbuildtype=debug -Db_lundef=false >/dev/null; fi
if ninja -C build-fuzz >build-fuzz.build.log 2>&1; then
	for t in build-fuzz/tests/fuzz/fuzz_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		corpus=$(mktemp -d)
		if "$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 "$corpus" >"$t.log" 2>&1; then
			echo "ok: $(basename "$t") ($(grep -o 'Done [0-9]* runs' "$t.log" | grep -o '[0-9]*' || echo '?') runs)"
			passed=$((passed + 1))
		else
			echo "FAIL: $(basename "$t")"; tail -40 "$t.log"; failed=$((failed + 1))
		fi
		rm -rf "$corpus"
	done
else
	cat build-fuzz.build.log; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
