#!/bin/bash
# gcc_compat.sh — the public headers and the plain-C (_f) API from gcc, which has no blocks:
# compile each plain-C test with gcc against libvmnet.so and run it.
#   usage: gcc_compat.sh SRC_ROOT BUILD_DIR TEST.c [TEST.c...]
set -eu
src=$1 build=$2; shift 2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in "$@"; do
	exe="$out/$(basename "$t" .c)"
	gcc -std=gnu11 -Wall -Wextra -Werror -I"$src/include" -I"$src" "$t" -o "$exe" \
		-L"$build/lib" -Wl,-rpath,"$build/lib" -lvmnet -lpthread
	"$exe"
done
