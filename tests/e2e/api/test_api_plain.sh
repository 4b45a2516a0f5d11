#!/bin/bash
# A plain-C client built with gcc (no blocks: the *_f API only) against a private vmnetd.
#   usage: test_api_plain.sh [API_BUILD_DIR [SOURCE_ROOT]]
. "$(dirname "$0")/../lib.sh"
SRC=${2:-$(cd "$(dirname "$0")/../../.." && pwd)}

if ! command -v gcc >/dev/null; then
	echo "gcc not found: skipped"
	exit 77
fi
if [ "${SANITIZE:-none}" != none ]; then
	# libvmnet.so is built with clang's sanitizer runtime, which a gcc program cannot load.
	echo "sanitizer build ($SANITIZE): skipped"
	exit 77
fi
check "api_plain.c builds with gcc -std=gnu11 -Wall -Wextra -Werror" \
	gcc -std=gnu11 -Wall -Wextra -Werror -I"$SRC/include" -I"$SRC" "$(dirname "$0")/api_plain.c" \
	-o "$WORK/api_plain" -L"$BUILD/lib" -Wl,-rpath,"$BUILD/lib" -lvmnet -lpthread
start_daemon
if [ -x "$WORK/api_plain" ]; then
	check "api_plain" timeout -k 5 60 "$WORK/api_plain"
fi
check "daemon still alive" daemon_alive
finish
