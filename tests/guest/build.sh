#!/bin/bash
# build.sh — the Linux guest of the QEMU tests: Debian's kernel (linux-image-amd64)
# and a small busybox initramfs with the virtio-net modules, ./init and
# ./udhcpc.script. The e2e tests call it; it rebuilds only when the kernel,
# busybox or the files here changed.
#
#   tests/guest/build.sh [OUTDIR]      default: tests/guest/out (git-ignored)
#   EXTRA_BINS="/usr/bin/iperf3 ..." tests/guest/build.sh OUTDIR
#                                      also copy these programs and the shared
#                                      libraries ldd names for them (bench/qemu.sh;
#                                      give such an image an OUTDIR of its own so
#                                      the tests' image stays small)
#
# Produces OUTDIR/vmlinux (ELF, booted through PVH: no decompression under
# TCG) or OUTDIR/vmlinuz when the kernel has no PVH entry, and
# OUTDIR/initramfs.gz. Needs: linux-image-amd64 busybox-static cpio
# (scripts/deps.sh). Exit 77 when one is missing (the tests skip).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE/out}
BUSYBOX=/bin/busybox

KVER=""
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
	v=${k#/boot/vmlinuz-}
	if [ -f "/lib/modules/$v/modules.dep" ]; then KVER=$v; break; fi
done
if [ -z "$KVER" ]; then
	echo "build.sh: no /boot/vmlinuz-* with its modules (apt-get install linux-image-amd64)" >&2
	exit 77
fi
if ! command -v cpio >/dev/null || ! [ -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "build.sh: needs cpio and a static $BUSYBOX (apt-get install cpio busybox-static)" >&2
	exit 77
fi
MODDIR=/lib/modules/$KVER

# The extra programs and every shared object they load (ldd prints "name => path (addr)"
# or "path (addr)" for the loader; the vDSO has no file).
EXTRA_FILES=()
for b in ${EXTRA_BINS:-}; do
	[ -x "$b" ] || { echo "build.sh: EXTRA_BINS: $b is not an executable" >&2; exit 1; }
	EXTRA_FILES+=("$b")
	while read -r lib; do EXTRA_FILES+=("$lib"); done < <(ldd "$b" 2>/dev/null |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
done

# Up to date? The stamp names every input.
STAMP="$KVER $(sha256sum "$BUSYBOX" "$HERE/build.sh" "$HERE/init" "$HERE/udhcpc.script" "$HERE/vmlinux.py" \
	${EXTRA_FILES[@]+"${EXTRA_FILES[@]}"} | sha256sum | cut -c1-16)"
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ]; then
	exit 0
fi
mkdir -p "$OUT"
rm -f "$OUT/stamp"
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vmnet-guest.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,lib/modules,usr/bin,usr/sbin}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[ -e "$ROOT/bin/$a" ] || ln -s busybox "$ROOT/bin/$a"
done

# The modules and what they depend on, in load order (from modules.dep: modinfo would
# look at the running kernel, which is not the guest's).
declare -A SEEN=()
ORDER=()
add_module() { # $1: path relative to MODDIR, as in modules.dep
	local rel=$1 d
	[ -n "${SEEN[$rel]:-}" ] && return 0
	SEEN[$rel]=1
	for d in $(awk -v m="$rel:" '$1 == m { for (i = 2; i <= NF; i++) print $i }' "$MODDIR/modules.dep"); do
		add_module "$d"
	done
	ORDER+=("$rel")
}
for m in virtio_pci virtio_net qemu_fw_cfg; do
	rel=$(awk -F: -v n="$m" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.(xz|zst|gz))?$/, "", b); gsub(/-/, "_", b);
		if (b == n) { print $1; exit } }' "$MODDIR/modules.dep")
	if [ -n "$rel" ]; then
		add_module "$rel"
	elif ! grep -q "/$m.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
		echo "build.sh: module $m not found in $MODDIR" >&2
		exit 1
	fi
done
: >"$ROOT/etc/modules.order"
for rel in "${ORDER[@]}"; do
	base=$(basename "$rel"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
	case "$rel" in
	*.xz) xz -dc "$MODDIR/$rel" >"$ROOT/lib/modules/$base" ;;
	*.zst) zstd -qdc "$MODDIR/$rel" >"$ROOT/lib/modules/$base" ;;
	*.gz) gzip -dc "$MODDIR/$rel" >"$ROOT/lib/modules/$base" ;;
	*) cp "$MODDIR/$rel" "$ROOT/lib/modules/$base" ;;
	esac
	echo "$base" >>"$ROOT/etc/modules.order"
done

cp "$HERE/init" "$ROOT/init"
cp "$HERE/udhcpc.script" "$ROOT/etc/udhcpc.script"
chmod 755 "$ROOT/init" "$ROOT/etc/udhcpc.script"
echo "root:x:0:0:root:/:/bin/sh" >"$ROOT/etc/passwd"
echo "127.0.0.1 localhost" >"$ROOT/etc/hosts"
for f in ${EXTRA_FILES[@]+"${EXTRA_FILES[@]}"}; do # at the same path as on the host: the loader finds them there
	mkdir -p "$ROOT$(dirname "$f")"
	cp -L "$f" "$ROOT$f"
done
: >"$ROOT/etc/resolv.conf"
(cd "$ROOT" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet) | gzip -4 >"$OUT/initramfs.gz"

rm -f "$OUT/vmlinux" "$OUT/vmlinuz"
if ! grep -q '^CONFIG_PVH=y' "/boot/config-$KVER" 2>/dev/null ||
	! python3 "$HERE/vmlinux.py" "/boot/vmlinuz-$KVER" "$OUT/vmlinux"; then
	cp "/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
fi
echo "$STAMP" >"$OUT/stamp"
echo "guest: kernel $KVER, modules: $(tr '\n' ' ' <"$ROOT/etc/modules.order")${EXTRA_BINS:+, extra: $EXTRA_BINS}"
