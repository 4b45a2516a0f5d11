#!/bin/bash
# demo.sh — the main job on the default configuration: build vmnet, then put two
# guests (Linux network namespaces with their own TCP/IP stacks) on the default
# host-mode network and have them reach each other through vmnetd.
#
# Nothing is configured: the first `vmnet` command starts vmnetd by itself
# (root: the system daemon on /run/vmnet/vmnetd.sock), which puts both guests on
# the default host network 192.168.128.0/24. Needs root (namespaces and taps).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CC=clang
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

VMNET=$PWD/build/cli/vmnet
export VMNETD=$PWD/build/daemon/vmnetd   # the daemon to autostart (not installed yet)
NS=vmnet-demo-$$
started_here=0
[ -S /run/vmnet/vmnetd.sock ] || started_here=1

cleanup() {
	"$VMNET" detach "$NS" >/dev/null 2>&1 || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS"
	[ "$started_here" = 1 ] && "$VMNET" shutdown >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== guest 1: namespace $NS, attached to the default network as 192.168.128.10"
ip netns add "$NS"
mkdir -p "/etc/netns/$NS" && echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
"$VMNET" attach --netns "$NS" --ip 192.168.128.10/24

echo "== guest 2: a fresh namespace made by 'vmnet run', 192.168.128.11, pinging guest 1"
"$VMNET" run --ip 192.168.128.11/24 -- ping -c 3 -i 0.2 192.168.128.10

echo "== guest 1 pings guest 2's address? (guest 2 is gone now: expect no answer)"
ip netns exec "$NS" ping -c 1 -W 1 192.168.128.11 >/dev/null 2>&1 && echo "unexpected answer" || echo "no answer, as expected"

echo "== vmnet status"
"$VMNET" status
