#!/usr/bin/env bash
# quickstart.sh - install, build and run bypassd on a demo topology, show that it answers, clean up.
#
# Run as root on Debian 12:   deploy/quickstart.sh [--keep] [--skip-deps]
#
#   [netns bpdemo-gw]   bypassd  --net_af_packet-->  bpgw0  (Linux has no address on it)
#                                                      |  veth
#   [netns bpdemo-peer]                              bppeer0  198.18.0.2/24
#
# The gateway is 198.18.0.1/24 (deploy/examples/demo.yaml); its tenant 'demo' owns 198.18.0.10, where
# the udp_echo example app (client/examples) attaches and echoes. Everything lives in the two namespaces
# this script creates; it never touches the host's own interfaces or routes, and removes what it
# made on exit or Ctrl-C. --keep leaves the gateway running (counters every 5 s) until Ctrl-C.
#
# Steps are functions named step_<id>, listed in STEPS below with a title and whether the rest
# depends on them; add a demo by writing a function and one line in STEPS.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BYPASSD_BUILD:-$ROOT/build}
BYPASSD=$BUILD/gateway/bypassd
UDP_ECHO=$BUILD/client/udp_echo
HTTP_HELLO=$BUILD/client/http_hello
CONFIG=${BYPASSD_CONFIG:-$ROOT/deploy/examples/demo.yaml}

GW_NS=bpdemo-gw
PEER_NS=bpdemo-peer
GW_IF=bpgw0
PEER_IF=bppeer0
GW_IP=198.18.0.1
PEER_IP=198.18.0.2
PREFIX=24
CLOSED_UDP_PORT=9999
TENANT=demo # deploy/examples/demo.yaml: tenant demo, 198.18.0.10, udp port 7, allow uid 0
TENANT_IP=198.18.0.10
ECHO_PORT=7
HTTP_PORT=80
READY_TIMEOUT_S=20
KEEP_INTERVAL_S=5

# id | title | fatal (later steps make no sense without it)
STEPS=(
	"deps|install missing Debian packages (deploy/install-deps.sh)|fatal"
	"build|build with meson + ninja|fatal"
	"topology|create namespaces $GW_NS / $PEER_NS and veth $GW_IF <-> $PEER_IF|fatal"
	"start|start bypassd in $GW_NS on $GW_IF with ${CONFIG#"$ROOT"/}|fatal"
	"ping|ping the gateway from the peer (ping -c 5 $GW_IP)|"
	"arping|ARP: the gateway answers with its MAC (arping $GW_IP)|"
	"udp_unreach|UDP to closed port $CLOSED_UDP_PORT: ICMP port unreachable comes back|"
	"udp_echo|an app: udp_echo attaches as tenant $TENANT, echoes UDP to $TENANT_IP:$ECHO_PORT|"
	"http|TCP: http_hello listens on $TENANT_IP:$HTTP_PORT, curl from the peer (keep-alive)|"
	"counters|SIGUSR1: the gateway's counters|"
	"keep|keep running until Ctrl-C (--keep)|"
	"stop|SIGTERM: graceful stop, exit status 0|"
)

KEEP=0
SKIP_DEPS=0
WORKDIR=
GW_PID=
ECHO_PID=
HTTP_PID=
MADE_NS=()
RESULTS=()
STOPPING=0
INTERRUPTED=0
SKIPPED=99 # a step returns this when it had nothing to do
N_OK=0
N_FAIL=0
N_SKIP=0

usage() {
	sed -n '2,17s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--keep) KEEP=1 ;;
	--skip-deps) SKIP_DEPS=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "quickstart: unknown option '$1' (try --help)" >&2
		exit 2
		;;
	esac
	shift
done

# --- output ------------------------------------------------------------------------------------

if [ -t 1 ]; then
	C_OK=$'\e[32m' C_FAIL=$'\e[31m' C_B=$'\e[1m' C_0=$'\e[0m'
else
	C_OK='' C_FAIL='' C_B='' C_0=''
fi
if [ "$(locale charmap 2>/dev/null)" = "UTF-8" ]; then
	M_OK="✓" M_FAIL="✗" M_SKIP="–"
else
	M_OK="[ok]" M_FAIL="[FAIL]" M_SKIP="[skip]"
