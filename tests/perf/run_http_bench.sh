#!/usr/bin/env bash
# run_http_bench.sh - HTTP and bulk TCP through bypassd vs the same servers on Linux epoll sockets.
#
#   sudo tests/perf/run_http_bench.sh
#   env: BUILD=build-perf   build dir with gateway/bypassd, client/http_hello, client/tcp_echo
#                           (configured --buildtype=release and built here if it has no build.ninja)
#        ROUNDS=5           rounds; each round runs Linux, then bypassd (A/B/A/B...)
#        DURATION=5         seconds of each wrk run
#        CONNS="1 16 100"   wrk connection counts; threads: 1 for 1 connection, else WRK_THREADS=2
#        BULK_MB=200        MiB sent up and echoed back per bulk run (every byte compared)
#        CPUS="0 1"         CLIENT SERVER: wrk and the bulk client on CLIENT; the Linux server and
#                           bypassd's worker lcore on SERVER
#        APP_CPU=CLIENT     where http_hello / tcp_echo run (bypassd's main lcore is on CLIENT)
#        IDLE_SLEEP_US=0    bypassd's gateway.idle_sleep_us (0: the worker busy-polls its CPU)
#        EPOLL_HTTP=...     the epoll_http binary (default: BUILD's, else compiled from
#                           tests/perf/epoll_http.c into the work directory)
#        KEEP=1             keep the work directory (logs, configs) even on success
#        CAPTURE=1          tshark the bypassd HTTP runs on the peer's veth end (into the logs)
#
# Topology (made here, removed on exit, even on failure):
#
#   [gw netns]   gw veth end: bypassd owns it (net_af_packet), or Linux has 198.18.0.10/24 on it
#                   |  veth (checksum offload, TSO, GSO, GRO off on both ends, as the tests do)
#   [peer netns] peer veth end 198.18.0.2/24: wrk, the bulk client
#
# Both servers answer on 198.18.0.10 (port 8080 HTTP, port 7 echo), one after the other: bypassd
# (gateway 198.18.0.1/24, tenant "t" owning 198.18.0.10, apps attached through the control socket)
# cannot share the interface with Linux's stack. The peer's side is Linux's TCP over the veth in
# both cases. Prints a markdown table: min / median / max over the rounds and the ratio of the
# medians, bypassd / Linux. Not a test: the numbers move with the host's load. Needs root.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build-perf}"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-1 16 100}"
WRK_THREADS="${WRK_THREADS:-2}"
BULK_MB="${BULK_MB:-200}"
read -r CPU_CLIENT CPU_SERVER <<<"${CPUS:-0 1}"
APP_CPU="${APP_CPU:-$CPU_CLIENT}"
IDLE_SLEEP_US="${IDLE_SLEEP_US:-0}"

GW_IP=198.18.0.1
PEER_IP=198.18.0.2
T_IP=198.18.0.10
HTTP_PORT=8080
ECHO_PORT=7

