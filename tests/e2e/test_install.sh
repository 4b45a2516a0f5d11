#!/bin/bash
# `meson install`: library with soname and only the public symbols exported,
# headers, vmnet.pc, vmnetd and vmnet; an example client built against the
# installed tree with pkg-config runs against a daemon.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
D="$WORK/root"

meson install -C "$BUILD" --destdir "$D" --no-rebuild --quiet >"$WORK/install.log" 2>&1
check "meson install succeeds" test $? -eq 0
LIB=$(find "$D" -name 'libvmnet.so.0.1.0' | head -1)
PC=$(find "$D" -name vmnet.pc | head -1)
check "libvmnet.so.0.1.0 installed" test -n "$LIB"
check "soname is libvmnet.so.0" sh -c "readelf -d '$LIB' | grep -q 'SONAME.*libvmnet.so.0]'"
nm -D --defined-only "$LIB" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$WORK/syms"
check "only the public API is exported" sh -c "! grep -vE '^(VMNET_[0-9]|vmnet_|xpc_|_xpc_|dispatch_|_dispatch_|CFRelease$|CFRetain$)' '$WORK/syms'"
check "internal symbols are hidden" sh -c "! grep -qE '^(ring_|ctl_|client_|log_|util_)' '$WORK/syms'"
check "vmnet_start_interface_f is exported" grep -qx vmnet_start_interface_f "$WORK/syms"
check "every key is exported" test "$(grep -c '_key$' "$WORK/syms")" -eq 23
check "vmnet.h installed" test -n "$(find "$D" -path '*include/vmnet/vmnet.h')"
check "compat xpc.h and dispatch.h installed" test -n "$(find "$D" -path '*vmnet/compat/xpc/xpc.h')" -a -n "$(find "$D" -path '*vmnet/compat/dispatch/dispatch.h')"
check "vmnetd installed in sbin" test -n "$(find "$D" -path '*sbin/vmnetd')"
check "vmnet installed in bin" test -n "$(find "$D" -path '*bin/vmnet' ! -path '*sbin*')"
check "vmnet.pc installed" test -n "$PC"
export PKG_CONFIG_PATH=$(dirname "$PC")
PREFIX=$(pkg-config --variable=prefix vmnet)
FLAGS=$(pkg-config --define-variable=prefix="$D$PREFIX" --cflags --libs vmnet)
check "pkg-config adds the compat include dir" sh -c "echo '$FLAGS' | grep -q 'vmnet/compat'"
SAN=""
[ "${SANITIZE:-none}" != none ] && SAN="-fsanitize=$SANITIZE"
clang -fblocks $SAN "$SRC/examples/hello_vmnet.c" $FLAGS -o "$WORK/hello" -Wl,-rpath,"$(dirname "$LIB")" 2>"$WORK/cc.log"
check "a blocks client builds against the installed tree" test -x "$WORK/hello"
start_daemon
"$WORK/hello" >"$WORK/hello.out" 2>&1
check "the installed client runs against vmnetd" grep -q "stopped: VMNET_SUCCESS" "$WORK/hello.out"
check "it got a MAC and the default subnet" grep -q "subnet 192.168.128.1-192.168.128.254" "$WORK/hello.out"
cat "$WORK/hello.out"
finish
