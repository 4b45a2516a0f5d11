#!/bin/bash
# demo.sh — the main job on the default configuration: build vmnet, then put two
# guests (Linux network namespaces with their own TCP/IP stacks) on the default
# host-mode network and have them reach each other through vmnetd; guest 1 gets
# its address from the network's DHCP server, and the host (root: through the
# network's host tap) pings it.
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

echo "== guest 1: namespace $NS on the default network, address by DHCP (busybox udhcpc)"
ip netns add "$NS"
mkdir -p "/etc/netns/$NS" && echo "nameserver 127.0.0.1" >"/etc/netns/$NS/resolv.conf"
"$VMNET" attach --netns "$NS"
LEASE=$(ip netns exec "$NS" busybox udhcpc -i eth0 -n -q -f -t 5 -T 1 -s /bin/true 2>&1 |
	sed -n 's/.*lease of \([0-9.]*\) obtained from \([0-9.]*\).*/\1 \2/p')
read -r IP GW <<<"$LEASE"
[ -n "${IP:-}" ] || { echo "no DHCP lease"; exit 1; }
echo "   leased $IP from the gateway $GW"
ip -n "$NS" addr add "$IP/24" dev eth0

echo "== guest 2: a fresh namespace made by 'vmnet run', pinging guest 1 at $IP"
"$VMNET" run --ip "${IP%.*}.250/24" -- ping -c 3 -i 0.2 "$IP"

echo "== guest 1 pings the gateway $GW"
ip netns exec "$NS" ping -c 2 -i 0.2 -q "$GW"

if ip -o link show | grep -q 'vmnet-host'; then
	echo "== the host pings guest 1 through the network's host tap"
	ping -c 2 -i 0.2 -q "$IP"
fi

echo "== vmnet status"
"$VMNET" status