die() {
	echo "run_http_bench: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth)"
for tool in ip ethtool taskset timeout wrk; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null || die "meson setup $BUILD failed"
	ninja -C "$BUILD" gateway/bypassd client/http_hello client/tcp_echo >/dev/null ||
		die "build failed (ninja -C $BUILD gateway/bypassd client/http_hello client/tcp_echo)"
fi
BYPASSD="$BUILD/gateway/bypassd"
HTTP_HELLO="$BUILD/client/http_hello"
TCP_ECHO="$BUILD/client/tcp_echo"
for b in "$BYPASSD" "$HTTP_HELLO" "$TCP_ECHO"; do
	[ -x "$b" ] || die "$b is missing: this needs the TCP stream work (issue 6: http_hello, tcp_echo); point BUILD= at a build of a tree that has it, e.g. a snapshot of the stream branch"
done

WORK="$(mktemp -d /tmp/httpbench.XXXXXX)" || die "mktemp failed"
chmod 755 "$WORK" # the control socket's directory
LOG="$WORK/logs"
RES="$WORK/results"
ERRS="$WORK/errors"
mkdir -p "$LOG"
: >"$RES"
: >"$ERRS"

EPOLL_HTTP="${EPOLL_HTTP:-}"
if [ -z "$EPOLL_HTTP" ]; then
	if [ -x "$BUILD/tests/perf/epoll_http" ]; then
		EPOLL_HTTP="$BUILD/tests/perf/epoll_http"
	else
		EPOLL_HTTP="$WORK/epoll_http"
		cc -std=gnu11 -O2 -Wall -o "$EPOLL_HTTP" "$ROOT/tests/perf/epoll_http.c" ||
			die "cannot compile tests/perf/epoll_http.c"
	fi
fi

TAG="$(($$ % 100000))"
GW_NS="bphb${TAG}g"
PEER_NS="bphb${TAG}p"
GW_IF="bphbg${TAG}"
PEER_IF="bphbp${TAG}"
PIDS=()

stop_pid() { # PID [SECONDS]: SIGTERM, SIGKILL after SECONDS (default 5); only our own children
	local pid=$1 t=$((${2:-5} * 10))
	kill -0 "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null
		return 0
	}
	kill -TERM "$pid" 2>/dev/null
	while [ $t -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		t=$((t - 1))
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid" 3
	done
	PIDS=()
	ip netns del "$GW_NS" 2>/dev/null
	ip netns del "$PEER_NS" 2>/dev/null
	if [ -n "${KEEP:-}" ] || [ -n "${FAILED:-}" ]; then
		echo "logs: $LOG" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'FAILED=1; exit 130' INT TERM

# start NS CPU LOGNAME CMD...: in the background, pinned; sets STARTED to its PID (ip netns exec
# and taskset exec the command: the PID is the program's)
start() {
	local ns=$1 cpu=$2 name=$3
	shift 3
	if [ "$cpu" = - ]; then
		ip netns exec "$ns" "$@" >"$LOG/$name" 2>&1 </dev/null &
	else
		ip netns exec "$ns" taskset -c "$cpu" "$@" >"$LOG/$name" 2>&1 </dev/null &
	fi
	STARTED=$!
	PIDS+=("$STARTED")
}

forget() { # PID: stopped, drop it from PIDS
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

wait_line() { # PID FILE REGEX SECONDS: 0 when FILE has a line matching REGEX
	local pid=$1 file=$2 re=$3 t=$(($4 * 20))
	while [ $t -gt 0 ]; do
		grep -Eq "$re" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
		t=$((t - 1))
	done
	grep -Eq "$re" "$file" 2>/dev/null
}

# --- topology (as tests/integration/conftest.py makes it) -----------------------------------
ns_run() {
	local ns=$1
	shift
	timeout 10 ip netns exec "$ns" "$@"
}
setup() {
	local ns ifc feat
	for ns in "$GW_NS" "$PEER_NS"; do
		timeout 10 ip netns add "$ns" || return 1
		ns_run "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ns_run "$ns" ip link set lo up || return 1
	done
	timeout 10 ip -n "$GW_NS" link add "$GW_IF" type veth peer name "$PEER_IF" netns "$PEER_NS" || return 1
	for pair in "$GW_NS $GW_IF" "$PEER_NS $PEER_IF"; do
		read -r ns ifc <<<"$pair"
		for feat in tx rx tso gso gro; do
			ns_run "$ns" ethtool -K "$ifc" "$feat" off >/dev/null 2>&1
		done
	done
	ns_run "$PEER_NS" ip addr add "$PEER_IP/24" dev "$PEER_IF" || return 1
	ns_run "$GW_NS" ip link set "$GW_IF" up || return 1
	ns_run "$PEER_NS" ip link set "$PEER_IF" up || return 1
}
setup || {
	FAILED=1
	die "could not create the namespaces and the veth"
}

cat >"$WORK/bypassd.yaml" <<EOF
{
  "gateway": {
    "port": {"device": "net_af_packet0,iface=$GW_IF,qpairs=1"},
    "eal_args": ["--no-huge", "--no-shconf", "--no-pci", "--no-telemetry", "-m", "256",
                 "--file-prefix", "bphb$TAG", "--lcores", "0@$CPU_CLIENT,1@$CPU_SERVER"],
    "workers": 1,
    "idle_sleep_us": $IDLE_SLEEP_US,
    "addresses": ["$GW_IP/24"],
    "control_socket": "$WORK/control.sock",
    "log_level": "info"
  },
  "policy": {
    "tenants": [
      {"name": "t", "addresses": ["$T_IP"], "allow": {"uids": [0]},
       "ports": {"tcp": [$ECHO_PORT, "$HTTP_PORT"]},
       "default": {"ingress": "allow", "egress": "allow"}}
    ]
  }
}
EOF

us() { # wrk's "52.00us" / "1.23ms" / "1.00s" -> microseconds
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print "nan"
	}'
}

# run_wrk SIDE ROUND CONNS: one wrk run against HTTP_PORT; appends RESULT lines, notes errors
run_wrk() {
	local side=$1 round=$2 c=$3 t out rps p50 p99
	t=$WRK_THREADS
	[ "$c" -lt "$t" ] && t=$c
	out="$LOG/wrk-$side-r$round-c$c"
	timeout $((DURATION + 20)) ip netns exec "$PEER_NS" taskset -c "$CPU_CLIENT" \
		wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 5s --latency "http://$T_IP:$HTTP_PORT/" \
		>"$out" 2>&1
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
	p50=$(awk '$1 == "50%" {print $2}' "$out")
	p99=$(awk '$1 == "99%" {print $2}' "$out")
	if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
		echo "round $round $side c=$c: wrk gave no figures: $(tr '\n' ' ' <"$out" | cut -c1-300)" >>"$ERRS"
		return 1
	fi
	{
		echo "$side rps c$c $rps"
		echo "$side p50 c$c $(us "$p50")"
		echo "$side p99 c$c $(us "$p99")"
	} >>"$RES"
	if grep -Eq 'Socket errors|Non-2xx' "$out"; then
		echo "round $round $side c=$c: $(grep -E 'requests in|Socket errors|Non-2xx' "$out" | sed 's/^ *//' | tr '\n' ';')" >>"$ERRS"
	fi
	printf '  %-8s c=%-3s %10s req/s  p50 %-9s p99 %s\n' "$side" "$c" "$rps" "$p50" "$p99"
}

# run_bulk SIDE ROUND: BULK_MB up and back through the echo server on ECHO_PORT
run_bulk() {
	local side=$1 round=$2 out mibs
	out="$LOG/bulk-$side-r$round"
	timeout 90 ip netns exec "$PEER_NS" taskset -c "$CPU_CLIENT" \
		"$EPOLL_HTTP" client "$T_IP" "$ECHO_PORT" $((BULK_MB << 20)) 60 >"$out" 2>&1
	mibs=$(awk '$1 == "bulk:" && $7 == "yes" {print $11}' "$out")
	if [ -z "$mibs" ]; then
		echo "round $round $side bulk: $(tr '\n' ' ' <"$out" | cut -c1-300)" >>"$ERRS"
		return 1
	fi
	echo "$side bulk - $mibs" >>"$RES"
	printf '  %-8s bulk %s MiB each way: %s MiB/s, every byte matched\n' "$side" "$BULK_MB" "$mibs"
}

# serve SIDE ROUND NAME CPU CMD...: start a server, wait for "listening on"; sets SRV
serve() {
	local side=$1 round=$2 name=$3 cpu=$4
	shift 4
	start "$GW_NS" "$cpu" "$name-$side-r$round" "$@"
	SRV=$STARTED
	wait_line "$SRV" "$LOG/$name-$side-r$round" "listening on" 10 && return 0
	echo "round $round $side: $name did not start: $(tr '\n' ' ' <"$LOG/$name-$side-r$round" | cut -c1-300)" >>"$ERRS"
	stop_pid "$SRV"
	forget "$SRV"
	return 1
}

unserve() {
	stop_pid "$SRV"
	forget "$SRV"
}

linux_round() {
	local r=$1 c
	ns_run "$GW_NS" ip addr add "$T_IP/24" dev "$GW_IF"
	ns_run "$PEER_NS" ip neigh flush dev "$PEER_IF"
	if serve linux "$r" epoll_http "$CPU_SERVER" "$EPOLL_HTTP" http "$T_IP" "$HTTP_PORT"; then
		for c in $CONNS; do
			run_wrk linux "$r" "$c"
		done
		unserve
	fi
	if serve linux "$r" epoll_echo "$CPU_SERVER" "$EPOLL_HTTP" echo "$T_IP" "$ECHO_PORT"; then
		run_bulk linux "$r"
		unserve
	fi
	ns_run "$GW_NS" ip addr flush dev "$GW_IF"
}

# gw_counters PID LOGFILE: SIGUSR1, then the new dump's counters (total, tcp) as "k=v ..." on one
# line; what the gateway says about drops, resets and retransmissions during a run
GW_KEYS="drops policy_ct_invalid ct_tx_refused ct_tx_reset tcp_tx_policy_deny tcp_send_deferred tcp_retrans_segs tcp_rto tcp_dup_acks tcp_ooo_queued tcp_accepted tcp_closed tcp_reset tcp_rst_in tcp_rst_out_engine tcp_rst_ignored tcp_no_txbuf tcp_pend_full"
gw_counters() {
	local pid=$1 log=$2 n t=40
	n=$(grep -c "counters tcp:" "$log")
	kill -USR1 "$pid" 2>/dev/null || return 1
	while [ $t -gt 0 ] && [ "$(grep -c "counters tcp:" "$log")" -le "$n" ]; do
		sleep 0.05
		t=$((t - 1))
	done
	grep -E "counters (total|tcp):" "$log" | tail -2 | sed 's/.*counters [a-z]*: //' | tr '\n' ' '
}
# delta "k=v ..." "k=v ..." -> the GW_KEYS that changed, as k=+d
gw_delta() {
	awk -v a="$1" -v b="$2" -v keys="$GW_KEYS" 'BEGIN {
		n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); A[kv[1]] = kv[2] }
		n = split(b, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); B[kv[1]] = kv[2] }
		n = split(keys, k, " ")
		for (i = 1; i <= n; i++) if (B[k[i]] - A[k[i]]) printf "%s=%d ", k[i], B[k[i]] - A[k[i]]
	}'
}