fi

say() { printf '      %s\n' "$*"; }                      # detail under a step
indent() { sed -u 's/^/      /'; }                        # detail from a command
fail_detail() { printf '      %s%s%s\n' "$C_FAIL" "$*" "$C_0"; }

in_gw() { ip netns exec "$GW_NS" "$@"; }
in_peer() { ip netns exec "$PEER_NS" "$@"; }

# --- cleanup (always) ----------------------------------------------------------------------------

stop_gateway() { # $1: seconds to wait after SIGTERM; sets GW_RC
	GW_RC=
	[ -n "$GW_PID" ] || return 0
	if kill -0 "$GW_PID" 2>/dev/null; then
		kill -TERM "$GW_PID" 2>/dev/null
		local i
		for ((i = 0; i < $1 * 10; i++)); do
			kill -0 "$GW_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$GW_PID" 2>/dev/null; then
			say "bypassd (pid $GW_PID) still running after ${1}s: SIGKILL"
			kill -KILL "$GW_PID" 2>/dev/null
		fi
	fi
	wait "$GW_PID" 2>/dev/null
	GW_RC=$?
	GW_PID=
}

stop_echo() { # SIGTERM to udp_echo (it exits 0), SIGKILL if it lingers; sets ECHO_RC
	ECHO_RC=
	[ -n "$ECHO_PID" ] || return 0
	kill -TERM "$ECHO_PID" 2>/dev/null
	local i
	for ((i = 0; i < 30; i++)); do
		kill -0 "$ECHO_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$ECHO_PID" 2>/dev/null
	wait "$ECHO_PID" 2>/dev/null
	ECHO_RC=$?
	ECHO_PID=
}

stop_http() { # SIGTERM to http_hello (it exits 0), SIGKILL if it lingers; sets HTTP_RC
	HTTP_RC=
	[ -n "$HTTP_PID" ] || return 0
	kill -TERM "$HTTP_PID" 2>/dev/null
	local i
	for ((i = 0; i < 30; i++)); do
		kill -0 "$HTTP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$HTTP_PID" 2>/dev/null
	wait "$HTTP_PID" 2>/dev/null
	HTTP_RC=$?
	HTTP_PID=
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_echo
	stop_http
	stop_gateway 5
	local ns
	for ns in "${MADE_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	MADE_NS=()
	if [ -n "$WORKDIR" ] && [ -d "$WORKDIR" ] && [ "$N_FAIL" -eq 0 ] && [ "$INTERRUPTED" = 0 ]; then
		rm -rf "$WORKDIR"
	elif [ -n "$WORKDIR" ]; then
		echo "quickstart: logs kept in $WORKDIR"
	fi
	exit "$rc"
}

on_signal() {
	[ "$STOPPING" = 1 ] && return # --keep: Ctrl-C already asked for the stop step
	echo
	echo "quickstart: interrupted, cleaning up"
	INTERRUPTED=1
	summary
	exit 130
}

# --- steps ---------------------------------------------------------------------------------------

step_deps() {
	if [ "$SKIP_DEPS" = 1 ]; then
		say "--skip-deps given"
		return "$SKIPPED"
	fi
	"$ROOT/deploy/install-deps.sh" 2>&1 | indent
	return "${PIPESTATUS[0]}"
}

step_build() {
	local log=$WORKDIR/build.log
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "meson setup ${BUILD#"$ROOT"/}"
		if ! meson setup "$BUILD" "$ROOT" >"$log" 2>&1; then
			tail -n 30 "$log" | indent
			return 1
		fi
	fi
	say "ninja -C ${BUILD#"$ROOT"/} (log: $log)"
	if ! ninja -C "$BUILD" >>"$log" 2>&1; then
		grep -E 'error|FAILED' "$log" | head -n 30 | indent
		return 1
	fi
	[ -x "$BYPASSD" ] || {
		fail_detail "$BYPASSD was not built"
		return 1
	}
	say "$("$BYPASSD" --version)"
}

