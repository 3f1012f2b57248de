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
# The operator's side: the gateway also serves its REST admin API over TLS on 127.0.0.1 inside
# bpdemo-gw, with a throwaway CA, server certificate and admin token made for this run in a private
# temp dir (removed on exit; the CA key as soon as it has signed); bypassctl and curl use it.
#
# Steps are functions named step_<id>, listed in STEPS below with a title and whether the rest
# depends on them; add a demo by writing a function and one line in STEPS.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BYPASSD_BUILD:-$ROOT/build}
BYPASSD=$BUILD/gateway/bypassd
UDP_ECHO=$BUILD/client/udp_echo
HTTP_HELLO=$BUILD/client/http_hello
BYPASSCTL=$BUILD/admin/bypassctl
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
ADMIN_PORT=8443      # inside $GW_NS; another free one if taken
DENY_RULE=quickstart-deny-echo
KEEP_INTERVAL_S=5

# id | title | fatal (later steps make no sense without it)
STEPS=(
	"deps|install missing Debian packages (deploy/install-deps.sh)|fatal"
	"build|build with meson + ninja|fatal"
	"topology|create namespaces $GW_NS / $PEER_NS and veth $GW_IF <-> $PEER_IF|fatal"
	"admin_setup|admin API credentials: throwaway CA, certificate for 127.0.0.1, admin token|"
	"start|start bypassd in $GW_NS on $GW_IF with ${CONFIG#"$ROOT"/} (+ gateway.admin)|fatal"
	"ping|ping the gateway from the peer (ping -c 5 $GW_IP)|"
	"arping|ARP: the gateway answers with its MAC (arping $GW_IP)|"
	"udp_unreach|UDP to closed port $CLOSED_UDP_PORT: ICMP port unreachable comes back|"
	"udp_echo|an app: udp_echo attaches as tenant $TENANT, echoes UDP to $TENANT_IP:$ECHO_PORT|"
	"http|TCP: http_hello listens on $TENANT_IP:$HTTP_PORT, curl from the peer (keep-alive)|"
	"admin|operator: admin REST API + bypassctl; a deny rule for udp/$ECHO_PORT added, then removed|"
	"counters|SIGUSR1: the gateway's counters|"
	"keep|keep running until Ctrl-C (--keep)|"
	"stop|SIGTERM: graceful stop, exit status 0|"
)

KEEP=0
SKIP_DEPS=0
WORKDIR=
ADMIN_DIR= # the admin API's key material: private, always removed on exit
ADMIN_URL=
GW_CONFIG= # what bypassd runs: $CONFIG, or a copy of it with gateway.admin
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
	sed -n '2,22s/^# \{0,1\}//p' "$0"
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
	# The admin API's keys and token go whatever happened (logs may stay, secrets never do).
	if [ -n "$ADMIN_DIR" ] && [ -d "$ADMIN_DIR" ]; then
		rm -rf "$ADMIN_DIR"
	fi
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

# --- the admin API: throwaway credentials, a config with gateway.admin -----------------------------

