#!/usr/bin/env bash
# run_channel_bench.sh - the channel benchmark with all its baselines, one command, one table.
#
#   tests/perf/run_channel_bench.sh
#   env: BUILD=build-perf (release build dir; configured and built here if needed)
#        RUNS=7 runs of each in-process method (channel, rte_ring, Linux UDP), rounds interleaved
#        MEMIF_RUNS=3 MEMIF_DURATION=8 (memif_baseline.sh), SKIP_MEMIF=1 to leave memif out
#        CPUS="0 1" the producer's and the consumer's CPU
#        EXTRA="--no-payload" more channel_bench options
#
# Runs memif_baseline.sh (two dpdk-testpmd processes), then channel_bench with memif's medians,
# which prints the table (min/median/max Mpps, ns/packet) and the ratios. Not a test: numbers
# move with the host's load. docs/performance.md explains them. Needs root for nothing but a
# larger UDP receive buffer; needs dpdk-testpmd (Debian: dpdk-dev) for the memif row.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-perf}"
RUNS="${RUNS:-7}"
MEMIF_RUNS="${MEMIF_RUNS:-3}"
MEMIF_DURATION="${MEMIF_DURATION:-8}"
read -r CPU0 CPU1 <<<"${CPUS:-0 1}"
SIZES=(64 1500)
LOG_DIR="$BUILD/perf-logs"

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null || {
		echo "run_channel_bench: meson setup $BUILD failed" >&2
		exit 1
	}
fi
# only what this needs: a broken target elsewhere does not stop the benchmark
ninja -C "$BUILD" tests/perf/channel_bench >/dev/null || {
	echo "run_channel_bench: build of channel_bench failed (ninja -C $BUILD tests/perf/channel_bench)" >&2
	exit 1
}
mkdir -p "$LOG_DIR"

echo "== machine"
echo "  $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
	"($(grep -m1 -o 'hypervisor' /proc/cpuinfo >/dev/null && echo virtual machine || echo bare metal))"
echo "  kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  producer / sender on CPU $CPU0, consumer / receiver on CPU $CPU1"

memif_arg=""
if [ -z "${SKIP_MEMIF:-}" ]; then
	echo
	echo "== memif baseline (tests/perf/memif_baseline.sh)"
	RUNS="$MEMIF_RUNS" DURATION="$MEMIF_DURATION" CPU_TX="$CPU0" CPU_RX="$CPU1" \
		timeout -k 10 600 "$ROOT/tests/perf/memif_baseline.sh" "${SIZES[@]}" |
		tee "$LOG_DIR/memif.log"
	for s in "${SIZES[@]}"; do
		read -r mn med mx < <(awk -v s="$s" '$1 == "RESULT" && $2 == "memif" && $3 == s {print $4, $5, $6}' "$LOG_DIR/memif.log")
		[ -n "${med:-}" ] || continue
		memif_arg="${memif_arg:+$memif_arg,}$s=$med"
		if awk -v a="$mn" -v b="$mx" 'BEGIN {exit !(b > a * 1.3)}'; then
			echo "run_channel_bench: memif $s B samples spread $mn..$mx Mpps: the machine was busy, its median may be low; re-run if it matters" >&2
		fi
	done
	[ -z "$memif_arg" ] && echo "run_channel_bench: no memif figures (see above); the table shows n/a" >&2
fi

echo
echo "== channel, rte_ring and Linux UDP (channel_bench)"
sizes_csv=$(IFS=,; echo "${SIZES[*]}")
# shellcheck disable=SC2086 # EXTRA is a list of options
timeout -k 10 900 "$BUILD/tests/perf/channel_bench" \
	--no-huge --no-pci --no-shconf -m 256 --no-telemetry --log-level=warning \
	--file-prefix "bpbench-$$" --lcores "0@$CPU0,1@$CPU1" -- \
	--runs "$RUNS" --sizes "$sizes_csv" --copy-out ${memif_arg:+--memif "$memif_arg"} ${EXTRA:-} |
	tee "$LOG_DIR/channel_bench.log"
rc=${PIPESTATUS[0]}
echo
echo "logs: $LOG_DIR"
exit "$rc"
