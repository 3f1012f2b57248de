#!/usr/bin/env bash
# memif_baseline.sh - receive rate of DPDK's shared-memory packet interface (net_memif, copy mode)
# between two dpdk-testpmd processes on this machine: a baseline for tests/perf/channel_bench.
#
#   tests/perf/memif_baseline.sh [SIZE...]        default sizes: 64 1500
#   env: DURATION=6 seconds the receiver runs per run, RUNS=3 runs per size,
#        CPU_TX=0 CPU_RX=1 the CPU each process is pinned to (all its lcores on that CPU),
#        KEEP_LOGS=1 keep the testpmd logs (the temp dir is printed)
#
# Server (memif role=server): --forward-mode=txonly --txpkts=SIZE (SIZE is the whole frame).
# Client (memif role=client): --forward-mode=rxonly. Both --no-huge --no-pci --no-shconf -m 512,
# memif socket in a temp dir, zero-copy=no (copy on both sides). The rate is the client's
# "Rx-pps" printed every second (--stats-period 1); the first 2 samples (connect, warm-up) and
# any after the sender stopped are dropped. Prints per run and, per size,
#   RESULT memif SIZE MIN MEDIAN MAX       (Mpps, over all steady one-second samples)
# Bounded: every process runs under timeout(1); only the PIDs started here are signalled.
set -uo pipefail

DURATION="${DURATION:-6}"
RUNS="${RUNS:-3}"
CPU_TX="${CPU_TX:-0}"
CPU_RX="${CPU_RX:-1}"
SIZES=("$@")
[ "${#SIZES[@]}" -eq 0 ] && SIZES=(64 1500)
TESTPMD="${TESTPMD:-$(command -v dpdk-testpmd || true)}"

if [ -z "$TESTPMD" ]; then
	echo "memif_baseline: dpdk-testpmd not found (Debian: apt-get install dpdk-dev)" >&2
	exit 2
fi

TMP="$(mktemp -d /tmp/bypassd-memif.XXXXXX)"
SRV_PID=""
cleanup() {
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -INT "$SRV_PID" 2>/dev/null
		sleep 1
		kill -KILL "$SRV_PID" 2>/dev/null
	fi
	if [ -n "${KEEP_LOGS:-}" ]; then
		echo "memif_baseline: logs in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# median/min/max of numbers on stdin (one per line): prints "MIN MED MAX N"
stats() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "0 0 0 0"; exit }
		med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f %.3f %.3f %d\n", v[1], med, v[NR], NR }'
}

EAL_COMMON=(--no-huge --no-pci --no-shconf -m 512 --no-telemetry --log-level=warning)
PMD_COMMON=(--stats-period 1 --no-mlockall --total-num-mbufs=16384 --burst=32)

echo "memif_baseline: $TESTPMD, sizes ${SIZES[*]}, $RUNS runs x ${DURATION}s, tx CPU $CPU_TX, rx CPU $CPU_RX"
for size in "${SIZES[@]}"; do
	all="$TMP/all-$size"
	: >"$all"
	for run in $(seq 1 "$RUNS"); do
		dir="$TMP/run-$size-$run"
		mkdir -p "$dir"
		sock="$dir/memif.sock"
		# server: transmits; outlives the client, stopped by us (timeout is the safety net)
		timeout -k 5 -s INT $((DURATION + 30)) "$TESTPMD" \
			--lcores "0@$CPU_TX,1@$CPU_TX" "${EAL_COMMON[@]}" --file-prefix "bpmemif-tx-$$" \
			--vdev "net_memif0,role=server,socket=$sock,socket-abstract=no,zero-copy=no" \
			-- --forward-mode=txonly --txpkts="$size" "${PMD_COMMON[@]}" \
			</dev/null >"$dir/tx.log" 2>&1 &
		SRV_PID=$!
		for _ in $(seq 1 100); do
			[ -S "$sock" ] && break
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.1
		done
		if [ ! -S "$sock" ]; then
			echo "memif_baseline: server did not create $sock; its log:" >&2
			tail -20 "$dir/tx.log" >&2
			exit 1
		fi
		# client: receives for DURATION seconds, then SIGINT prints the totals and exits
		timeout -k 5 -s INT "$DURATION" "$TESTPMD" \
			--lcores "0@$CPU_RX,1@$CPU_RX" "${EAL_COMMON[@]}" --file-prefix "bpmemif-rx-$$" \
			--vdev "net_memif0,role=client,socket=$sock,socket-abstract=no,zero-copy=no" \
			-- --forward-mode=rxonly "${PMD_COMMON[@]}" \
			</dev/null >"$dir/rx.log" 2>&1
		kill -INT "$SRV_PID" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
		SRV_PID=""
		# Rx-pps samples, skip the first 2, drop zeros (not connected yet / sender gone)
		grep -a 'Rx-pps:' "$dir/rx.log" | awk '{print $2}' | tail -n +3 |
			awk '$1 > 0 {printf "%.3f\n", $1 / 1e6}' >"$dir/samples"
		if [ ! -s "$dir/samples" ]; then
			echo "memif_baseline: $size B run $run: no receive samples; client log:" >&2
			grep -av '^\s*$' "$dir/rx.log" | tail -20 >&2
			exit 1
		fi
		cat "$dir/samples" >>"$all"
		read -r mn med mx n < <(stats <"$dir/samples")
		total=$(grep -a 'RX-packets:' "$dir/rx.log" | tail -1 | awk '{print $2}')
		printf '  run %d: memif    %4d B %8.2f Mpps (median of %d one-second samples, %.2f..%.2f; %s packets in total)\n' \
			"$run" "$size" "$med" "$n" "$mn" "$mx" "${total:-?}"
	done
	read -r mn med mx n < <(stats <"$all")
	echo "RESULT memif $size $mn $med $mx"
done
