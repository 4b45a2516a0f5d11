#!/bin/bash
# deps.sh — install the Debian 12 packages vmnet needs to build and test.
# Idempotent: installs only what is missing. Needs root (apt-get).
set -eu

PKGS=(
	# build
	meson ninja-build pkg-config clang libblocksruntime-dev uuid-dev
	# kernel NAT of shared mode (libnftables; nftables for the tests to inspect tables)
	libnftables-dev nftables
	# sanitizers and libFuzzer runtime for clang 14
	libclang-rt-14-dev
	# compat test of the plain-C (_f) API
	gcc
	# end-to-end tests: namespaces, real clients
	iproute2 iputils-ping python3 procps
	# real DHCP clients for the gateway tests (busybox-static: also the QEMU guest's userland)
	busybox-static isc-dhcp-client curl
	# real virtual machines (tests/guest, test_qemu.sh): QEMU, a kernel to boot, the initramfs
	qemu-system-x86 linux-image-amd64 cpio
	# DNS proxy and IPv6 tests: an upstream resolver the test runs, dig, rdisc6
	dnsmasq-base bind9-dnsutils ndisc6
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
