#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 (bookworm) packages bypassd needs to build, test and run.
# Idempotent: only what is missing is installed; safe to run on every build.
set -euo pipefail

PKGS=(
	# build
	gcc make pkg-config meson ninja-build clang libclang-rt-14-dev
	libdpdk-dev dpdk libhyperscan-dev libyaml-dev libssl-dev
	libevent-dev libjansson-dev libcurl4-openssl-dev dpdk-dev
	# test and demo
	python3 python3-pytest python3-scapy python3-prometheus-client
	iproute2 iputils-ping iputils-arping socat curl hping3 iperf3 tshark
	openssl wrk procps ethtool
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get install)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