# the peer's Linux TCP on the bulk run: what it saw out of order, retransmitted, dropped
PEER_KEYS="TcpRetransSegs TcpExtTCPOFOQueue TcpExtTCPOFODrop TcpExtTCPRcvQDrop TcpExtTCPSACKReorder TcpExtTCPTSReorder TcpExtTCPFastRetrans TcpExtTCPLossProbes TcpExtTCPTimeouts TcpExtTCPSpuriousRtxHostQueues TcpExtTCPRcvPruned TcpExtTCPBacklogDrop TcpExtTCPZeroWindowDrop TcpExtTCPDSACKRecv TcpExtTCPDSACKOldSent"
peer_nstat() { NSTAT_HISTORY="$WORK/nstat-peer" ns_run "$PEER_NS" nstat "$@"; }

bypassd_round() {
	local r=$1 c gw before after cap="" log="$LOG/bypassd-r$1"
	ns_run "$PEER_NS" ip neigh flush dev "$PEER_IF"
	# no taskset: the EAL pins its lcores (--lcores above)
	start "$GW_NS" - "bypassd-r$r" "$BYPASSD" -c "$WORK/bypassd.yaml"
	gw=$STARTED
	if ! wait_line "$gw" "$log" "ready:" 20; then
		echo "round $r bypassd: not ready within 20 s: $(tail -5 "$log" | tr '\n' ' ')" >>"$ERRS"
		stop_pid "$gw"
		forget "$gw"
		return 1
	fi
	if [ -n "${CAPTURE:-}" ]; then # headers of the HTTP runs (tshark), on the peer's veth end
		start "$PEER_NS" - "tshark-r$r" timeout $((${#CONNS} * DURATION + 60)) \
			tshark -q -i "$PEER_IF" -n -s 96 -w "$LOG/peer-bypassd-r$r.pcap" -f "tcp port $HTTP_PORT"
		cap=$STARTED
		sleep 1
	fi
	if serve bypassd "$r" http_hello "$APP_CPU" "$HTTP_HELLO" -s "$WORK/control.sock" t "$T_IP" "$HTTP_PORT"; then
		before=$(gw_counters "$gw" "$log")
		for c in $CONNS; do
			run_wrk bypassd "$r" "$c"
			kill -0 "$gw" 2>/dev/null || break
			sleep 0.5 # the last connections' closes
			after=$(gw_counters "$gw" "$log")
			echo "             gateway: $(gw_delta "$before" "$after")"
			before=$after
		done
		unserve
	fi
	if [ -n "${cap:-}" ]; then
		stop_pid "$cap"
		forget "$cap"
	fi
	if kill -0 "$gw" 2>/dev/null &&
		serve bypassd "$r" tcp_echo "$APP_CPU" "$TCP_ECHO" -s "$WORK/control.sock" t "$T_IP" "$ECHO_PORT"; then
		before=$(gw_counters "$gw" "$log")
		/usr/bin/python3 "$ROOT/tests/perf/afpacket_stats.py" "$gw" >/dev/null 2>&1 # resets them
		peer_nstat -n >/dev/null 2>&1
		run_bulk bypassd "$r"
		after=$(gw_counters "$gw" "$log")
		echo "             gateway: $(gw_delta "$before" "$after")"
		# the kernel's drops on the port's af_packet ring (DPDK 22.11 reports none: imissed 0)
		echo "             af_packet: $(/usr/bin/python3 "$ROOT/tests/perf/afpacket_stats.py" "$gw" 2>&1 | tr '\n' ' ')"
		echo "             peer TCP: $(peer_nstat 2>/dev/null | awk -v keys="$PEER_KEYS" '
			BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
			($1 in want) && $2 != 0 { printf "%s=%s ", $1, $2 }')"
		unserve
	fi
	{ # where frames went missing, if they did: the veth ends' counters
		ns_run "$GW_NS" ip -s -s link show "$GW_IF"
		ns_run "$PEER_NS" ip -s -s link show "$PEER_IF"
	} >"$LOG/links-bypassd-r$r" 2>&1
	if ! kill -0 "$gw" 2>/dev/null; then
		echo "round $r bypassd: the gateway exited: $(tail -5 "$log" | tr '\n' ' ')" >>"$ERRS"
	fi
	stop_pid "$gw"
	forget "$gw"
}

echo "== machine"
echo "  $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
	"($(grep -m1 -o 'hypervisor' /proc/cpuinfo >/dev/null && echo virtual machine || echo bare metal))"
echo "  kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "  wrk and the bulk client on CPU $CPU_CLIENT; Linux server and bypassd's worker on CPU $CPU_SERVER;"
echo "  http_hello / tcp_echo on CPU $APP_CPU, bypassd's main lcore on CPU $CPU_CLIENT, idle_sleep_us $IDLE_SLEEP_US"
echo "  $ROUNDS rounds (Linux, then bypassd), wrk ${DURATION}s per run, connections $CONNS, bulk $BULK_MB MiB"
echo "  bypassd: $BYPASSD"

for r in $(seq 1 "$ROUNDS"); do
	echo "== round $r"
	linux_round "$r"
	bypassd_round "$r"
done

# stats SIDE METRIC KEY -> "min median max" (empty when there is none)
stats() {
	awk -v s="$1" -v m="$2" -v k="$3" '$1 == s && $2 == m && $3 == k {print $4}' "$RES" | sort -g |
		awk '{v[NR] = $1} END {
			if (!NR) exit
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print v[1], med, v[NR]
		}'
}
cell() { # FORMAT "min med max" -> "min / **med** / max", or n/a
	[ -n "$2" ] || {
		echo "n/a"
		return
	}
	awk -v f="$1" -v a="$2" 'BEGIN {split(a, x, " "); printf f " / **" f "** / " f, x[1], x[2], x[3]}'
}
ratio() { # "min med max" "min med max" -> med2 / med1
	# shellcheck disable=SC2015 # either one empty: n/a
	[ -n "$1" ] && [ -n "$2" ] || {
		echo "n/a"
		return
	}
	awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.2fx", y[2] / x[2]}'
}

echo
echo "== results: min / **median** / max over $ROUNDS rounds; ratio of the medians, bypassd / Linux"
echo
echo "| connections | metric | Linux epoll | bypassd + http_hello | bypassd / Linux |"
echo "|---:|---|---:|---:|---:|"
for c in $CONNS; do
	for m in rps p50 p99; do
		l=$(stats linux "$m" "c$c")
		b=$(stats bypassd "$m" "c$c")
		case $m in
		rps) name="requests/s" f="%.0f" ;;
		p50) name="p50 latency, µs" f="%.0f" ;;
		p99) name="p99 latency, µs" f="%.0f" ;;
		esac
		echo "| $c | $name | $(cell "$f" "$l") | $(cell "$f" "$b") | $(ratio "$l" "$b") |"
	done
done
l=$(stats linux bulk -)
b=$(stats bypassd bulk -)
echo "| 1 | bulk echo, MiB/s each way ($BULK_MB MiB) | $(cell "%.0f" "$l") | $(cell "%.0f" "$b") | $(ratio "$l" "$b") |"
echo
echo "The peer's side is Linux TCP over a veth in both columns; bypassd reads and writes the veth"
echo "through net_af_packet. wrk: -t1 for 1 connection, -t$WRK_THREADS otherwise, --timeout 5s."
if [ -s "$ERRS" ]; then
	FAILED=1
	echo
	echo "== errors and warnings (logs in $LOG)"
	sed 's/^/  /' "$ERRS"
	exit 1
fi
exit 0