# A config that is $CONFIG plus gateway.admin, with the policy in a file of its own beside it (the
# API persists changes to the policy file and refuses them, 409, for a policy inline in the
# config). Writes $WORKDIR/bypassd.yaml and $WORKDIR/policy.yaml; the repo's files stay as they are.
make_admin_config() {
	local cfgdir out=$WORKDIR/bypassd.yaml pol=$WORKDIR/policy.yaml ref
	cfgdir=$(cd "$(dirname "$CONFIG")" && pwd)
	ref=$(sed -n 's/^policy:[[:space:]]*\([^#[:space:]][^#]*\).*$/\1/p' "$CONFIG" | sed 's/[[:space:]]*$//; s/^"\(.*\)"$/\1/')
	if [ -n "$ref" ]; then # policy: FILE: a copy (changes over the API go to the copy)
		[ "${ref#/}" != "$ref" ] || ref=$cfgdir/$ref
		cp "$ref" "$pol" || return 1
	fi
	# Everything above 'policy:' as it is, gateway.admin at the end of the gateway: mapping (a
	# comment line between does not end it), then 'policy: policy.yaml'; the inline policy mapping,
	# one level less indented, into policy.yaml.
	awk -v pol="$pol" -v inline="$([ -z "$ref" ] && echo 1)" -v admin="$1" '
		/^policy:/ { print admin; print "policy: policy.yaml   # quickstart.sh: the policy, moved to a file"; inpol = 1; next }
		inpol && inline {
			if (ind == "" && $0 ~ /^[ ]+[^ #]/) { match($0, /^[ ]+/); ind = RLENGTH }
			line = $0
			if (ind != "" && substr(line, 1, ind) ~ /^[ ]*$/) line = substr(line, ind + 1)
			print line > pol
			next
		}
		inpol { next }
		{ print }' "$CONFIG" >"$out" || return 1
	grep -q '^policy: policy.yaml' "$out" && [ -s "$pol" ]
}

step_admin_setup() {
	local d old_umask port
	if [ ! -x "$BYPASSCTL" ]; then
		fail_detail "$BYPASSCTL was not built"
		return 1
	fi
	if grep -Eq '^[[:space:]]+admin:' "$CONFIG"; then
		say "${CONFIG#"$ROOT"/} has its own gateway.admin: the demo leaves it alone"
		return "$SKIPPED"
	fi
	# Private (0700) and apart from $WORKDIR: $WORKDIR stays behind after a failure for its logs,
	# this never does.
	ADMIN_DIR=$(mktemp -d /tmp/bypassd-quickstart-admin.XXXXXX) || return 1
	d=$ADMIN_DIR
	old_umask=$(umask)
	umask 077
	# A CA for this run only: it signs the server's certificate, then its key is deleted.
	if ! {
		printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$d/server.ext" &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
				-keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=bypassd quickstart CA (throwaway)" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
				-CAcreateserial -days 1 -extfile "$d/server.ext" -out "$d/server.pem"
	} >"$WORKDIR/openssl.log" 2>&1; then
		umask "$old_umask"
		fail_detail "openssl failed:"
		tail -n 10 "$WORKDIR/openssl.log" | indent
		return 1
	fi
	rm -f "$d/ca.key" "$d/ca.srl" "$d/server.csr" "$d/server.ext"
	say "CA:     $(openssl x509 -in "$d/ca.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//') (key deleted once it signed)"
	say "server: $(openssl x509 -in "$d/server.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')," \
		"$(openssl x509 -in "$d/server.pem" -noout -ext subjectAltName | tail -n 1 | sed 's/^ *//'), $(openssl x509 -in "$d/server.pem" -noout -enddate | sed 's/notAfter=/until /')"
	# An admin token: 32 bytes from /dev/urandom. The tokens file holds only its SHA-256
	# (bypassctl hash-token, fed on stdin: never on a command line); bypassctl's config file and
	# curl's header file hold the token itself, all 0600 in the 0700 dir.
	local token hash
	token=$(head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
	hash=$(printf '%s\n' "$token" | "$BYPASSCTL" hash-token) || {
		umask "$old_umask"
		return 1
	}
	printf '# name role sha256 (quickstart.sh, this run only)\nquickstart admin %s\n' "$hash" >"$d/tokens"
	umask "$old_umask"
	# A free port on the gateway namespace's loopback.
	port=$ADMIN_PORT
	if [ -n "$(in_gw ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
		port=$(in_gw /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
	fi
	ADMIN_URL=https://127.0.0.1:$port
	umask 077
	printf 'url = %s\ntoken = %s\ncacert = %s\n' "$ADMIN_URL" "$token" "$d/ca.pem" >"$d/bypassctl.conf"
	printf 'Authorization: Bearer %s\n' "$token" >"$d/auth.header"
	umask "$old_umask"
	token=
	say "tokens: $d/tokens: 'quickstart admin <sha256>' ($(stat -c %a "$d/tokens")); the token (256 random bits) only in bypassctl.conf and curl's header file there"
	# The config: demo.yaml + gateway.admin (TLS on the namespace's loopback, the files above).
	if ! make_admin_config "$(printf '%s\n' \
		'  admin:                        # quickstart.sh: the admin API, credentials of this run' \
		'    enabled: true' \
		'    address: 127.0.0.1          # loopback inside bpdemo-gw' \
		"    port: $port" \
		'    tls:' \
		"      cert: $d/server.pem" \
		"      key: $d/server.key" \
		"    tokens_file: $d/tokens" \
		"    audit_log: $WORKDIR/audit.log")"; then
		fail_detail "cannot derive a config with gateway.admin from $CONFIG"
		ADMIN_URL=
		return 1
	fi
	GW_CONFIG=$WORKDIR/bypassd.yaml
	say "config: $GW_CONFIG = ${CONFIG#"$ROOT"/} + gateway.admin ($ADMIN_URL), policy in policy.yaml beside it"
}

step_start() {
	if [ ! -f "$CONFIG" ]; then
		fail_detail "no config at $CONFIG"
		return 1
	fi
	[ -n "$GW_CONFIG" ] || GW_CONFIG=$CONFIG
	if ! "$BYPASSD" --check -c "$GW_CONFIG" >"$WORKDIR/check.out" 2>&1; then
		indent <"$WORKDIR/check.out"
		return 1
	fi
	say "$(head -n 1 "$WORKDIR/check.out")"
	# Its own session, so a Ctrl-C reaches only this script, which stops bypassd with SIGTERM.
	# Neither setsid (not a group leader here) nor ip netns exec forks: $! is bypassd's pid.
	setsid ip netns exec "$GW_NS" "$BYPASSD" -c "$GW_CONFIG" >"$GW_LOG" 2>&1 </dev/null &
	GW_PID=$!
	say "bypassd pid $GW_PID, log $GW_LOG"
	local i
	for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
		if grep -q 'ready:' "$GW_LOG"; then
			say "$(grep -m1 -o 'ready:.*' "$GW_LOG")"
			[ -z "$ADMIN_URL" ] || wait_admin || return 1
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

# Start udp_echo as the tenant's app and wait until it echoes; sets ECHO_PID.
start_echo() {
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
}

step_udp_echo() {
	start_echo || return 1
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

# --- the operator's side: admin API and bypassctl ------------------------------------------------

# bypassctl inside the gateway's namespace, with this run's config file (URL, token, CA) only:
# variables from the caller's environment would take precedence over it.
ctl() {
	ip netns exec "$GW_NS" env -u BYPASSCTL_URL -u BYPASSCTL_TOKEN -u BYPASSCTL_CACERT \
		-u BYPASSCTL_CERT -u BYPASSCTL_KEY "$BYPASSCTL" -c "$ADMIN_DIR/bypassctl.conf" --timeout 5 "$@"
}

# api METHOD PATH [IF-MATCH [JSON]]: one request with curl in the gateway's namespace, the token
# read from a file (-H @FILE: never on a command line). Sets API_STATUS, API_BODY, API_ETAG.
api() {
	local args=(-sS --max-time 5 --cacert "$ADMIN_DIR/ca.pem" -H "@$ADMIN_DIR/auth.header"
		-X "$1" -o "$WORKDIR/api.body" -D "$WORKDIR/api.head" -w '%{http_code}')
	[ -z "${3:-}" ] || args+=(-H "If-Match: \"$3\"")
	[ -z "${4:-}" ] || args+=(-H 'Content-Type: application/json' --data-binary "$4")
	: >"$WORKDIR/api.body"
	: >"$WORKDIR/api.head"
	API_STATUS=$(in_gw curl "${args[@]}" "$ADMIN_URL$2" 2>"$WORKDIR/api.err")
	API_BODY=$(tr '\n' ' ' <"$WORKDIR/api.body" | tr -s ' ' | sed 's/ $//')
	API_ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *"\{0,1\}\([0-9]*\)"\{0,1\}.*/\1/p' "$WORKDIR/api.head")
	[ -s "$WORKDIR/api.err" ] && indent <"$WORKDIR/api.err"
	return 0
}

wait_admin() { # the API answers /v1/health (no credentials needed) within 5 s
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(in_gw curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$ADMIN_DIR/ca.pem" \
			"$ADMIN_URL/v1/health" 2>/dev/null)" = 200 ] && break
		sleep 0.1
	done
	if [ "$i" = 50 ]; then
		fail_detail "the admin API does not answer on $ADMIN_URL; log:"
		grep 'ADMIN' "$GW_LOG" | tail -n 5 | indent
		return 1
	fi
	say "$(grep -m1 -o 'ADMIN: listening on.*' "$GW_LOG")"
}

# One datagram from the peer to the echo app: 0 when it comes back.
echo_probe() { # $1: what to send, $2: seconds to wait
	(in_peer /usr/bin/python3 - "$TENANT_IP" "$ECHO_PORT" "$1" "$2" <<'PYEOF'
import socket, sys, time
dst, msg, t = (sys.argv[1], int(sys.argv[2])), sys.argv[3].encode(), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(t)
t0 = time.monotonic()
s.sendto(msg, dst)
try:
    data, src = s.recvfrom(65535)
except socket.timeout:
    print(f"peer: udp {msg.decode()!r} -> {dst[0]}:{dst[1]}: no reply within {t:g} s")
    sys.exit(1)
print(f"peer: udp {msg.decode()!r} -> {dst[0]}:{dst[1]}: echoed in {(time.monotonic() - t0) * 1e6:.0f} us")
sys.exit(0 if data == msg else 1)
PYEOF
	) 2>&1 | indent
	return "${PIPESTATUS[0]}"
}

# The deny rule's packet count, from bypassctl's rules table (0 when absent).
deny_hits() {
	ctl rules "$TENANT" 2>/dev/null | awk -v r="$DENY_RULE" '$1 == r { print $6; f = 1 } END { if (!f) print 0 }'
}

step_admin() {
	local ok=1 gen newgen hits rule
	if [ -z "$ADMIN_URL" ]; then
		fail_detail "no admin API in this run (see the admin_setup step)"
		return 1
	fi
	say "\$ bypassctl status        # ip netns exec $GW_NS; url, token, CA: bypassctl -c $ADMIN_DIR/bypassctl.conf"
	ctl status 2>&1 | indent
	[ "${PIPESTATUS[0]}" = 0 ] || ok=0
	say "\$ bypassctl tenants"
	ctl tenants 2>&1 | indent
	[ "${PIPESTATUS[0]}" = 0 ] || ok=0
	say "\$ bypassctl rules $TENANT"
	ctl rules "$TENANT" 2>&1 | indent
	[ "${PIPESTATUS[0]}" = 0 ] || ok=0
	[ "$ok" = 1 ] || return 1

	# A policy change that shows on the traffic: deny udp/7 to the tenant, then take it back.
	if [ -z "$ECHO_PID" ]; then # stopped after its step unless --keep
		start_echo >/dev/null || return 1
	fi
	echo_probe "before" 1 || ok=0
	api GET /v1/policy
	gen=$API_ETAG
	if [ "$API_STATUS" != 200 ] || [ -z "$gen" ]; then
		fail_detail "GET /v1/policy: HTTP $API_STATUS $API_BODY"
		return 1
	fi
	rule="{\"name\": \"$DENY_RULE\", \"priority\": 5, \"direction\": \"ingress\", \"action\": \"deny\", \"protocol\": \"udp\", \"dst\": {\"ports\": [$ECHO_PORT]}}"
	say "\$ curl -X POST -H 'If-Match: \"$gen\"' $ADMIN_URL/v1/tenants/$TENANT/rules -d '$rule'"
	api POST "/v1/tenants/$TENANT/rules" "$gen" "$rule"
	say "  -> HTTP $API_STATUS $API_BODY"
	[ "$API_STATUS" = 201 ] || return 1
	if echo_probe "while denied" 0.5; then
		fail_detail "the datagram still came back with $DENY_RULE in place"
		ok=0
	fi
	newgen=$(sed -n 's/.*"generation": *\([0-9]*\).*/\1/p' <<<"$API_BODY")
	hits=$(deny_hits)
	say "\$ bypassctl rules $TENANT   # (the new rule's row)"
	ctl rules "$TENANT" 2>&1 | awk -v r="$DENY_RULE" 'NR == 1 || $1 == r' | indent
	if [ "${hits:-0}" -lt 1 ]; then
		fail_detail "$DENY_RULE counted no packets"
		ok=0
	fi
	say "\$ curl $ADMIN_URL/metrics | head"
	api GET /metrics
	if [ "$API_STATUS" = 200 ]; then
		head -n 6 "$WORKDIR/api.body" | indent
		say "..."
		grep -E "^bypassd_(rule_packets_total\{tenant=\"$TENANT\",rule=\"$DENY_RULE\"|policy_deny_total)" \
			"$WORKDIR/api.body" | indent
	else
		fail_detail "GET /metrics: HTTP $API_STATUS $API_BODY"
		ok=0
	fi
	say "\$ curl -X DELETE -H 'If-Match: \"$gen\"' .../rules/$DENY_RULE   # a stale generation"
	api DELETE "/v1/tenants/$TENANT/rules/$DENY_RULE" "$gen"
	say "  -> HTTP $API_STATUS $API_BODY"
	[ "$API_STATUS" = 409 ] || ok=0
	gen=${newgen:-$((gen + 1))}
	say "\$ curl -X DELETE -H 'If-Match: \"$gen\"' .../rules/$DENY_RULE"
	api DELETE "/v1/tenants/$TENANT/rules/$DENY_RULE" "$gen"
	say "  -> HTTP $API_STATUS $API_BODY"
	[ "$API_STATUS" = 200 ] || ok=0
	echo_probe "after" 1 || ok=0
	[ -s "$WORKDIR/audit.log" ] && { say "audit log ($WORKDIR/audit.log):"; indent <"$WORKDIR/audit.log"; }
	if [ "$KEEP" != 1 ]; then
		stop_echo
		[ "$ECHO_RC" = 0 ] || ok=0
	fi
	[ "$ok" = 1 ]
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
	[ -n "$ADMIN_URL" ] && say "  ip netns exec $GW_NS ${BYPASSCTL#"$ROOT"/} -c $ADMIN_DIR/bypassctl.conf stats" &&
		say "    (the admin token and keys in $ADMIN_DIR are removed when this script exits)"
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
			echo " ($N_SKIP skipped)") - bypassd boots, answers ping/ARP/UDP, echoes through an app, takes a policy change over its admin API, stops cleanly"
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
