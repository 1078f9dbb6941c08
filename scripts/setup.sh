#!/usr/bin/env bash
# Installs everything udpsieve needs to build and test, and reserves hugepages.
# Idempotent: packages already present are not reinstalled; pages already reserved are kept.
# Usage: scripts/setup.sh            (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libdpdk-dev dpdk-dev            # DPDK 22.11 headers/libs/PMDs; dpdk-testpmd for benchmarks
  dpdk-doc                        # DPDK's examples: the benchmark builds l3fwd --lookup acl
  libnuma-dev libspdlog-dev libyaml-dev nlohmann-json3-dev
  libabsl-dev                     # Abseil's B-tree holds the prefix sets' model
  libjemalloc-dev                 # udpsieved's malloc (large reloads fragment glibc's heap)
  libsystemd-dev systemd procps  # sd_notify; systemd-analyze verify and /bin/kill for the unit
  libncurses-dev tmux             # udpsievectl top, and its test driving it in tmux
  libyaml-cpp-dev                 # tests read their expectation files with it
  libmicrohttpd-dev               # the Prometheus endpoint (control.metrics_listen)
  libgtest-dev libgmock-dev libbenchmark-dev
  libpcap-dev                     # scenario tests read and compare pcap files
  clang libclang-rt-14-dev llvm   # libFuzzer targets and their symbolizer
  iproute2 ethtool tcpreplay tcpdump  # the network-namespace lab and its replay test
  jq                              # the rte_flow VM test reads udpsievectl --json with it
  python3 python3-yaml            # the docs' YAML examples test (tests/docs)
  groff-base man-db               # the manual pages' test renders them; systemd-analyze runs man
  exabgp gobgpd                   # the FlowSpec feeder's configuration test and BGP peers
  prometheus                      # promtool checks and unit-tests the shipped alerting rules
)
HUGEPAGES_2M=${UDPSIEVE_HUGEPAGES:-512}

say() { printf 'setup: %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "all ${#PACKAGES[@]} packages already installed"
else
  say "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Hugepages: reserve 2 MB pages and mount hugetlbfs when the kernel lets us. Without them
# udpsieved and the tests fall back to --no-huge (eal.hugepages: auto), so failure is not fatal.
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -r "$nr" ]; then
  have=$(cat "$nr")
  if [ "$have" -lt "$HUGEPAGES_2M" ]; then
    if as_root sh -c "echo $HUGEPAGES_2M > $nr" 2>/dev/null; then
      say "reserved 2 MB hugepages: $(cat "$nr") (was $have)"
    else
      say "could not reserve hugepages (not permitted here); DPDK will run with --no-huge"
    fi
  else
    say "2 MB hugepages already reserved: $have"
  fi
else
  say "this kernel offers no 2 MB hugepages; DPDK will run with --no-huge"
fi
if grep -qs ' hugetlbfs ' /proc/mounts; then
  say "hugetlbfs mounted at $(awk '$3 == "hugetlbfs" {print $2; exit}' /proc/mounts)"
elif as_root mkdir -p /dev/hugepages && as_root mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; then
  say "mounted hugetlbfs at /dev/hugepages"
else
  say "could not mount hugetlbfs; DPDK will run with --no-huge"
fi
