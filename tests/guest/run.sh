#!/bin/bash
# run.sh — boot the test guest (build.sh) under QEMU with one virtio-net NIC,
# run a script inside it and exit with that script's status.
#
#   tests/guest/run.sh [-t SECS] [-m MAC] [-l LOG] [-c CPUS] [-x "WRAPPER ARGS --"] SCRIPT -- NETDEV-ARGS...
#
#   SCRIPT        run by busybox sh in the guest after DHCP (passed with -fw_cfg)
#   NETDEV-ARGS   QEMU options defining netdev n0, e.g.
#                 -netdev stream,id=n0,server=off,addr.type=unix,addr.path=PATH
#   -x WRAPPER    words put before qemu-system-x86_64 (e.g. "vmnet run --fd 3 --")
#   -t SECS       give up after SECS (default 120): QEMU is killed, exit 124
#   -m MAC        the NIC's MAC (default 52:54:00:12:34:56)
#   -l LOG        keep the serial console there (default: a temporary file)
#   -S            guest RAM in a shared, sealed memfd (vhost-user needs it)
#   -d OPTS       more properties of the NIC (e.g. ",vectors=0")
#   -c CPUS       virtual CPUs (default 1)
#
# Prints the console lines between GUEST_BEGIN and GUEST_END, preceded by the
# GUEST_LEASE line, and one "run.sh: ..." timing line on stderr. Exit status:
# the script's, 124 on timeout, 125 when the guest died without a status.
# TCG only: KVM, where present, is not used so that results do not depend on it.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
IMG=${GUEST_IMAGE:-$HERE/out}
TIMEOUT=120 MAC=52:54:00:12:34:56 LOG="" WRAP="" SHM=() DEV="" CPUS=1
while getopts "t:m:l:x:Sd:c:" o; do
	case $o in
	t) TIMEOUT=$OPTARG ;;
	m) MAC=$OPTARG ;;
	l) LOG=$OPTARG ;;
	x) WRAP=$OPTARG ;;
	d) DEV=$OPTARG ;;
	c) CPUS=$OPTARG ;;
	S) SHM=(-object memory-backend-memfd,id=mem0,size=256M,share=on -numa node,memdev=mem0) ;;
	*) sed -n '2,21p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] && [ "$2" = "--" ] || { sed -n '2,21p' "$0" >&2; exit 2; }
SCRIPT=$1
shift 2
KERNEL=$IMG/vmlinux
[ -r "$KERNEL" ] || KERNEL=$IMG/vmlinuz
[ -r "$KERNEL" ] && [ -r "$IMG/initramfs.gz" ] || { echo "run.sh: no guest image in $IMG (build.sh)" >&2; exit 125; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vmnet-guest-run.XXXXXX")
[ -n "$LOG" ] || LOG=$TMP/console.log
: >"$LOG"

# shellcheck disable=SC2206 # the wrapper is a list of words
CMD=($WRAP qemu-system-x86_64 -nodefaults -no-user-config -display none -monitor none -no-reboot
	-accel tcg -m 256 -smp "$CPUS" -serial "file:$LOG" "${SHM[@]}"
	-kernel "$KERNEL" -initrd "$IMG/initramfs.gz"
	-append "console=ttyS0 panic=-1 quiet loglevel=3 edd=off"
	-fw_cfg "name=opt/vmtest,file=$SCRIPT"
	"$@" -device "virtio-net-pci,netdev=n0,mac=$MAC,romfile=$DEV")
T0=$(date +%s.%N)
"${CMD[@]}" >"$TMP/qemu.out" 2>&1 &
QPID=$!
END=$(($(date +%s) + TIMEOUT))
TIMED_OUT=0
while kill -0 "$QPID" 2>/dev/null; do
	if grep -aq '^GUEST_EXIT=' "$LOG"; then
		for _ in $(seq 20); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
		break
	fi
	if [ "$(date +%s)" -ge "$END" ]; then
		TIMED_OUT=1
		break
	fi
	sleep 0.2
done
kill "$QPID" 2>/dev/null
wait "$QPID" 2>/dev/null
WALL=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
tr -d '\r' <"$LOG" >"$TMP/console.txt"
RC=$(sed -n 's/^GUEST_EXIT=//p' "$TMP/console.txt" | tail -1)
[ "$TIMED_OUT" = 1 ] && RC=""
echo "run.sh: ${WALL}s, guest status ${RC:-none}$([ "$TIMED_OUT" = 1 ] && echo ", timed out after ${TIMEOUT}s")" >&2
grep -a '^GUEST_LEASE\|^GUEST_NOLEASE' "$TMP/console.txt"
sed -n '/^GUEST_BEGIN/,/^GUEST_END/p' "$TMP/console.txt" | sed '1d;$d'
if [ -z "$RC" ] || [ "$RC" != 0 ]; then
	echo "run.sh: console and QEMU output follow" >&2
	tail -n 30 "$TMP/console.txt" >&2
	cat "$TMP/qemu.out" >&2
fi
rm -rf "$TMP"
[ "$TIMED_OUT" = 1 ] && exit 124
[ -n "$RC" ] || exit 125
exit "$RC"