step_topology() {
	local ns
	for ns in "$GW_NS" "$PEER_NS"; do
		if ip netns list | grep -qw "^$ns"; then
			if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then
				fail_detail "namespace $ns exists and has processes (another quickstart --keep?)"
				fail_detail "stop it, or: ip netns pids $ns; ip netns del $ns"
				return 1
			fi
			say "removing stale namespace $ns (no processes in it)"
			ip netns del "$ns" || return 1
		fi
	done
	for ns in "$GW_NS" "$PEER_NS"; do
		ip netns add "$ns" || return 1
		MADE_NS+=("$ns")
		# a quiet link: no IPv6 router solicitations, DAD or MLD on the demo veth
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 || return 1
		ip -n "$ns" link set lo up || return 1
	done
	ip -n "$GW_NS" link add "$GW_IF" type veth peer name "$PEER_IF" netns "$PEER_NS" || return 1
	local f
	for f in tx rx tso gso gro; do # the gateway must see whole frames with real checksums
		in_gw ethtool -K "$GW_IF" "$f" off >/dev/null 2>&1
		in_peer ethtool -K "$PEER_IF" "$f" off >/dev/null 2>&1
	done
	ip -n "$PEER_NS" addr add "$PEER_IP/$PREFIX" dev "$PEER_IF" || return 1
	ip -n "$GW_NS" link set "$GW_IF" up || return 1
	ip -n "$PEER_NS" link set "$PEER_IF" up || return 1
	GW_MAC=$(ip -n "$GW_NS" -o link show "$GW_IF" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	say "$GW_NS: $GW_IF $GW_MAC (no address: bypassd owns it)"
	say "$PEER_NS: $PEER_IF $PEER_IP/$PREFIX"
}

step_start() {
	if [ ! -f "$CONFIG" ]; then
		fail_detail "no config at $CONFIG"
		return 1
	fi
	if ! "$BYPASSD" --check -c "$CONFIG" >"$WORKDIR/check.out" 2>&1; then
		indent <"$WORKDIR/check.out"
		return 1
	fi
	say "$(head -n 1 "$WORKDIR/check.out")"
	# Its own session, so a Ctrl-C reaches only this script, which stops bypassd with SIGTERM.
	# Neither setsid (not a group leader here) nor ip netns exec forks: $! is bypassd's pid.
	setsid ip netns exec "$GW_NS" "$BYPASSD" -c "$CONFIG" >"$GW_LOG" 2>&1 </dev/null &
	GW_PID=$!
	say "bypassd pid $GW_PID, log $GW_LOG"
	local i
	for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
		if grep -q 'ready:' "$GW_LOG"; then
			say "$(grep -m1 -o 'ready:.*' "$GW_LOG")"
			return 0
		fi
		if ! kill -0 "$GW_PID" 2>/dev/null; then
			wait "$GW_PID"
			fail_detail "bypassd exited with status $? before it was ready:"
			tail -n 20 "$GW_LOG" | indent
			GW_PID=
			return 1
		fi
		sleep 0.1
	done
	fail_detail "not ready within ${READY_TIMEOUT_S}s; log tail:"
	tail -n 20 "$GW_LOG" | indent
	return 1
}

step_ping() {
	local out
	out=$(in_peer ping -n -c 5 -i 0.2 -W 1 "$GW_IP" 2>&1)
	local rc=$?
	grep -E 'bytes from|packets transmitted|rtt' <<<"$out" | indent
	[ "$rc" -eq 0 ] && grep -q ' 0% packet loss' <<<"$out"
}

step_arping() {
	local out
	out=$(in_peer arping -c 3 -w 5 -I "$PEER_IF" "$GW_IP" 2>&1)
	local rc=$?
	grep -Ei 'reply from|sent|received' <<<"$out" | indent
	[ "$rc" -eq 0 ] || return 1
	if ! grep -qi "\[$GW_MAC\]" <<<"$out"; then
		fail_detail "replies do not carry $GW_IF's MAC $GW_MAC"
		return 1
	fi
	say "answered with $GW_MAC, the MAC of $GW_IF"
}

step_udp_unreach() {
	# A connected UDP socket sends one datagram; a raw ICMP socket shows what came back.
	(in_peer /usr/bin/python3 - "$GW_IP" "$CLOSED_UDP_PORT" <<'EOF'
import socket, struct, sys, time
dst, port = sys.argv[1], int(sys.argv[2])
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.connect((dst, port))
sport = u.getsockname()[1]
u.send(b"hello bypassd")
print(f"sent UDP {u.getsockname()[0]}:{sport} -> {dst}:{port} (13 bytes)")
ok = False
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    try:
        pkt, (src, _) = icmp.recvfrom(2048)
    except socket.timeout:
        break
    ihl = (pkt[0] & 15) * 4
    typ, code = pkt[ihl], pkt[ihl + 1]
    if typ != 3:
        continue
    q = pkt[ihl + 8:]
    qihl = (q[0] & 15) * 4
    qs, qd = struct.unpack("!HH", q[qihl:qihl + 4])
    names = {3: "port unreachable"}
    print(f"got ICMP type {typ} code {code} ({names.get(code, 'unreachable')}) from {src}, "
          f"quoting UDP {qs} -> {qd}")
    ok = src == dst and code == 3 and qs == sport and qd == port
    break
try:
    u.recv(100)
    print("socket: got data?!")
    ok = False
except ConnectionRefusedError:
    print("socket: recv() -> ECONNREFUSED, as an application sees it")
except socket.timeout:
    print("socket: no error reported (timeout)")
    ok = False
sys.exit(0 if ok else 1)
EOF
	) 2>&1 | indent
	return "${PIPESTATUS[0]}"
}

# The control socket the config names (where apps attach).
control_socket() {
	local s
	s=$(sed -n 's/^[[:space:]]*control_socket:[[:space:]]*//p' "$CONFIG" | head -n 1)
	s=${s%%#*}
	s=$(sed 's/[[:space:]]*$//; s/^"\(.*\)"$/\1/' <<<"$s")
	echo "${s:-/run/bypassd/control.sock}"
}

step_udp_echo() {
	local sock out=$WORKDIR/udp_echo.out i
	if [ ! -x "$UDP_ECHO" ]; then
		fail_detail "$UDP_ECHO was not built"
		return 1
	fi
	sock=$(control_socket)
	# An app in the gateway's namespace (the socket is a file: any namespace would do).
	# ip netns exec does not fork (and no shell function in between): $! is udp_echo's pid.
	ip netns exec "$GW_NS" "$UDP_ECHO" -s "$sock" "$TENANT" "$TENANT_IP" "$ECHO_PORT" \
		>"$out" 2>&1 </dev/null &
	ECHO_PID=$!
	say "udp_echo -s $sock $TENANT $TENANT_IP $ECHO_PORT (pid $ECHO_PID)"
	for ((i = 0; i < 50; i++)); do
		grep -q 'echoing on' "$out" && break
		if ! kill -0 "$ECHO_PID" 2>/dev/null; then
			wait "$ECHO_PID"
			fail_detail "udp_echo exited with status $?:"
			indent <"$out"
			ECHO_PID=
			return 1
		fi
		sleep 0.1
	done
	if ! grep -q 'echoing on' "$out"; then
		fail_detail "udp_echo did not start echoing within 5 s:"
		indent <"$out"
		return 1
	fi
	say "$(grep -m1 'echoing on' "$out")"
	grep -o 'channel [0-9]* attached:.*' "$GW_LOG" | tail -n 1 | sed 's/^/gateway: /' | indent
	# A few datagrams from the peer: each must come back byte for byte from the app's address.
	(in_peer /usr/bin/python3 - "$TENANT_IP" "$ECHO_PORT" <<'EOF'
import socket, sys, time
dst = (sys.argv[1], int(sys.argv[2]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
ok = 0
msgs = [b"hello bypassd", b"x", bytes(range(256)) * 4, b"kernel bypass " * 100, b"bye"]
for i, m in enumerate(msgs):
    t0 = time.monotonic()
    s.sendto(m, dst)
    try:
        data, src = s.recvfrom(65535)
    except socket.timeout:
        print(f"#{i + 1}: sent {len(m)} bytes, no reply within 2 s")
        continue
    us = (time.monotonic() - t0) * 1e6
    same = data == m and src == dst
    ok += same
    shown = repr(m[:14].decode()) if m.isascii() else m[:6].hex() + "..."
    print(f"#{i + 1}: sent {len(m):4} bytes {shown:18} -> {len(data):4} bytes back from "
          f"{src[0]}:{src[1]} in {us:.0f} us{'' if same else '  DIFFERENT'}")
print(f"{ok} of {len(msgs)} came back identical")
sys.exit(0 if ok == len(msgs) else 1)
EOF
	) 2>&1 | indent
	local rc=${PIPESTATUS[0]}
	if [ "$KEEP" = 1 ]; then
		say "udp_echo keeps running (--keep)"
		return "$rc"
	fi
	stop_echo
	say "udp_echo stopped (SIGTERM), exit status $ECHO_RC"
	[ "$rc" = 0 ] && [ "$ECHO_RC" = 0 ]
}

step_http() {
	local sock out=$WORKDIR/http_hello.out i rc
	if [ ! -x "$HTTP_HELLO" ]; then
		fail_detail "$HTTP_HELLO was not built"
		return 1
	fi
	sock=$(control_socket)
	ip netns exec "$GW_NS" "$HTTP_HELLO" -s "$sock" "$TENANT" "$TENANT_IP" "$HTTP_PORT" \
		>"$out" 2>&1 </dev/null &
	HTTP_PID=$!
	say "http_hello -s $sock $TENANT $TENANT_IP $HTTP_PORT (pid $HTTP_PID)"
	for ((i = 0; i < 50; i++)); do
		grep -q 'listening on' "$out" && break
		kill -0 "$HTTP_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'listening on' "$out"; then
		fail_detail "http_hello did not start listening within 5 s:"
		indent <"$out"
		stop_http
		return 1
	fi
	# three requests on one connection (curl reuses it), bounded in time
	in_peer curl -sS --max-time 10 -w '  -> HTTP %{http_code}, %{size_download} bytes, connect %{time_connect}s total %{time_total}s\n' \
		"http://$TENANT_IP:$HTTP_PORT/" "http://$TENANT_IP:$HTTP_PORT/a" "http://$TENANT_IP:$HTTP_PORT/b" \
		2>&1 | indent
	rc=${PIPESTATUS[0]}
	if [ "$KEEP" = 1 ]; then
		say "http_hello keeps running (--keep): curl http://$TENANT_IP/ from $PEER_NS"
		return "$rc"
	fi
	stop_http
	say "http_hello stopped (SIGTERM), exit status $HTTP_RC"
	[ "$rc" = 0 ] && [ "$HTTP_RC" = 0 ]
}

# Ask for counters (SIGUSR1) and print the non-zero ones of the new 'counters total:' line.
print_counters() {
	local before n
	before=$(grep -c 'counters total:' "$GW_LOG")
	kill -USR1 "$GW_PID" 2>/dev/null || return 1
	for ((n = 0; n < 50; n++)); do
		[ "$(grep -c 'counters total:' "$GW_LOG")" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(grep -c 'counters total:' "$GW_LOG")" -gt "$before" ] || {
		fail_detail "no counters line within 5 s of SIGUSR1"
		return 1
	}
	grep 'counters total:' "$GW_LOG" | tail -n 1 | sed 's/.*counters total: //' | tr ' ' '\n' |
		awk -F= '$2 != "" && $2 != 0 { printf "      %-22s %s\n", $1, $2; n++ }
			END { if (!n) print "      (all zero)" }'
}

step_counters() {
	print_counters
}

step_keep() {
	if [ "$KEEP" != 1 ]; then
		return "$SKIPPED"
	fi
	say "bypassd is running in $GW_NS; try:"
	say "  ip netns exec $PEER_NS ping $GW_IP"
	say "  ip netns exec $PEER_NS arping -I $PEER_IF $GW_IP"
	[ -n "$ECHO_PID" ] && say "  ip netns exec $PEER_NS socat - UDP:$TENANT_IP:$ECHO_PORT   (udp_echo)"
	say "Ctrl-C stops it (counters every ${KEEP_INTERVAL_S}s)"
	local stop=0
	trap 'stop=1; STOPPING=1' INT TERM
	while [ "$stop" = 0 ] && kill -0 "$GW_PID" 2>/dev/null; do
		sleep "$KEEP_INTERVAL_S" &
		wait $! 2>/dev/null
		[ "$stop" = 0 ] || break
		echo "      --- $(date +%T)"
		print_counters || break
	done
	trap on_signal INT TERM
	echo
	kill -0 "$GW_PID" 2>/dev/null || {
		fail_detail "bypassd is gone:"
		tail -n 10 "$GW_LOG" | indent
		return 1
	}
}

step_stop() {
	local t0 t1 n0
	n0=$(grep -c 'counters total:' "$GW_LOG")
	t0=$(date +%s%N)
	stop_gateway 5
	t1=$(date +%s%N)
	say "bypassd exited with status $GW_RC after $(((t1 - t0) / 1000000)) ms"
	if [ -n "$ECHO_PID" ]; then # --keep: the app sees the gateway go away
		local i
		for ((i = 0; i < 20; i++)); do
			kill -0 "$ECHO_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$ECHO_PID" 2>/dev/null; then
			say "udp_echo still running 2 s after the gateway stopped"
			stop_echo
		else
			wait "$ECHO_PID"
			say "udp_echo exited with status $?: $(tail -n 1 "$WORKDIR/udp_echo.out")"
			ECHO_PID=
		fi
	fi
	if [ "$(grep -c 'counters total:' "$GW_LOG")" -gt "$n0" ]; then
		say "final counters logged: $(grep 'counters total:' "$GW_LOG" | tail -n 1 |
			grep -o 'rx_packets=[0-9]* .*tx_packets=[0-9]*' | sed 's/ rx_bytes=[0-9]*//')"
	fi
	[ "$GW_RC" = 0 ]
}

# --- driver --------------------------------------------------------------------------------------

summary() {
	local total=${#STEPS[@]}
	echo
	echo "${C_B}summary${C_0}"
	local r
	for r in "${RESULTS[@]}"; do
		echo "  $r"
	done
	if [ "$INTERRUPTED" = 1 ]; then
		echo "${C_FAIL}${M_FAIL} quickstart: interrupted${C_0} ($N_OK ok, $N_FAIL failed," \
			"$((total - N_OK - N_FAIL - N_SKIP)) not run)"
	elif [ "$N_FAIL" -eq 0 ]; then
		echo "${C_OK}${M_OK} quickstart: all $N_OK steps passed${C_0}$([ "$N_SKIP" -gt 0 ] &&
			echo " ($N_SKIP skipped)") - bypassd boots, answers ping/ARP/UDP, echoes through an app, stops cleanly"
	else
		echo "${C_FAIL}${M_FAIL} quickstart: $N_FAIL of $total steps failed${C_0} ($N_OK ok, $N_SKIP skipped)"
	fi
}

main() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "quickstart: run as root (network namespaces, DPDK)" >&2
		exit 1
	fi
	WORKDIR=$(mktemp -d /tmp/bypassd-quickstart.XXXXXX)
	GW_LOG=$WORKDIR/bypassd.log
	trap cleanup EXIT
	trap on_signal INT TERM

	local total=${#STEPS[@]} i=0 entry id title fatal abort=0
	echo "${C_B}bypassd quickstart${C_0} ($ROOT)"
	for entry in "${STEPS[@]}"; do
		IFS='|' read -r id title fatal <<<"$entry"
		i=$((i + 1))
		if [ "$abort" = 1 ]; then
			RESULTS+=("$M_SKIP $title")
			N_SKIP=$((N_SKIP + 1))
			continue
		fi
		echo "${C_B}[$i/$total]${C_0} $title"
		"step_$id"
		local rc=$?
		if [ "$rc" = "$SKIPPED" ]; then
			echo "      $M_SKIP skipped"
			RESULTS+=("$M_SKIP $title")
			N_SKIP=$((N_SKIP + 1))
		elif [ "$rc" = 0 ]; then
			echo "      ${C_OK}${M_OK} ok${C_0}"
			RESULTS+=("${C_OK}${M_OK}${C_0} $title")
			N_OK=$((N_OK + 1))
		else
			echo "      ${C_FAIL}${M_FAIL} failed${C_0}"
			RESULTS+=("${C_FAIL}${M_FAIL}${C_0} $title")
			N_FAIL=$((N_FAIL + 1))
			[ "$fatal" = fatal ] && abort=1
		fi
	done
	summary
	[ "$N_FAIL" -eq 0 ]
}

main "$@"
