"""test_l7.py - issue 4: L7 signatures (Hyperscan) in the gateway's policy: UDP payloads that match
a `deny` signature of a matching rule are dropped and counted under the signature, the rest is
echoed byte-exact; `count` signatures only count; replies a stateful session admits are still
scanned (ingress and egress); a raw tenant's UDP and TCP payloads are scanned; a reload changes
patterns, a bad pattern changes nothing.

Apps are udp_echo (and hostile_app's send mode) in the gateway's namespace; a small client in the
peer namespace (198.18.0.2) sends chosen payloads, one at a time, and says which came back.

Tenants:
    w  198.18.0.50  udp 5100-5109  default ingress deny; echo-in allows 5100, no-evil denies
                                   evil/jndi payloads there, watch counts sqli
    v  198.18.0.60  udp 5200-5209  default deny both ways; in-5200 stateful, out-9000 stateful,
                                   in-evil denies 'evil' in, out-secret denies 'secret' out
    r  198.18.0.70  raw, udp/tcp 7000-7009 (the raw test only): out-secret denies 'secret' out

About 12-20 s for the four tests on the shared 2-core VM.
"""
import copy
import json
import re
import signal
import time

import pytest

from conftest import PEER_IP, PY, delta, parse_kv, run
from test_channels import start_echo, start_hostile

W_IP, V_IP = "198.18.0.50", "198.18.0.60"
DROP_WAIT = 0.5  # seconds a datagram expected to be dropped is waited for
ECHO_WAIT = 3.0  # ... and one expected back (returns as soon as it is)

W = {"name": "w", "addresses": [W_IP], "allow": {"uids": [0]},
     "ports": {"udp": ["5100-5109"]}, "default": {"ingress": "deny", "egress": "allow"},
     "signatures": [
         {"name": "evil", "pattern": "evil"},
         {"name": "jndi", "pattern": r"\$\{jndi:", "flags": ["caseless"]},
         {"name": "sqli", "pattern": r"union\s+select", "flags": ["caseless"], "action": "count"},
     ],
     "rules": [
         {"name": "echo-in", "priority": 10, "direction": "ingress", "action": "allow",
          "protocol": "udp", "dst": {"ports": [5100]}},
         {"name": "no-evil", "priority": 20, "direction": "ingress", "action": "deny",
          "protocol": "udp", "dst": {"ports": [5100]}, "signatures": ["evil", "jndi"]},
         {"name": "watch", "priority": 30, "direction": "ingress", "action": "deny",
          "protocol": "udp", "dst": {"ports": [5100]}, "signatures": ["sqli"]},
     ]}

V = {"name": "v", "addresses": [V_IP], "allow": {"uids": [0]},
     "ports": {"udp": ["5200-5209"]}, "default": {"ingress": "deny", "egress": "deny"},
     "signatures": [
         {"name": "evil", "pattern": "evil"},
         {"name": "secret", "pattern": "secret"},
     ],
     "rules": [
         {"name": "in-5200", "priority": 10, "direction": "ingress", "action": "allow",
          "protocol": "udp", "dst": {"ports": [5200]}, "stateful": True},
         {"name": "out-9000", "priority": 11, "direction": "egress", "action": "allow",
          "protocol": "udp", "dst": {"cidrs": [PEER_IP], "ports": [9000]}, "stateful": True},
         {"name": "in-evil", "priority": 20, "direction": "ingress", "action": "deny",
          "protocol": "udp", "signatures": ["evil"]},
         {"name": "out-secret", "priority": 5, "direction": "egress", "action": "deny",
          "protocol": "udp", "signatures": ["secret"]},
     ]}

TENANTS = [W, V]

# Runs in the peer namespace: send each payload (hex) from SPORT to DST:PORT, one at a time, and
# report for each whether its byte-exact echo came back within its wait (seconds, one per
# payload, comma-separated). Bounded by count and time.
PEER_SEND = r'''
import json, socket, sys, time
dst, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
waits = [float(w) for w in sys.argv[4].split(",")]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", sport))
out = []
for h, wait in zip(sys.argv[5:], waits):
    p = bytes.fromhex(h)
    s.sendto(p, (dst, port))
    got, end = "none", time.monotonic() + wait
    while time.monotonic() < end:
        s.settimeout(max(end - time.monotonic(), 0.001))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            break
        if data == p and src == (dst, port):
            got = "echo"
            break
        got = "other"
    out.append(got)
print(json.dumps(out))
'''


@pytest.fixture
def l7_gw(gateway_factory, public_tmp):
    def make(tenants=None):
        sock = public_tmp / "control.sock"
        gw = gateway_factory({"gateway": {"control_socket": str(sock)},
                              "policy": {"tenants": copy.deepcopy(tenants or TENANTS)}})
        gw.sock = str(sock)
        return gw
    return make


def send(topo, dst, port, payloads, sport, expect):
    """['echo'|'none'|'other', ...] for each payload (bytes); expect (the same list the caller
    will compare with) only sets how long each is waited for: an echo that is expected gets
    ECHO_WAIT, so a slow moment of a busy machine is not taken for a drop."""
    hexes = [p.hex() for p in payloads]
    waits = [ECHO_WAIT if e == "echo" else DROP_WAIT for e in expect]
    p = run([PY, "-c", PEER_SEND, dst, str(port), str(sport), ",".join(map(str, waits))] + hexes,
            ns=topo.peer_ns, timeout=10 + sum(waits) + len(payloads))
    return json.loads(p.stdout.strip().splitlines()[-1])


def check(topo, dst, port, cases, sport):
    """cases: [(payload, 'echo'|'none'), ...]; asserts each outcome."""
    want = [w for _, w in cases]
    got = send(topo, dst, port, [p for p, _ in cases], sport, want)
    assert got == want, got


def dump(gw, timeout=5):
    """SIGUSR1; (total counters, {'tenant/sig': matches}, {'tenant/rule/dir': packets}); the
    'counters l7:' line's fields are in total['l7']."""
    since = gw.mark()
    total = gw.counters(timeout)
    gw.wait_log(r"counters signature ", timeout=2, since=since)
    time.sleep(0.2)
    sigs, rules = {}, {}
    for line in gw.log_lines()[since:]:
        m = re.search(r"counters l7: (.*)$", line)
        if m:
            total["l7"] = parse_kv(m.group(1))
        m = re.search(r"counters signature (\S+): (.*)$", line)
        if m:
            sigs[m.group(1)] = parse_kv(m.group(2))["matches"]
        m = re.search(r"counters rule (\S+): (.*)$", line)
        if m:
            rules[m.group(1)] = parse_kv(m.group(2))["packets"]
    return total, sigs, rules


def reload(gw, tenants, expect_ok=True, timeout=10):
    since = gw.mark()
    gw.config["policy"]["tenants"] = copy.deepcopy(tenants)
    gw.write_config()
    gw.signal(signal.SIGHUP)
    m = gw.wait_log(r"policy generation (\d+) applied|policy reload failed", timeout, since)
    assert m, f"no reload outcome logged:\n{gw.tail()}"
    assert bool(m.group(1)) == expect_ok, f"reload: {m.group(0)}\n{gw.tail()}"
    return since


def test_l7_ingress_deny_count_and_echo(topo, l7_gw, procs):
    """Datagrams whose payload holds a deny signature of a matching rule are dropped and counted
    under the signature and the rule; the rest (also a count signature's hits, a case that does
    not match, a full-size datagram) come back byte-exact."""
    gw = l7_gw()
    assert gw.wait_log(r"L7: 5 signatures", 5), gw.tail()
    start_echo(procs, gw, "w", W_IP, 5100)
    filler = bytes((i * 7 + 3) % 251 for i in range(1400))  # no signature in it
    payloads = [
        b"hello",                                    # echo
        b"an evil datagram",                         # evil: dropped
        b"GET ${JNDI:ldap://x.example/a}",           # jndi (caseless): dropped
        b"id=1 UNION   SELECT pw",                   # sqli is count: echoed, counted
        b"EVIL in capitals",                         # evil is case-sensitive: echo
        filler,                                      # 1400 bytes: echo
        filler[:1460] + b"evil",                     # the pattern at the very end: dropped
        b"",                                         # empty: echo
    ]
    want = ["echo", "none", "none", "echo", "echo", "echo", "none", "echo"]
    t0, sig0, rule0 = dump(gw)
    check(topo, W_IP, 5100, list(zip(payloads, want)), sport=41000)
    t1, sig1, rule1 = dump(gw)
    d = delta(t1, t0)
    assert d["policy_l7_deny"] == 3, d
    assert d["policy_deny"] == 0, d
    assert sig1["w/evil"] - sig0.get("w/evil", 0) == 2, sig1
    assert sig1["w/jndi"] - sig0.get("w/jndi", 0) == 1, sig1
    assert sig1["w/sqli"] - sig0.get("w/sqli", 0) == 1, sig1
    assert rule1["w/no-evil/ingress"] - rule0.get("w/no-evil/ingress", 0) == 3, rule1
    assert rule1["w/echo-in/ingress"] - rule0.get("w/echo-in/ingress", 0) == 5, rule1
    assert rule1.get("w/watch/ingress", 0) == 0, rule1  # a count signature never decides
    assert t1["l7"]["scan_errors"] == 0 and t1["l7"]["scans"] - t0["l7"]["scans"] == 8, t1


def test_l7_sessions_are_scanned(topo, l7_gw, procs):
    """Replies a stateful session admits without the rules are still scanned: egress (the echo of
    a datagram the peer sent, refused when it holds 'secret') and ingress (the peer's answer to an
    app that spoke first, dropped when it holds 'evil'); clean ones pass, which the defaults
    (deny both ways) would otherwise refuse."""
    gw = l7_gw()
    start_echo(procs, gw, "v", V_IP, 5200)
    t0, sig0, _ = dump(gw)
    # egress: in-5200 opened the session; the echoes are its replies
    check(topo, V_IP, 5200, [(b"hello", "echo"), (b"my secret plan", "none"),
                             (b"hello again", "echo")], sport=42000)
    # ingress: the app speaks first to the peer's 9000 (out-9000, stateful) ...
    app = start_hostile(procs, gw, ["-t", f"{PEER_IP}:9000", "-c", 1, "send", "v", V_IP, 5201])
    assert app.wait(20) == 0, app.describe()
    start_echo(procs, gw, "v", V_IP, 5201)
    time.sleep(0.3)  # the peer's port-unreachable for that send: denied (ICMP, default deny)
    tm, _, _ = dump(gw)
    # ... and the peer's answers from 9000 come in as replies of that session
    check(topo, V_IP, 5201, [(b"fine", "echo"), (b"pure evil", "none"),
                             (b"fine again", "echo")], sport=9000)
    # not a reply: the default denies it whatever the payload
    check(topo, V_IP, 5201, [(b"fine", "none")], sport=9001)
    t1, sig1, _ = dump(gw)
    d = delta(t1, t0)
    assert d["policy_tx_l7_deny"] == 1, d
    assert d["policy_l7_deny"] == 1, d
    assert delta(t1, tm)["policy_deny"] == 1, d
    assert sig1["v/secret"] - sig0.get("v/secret", 0) == 1, sig1
    assert sig1["v/evil"] - sig0.get("v/evil", 0) == 1, sig1


def test_l7_reload_changes_pattern_bad_pattern_changes_nothing(topo, l7_gw, procs):
    """SIGHUP with a new pattern takes effect at once; one with a pattern Hyperscan refuses is
    rejected naming the pattern's position and key path, and the running one stays."""
    gw = l7_gw()
    start_echo(procs, gw, "w", W_IP, 5100)
    check(topo, W_IP, 5100, [(b"evil", "none"), (b"wicked", "echo")], sport=43000)
    new = copy.deepcopy(TENANTS)
    new[0]["signatures"][0]["pattern"] = "wick(ed|er)"
    reload(gw, new)
    check(topo, W_IP, 5100, [(b"evil", "echo"), (b"wicked", "none"), (b"wicker", "none")],
          sport=43001)
    bad = copy.deepcopy(new)
    bad[0]["signatures"][0]["pattern"] = "wick(ed"
    since = reload(gw, bad, expect_ok=False)
    m = gw.wait_log(r"policy reload failed: \S+:(\d+):(\d+): "
                    r"policy\.tenants\[0\]\.signatures\[0\]\.pattern: "
                    r"Hyperscan cannot compile 'wick\(ed': Missing close parenthesis", 5, since)
    assert m, gw.tail()
    assert gw.wait_log(r"nothing changed", 2, since), gw.tail()
    check(topo, W_IP, 5100, [(b"evil", "echo"), (b"wicked", "none")], sport=43002)


def test_l7_raw_egress_frames_scanned(topo, l7_gw, procs, tmp_path):
    """A raw tenant's frames are scanned too: UDP and TCP payloads holding an egress deny
    signature are refused (policy_denied, counted), others leave; ICMP has no payload the stage
    scans."""
    from scapy.compat import raw
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    r_ip = "198.18.0.70"
    r = {"name": "r", "addresses": [r_ip], "allow": {"uids": [0]}, "raw": True,
         "ports": {"udp": ["7000-7009"], "tcp": ["7000-7009"]},
         "default": {"ingress": "allow", "egress": "allow"},
         "signatures": [{"name": "secret", "pattern": "secret", "flags": ["caseless"]}],
         "rules": [{"name": "out-secret", "priority": 1, "direction": "egress",
                    "action": "deny", "signatures": ["secret"]}]}
    gw = l7_gw(TENANTS + [r])
    gm, pm = topo.gw_mac, topo.peer_mac

    def frame(l4, text):
        return raw(Ether(src=gm, dst=pm) / IP(src=r_ip, dst=PEER_IP) / l4 / Raw(text))

    frames = [
        (frame(UDP(sport=7000, dport=40000), b"public data"), "sent"),
        (frame(UDP(sport=7000, dport=40000), b"top SECRET data"), "refused"),
        (frame(TCP(sport=7001, dport=40000, flags="S"), b"secret in a segment"), "refused"),
        (frame(TCP(sport=7001, dport=40001, flags="S"), b"plain segment"), "sent"),
        (frame(ICMP(type=8, id=0x77, seq=1), b"secret in an echo"), "sent"),
    ]
    ffile = tmp_path / "l7-raw.hex"
    ffile.write_text("".join(f.hex() + "\n" for f, _ in frames))
    before = gw.counters()
    app = start_hostile(procs, gw, ["-f", ffile, "-l", 0.2, "-n", 1, "raw", "r", r_ip])
    app.wait_line(r"^TXDONE ", timeout=30)
    app.wait(10)
    got = {}
    for line in app.out().splitlines():
        m = re.match(r"TX (\d+) (\S+)", line)
        if m:
            got[int(m.group(1))] = m.group(2)
    assert [got.get(i) for i in range(len(frames))] == [w for _, w in frames], app.out()
    _, sigs, _ = dump(gw)
    d = delta(gw.counters(), before)
    assert d["policy_tx_l7_deny"] == 2, d
    assert sigs["r/secret"] == 2, sigs


# ---- stream mode: TCP connections the gateway's engine terminates (issue 6) ----

S_IP = "198.18.0.80"
S = {"name": "s", "addresses": [S_IP], "allow": {"uids": [0]},
     "ports": {"tcp": [7]}, "default": {"ingress": "allow", "egress": "allow"},
     "signatures": [
         {"name": "jndi", "pattern": r"\$\{jndi:", "flags": ["caseless"]},
         {"name": "sqli", "pattern": r"union\s+select", "flags": ["caseless"], "action": "count"},
         {"name": "secret", "pattern": "secret"},
     ],
     "rules": [
         {"name": "no-jndi", "priority": 10, "direction": "ingress", "action": "deny",
          "protocol": "tcp", "dst": {"ports": [7]}, "signatures": ["jndi"]},
         {"name": "watch", "priority": 20, "direction": "ingress", "action": "deny",
          "protocol": "tcp", "dst": {"ports": [7]}, "signatures": ["sqli"]},
         {"name": "out-secret", "priority": 30, "direction": "egress", "action": "deny",
          "protocol": "tcp", "signatures": ["secret"]},
     ]}

# Runs in the peer namespace: one TCP connection to DST:PORT (Nagle off), each chunk (hex) sent
# on its own with a pause between, then our side's FIN; reads until EOF or reset (bounded).
# Prints {"got": hex of what came back, "end": "eof"|"reset"|"timeout"}.
PEER_TCP = r'''
import json, socket, sys, threading, time
dst, port, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
chunks = [bytes.fromhex(h) for h in sys.argv[4:]]
s = socket.create_connection((dst, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.settimeout(10)
res = {"got": b"", "end": "timeout"}
def reader():
    try:
        while True:
            b = s.recv(65536)
            if not b:
                res["end"] = "eof"
                return
            res["got"] += b
    except ConnectionResetError:
        res["end"] = "reset"
    except socket.timeout:
        pass
t = threading.Thread(target=reader, daemon=True)
t.start()
try:
    for i, c in enumerate(chunks):
        if i:
            time.sleep(pause)
        s.sendall(c)
    time.sleep(pause)
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass  # reset already: the reader says so
t.join(12)
print(json.dumps({"got": res["got"].hex(), "end": res["end"]}))
'''


def tcp_send(topo, dst, port, chunks, pause=0.3):
    """(bytes that came back, 'eof'|'reset'|'timeout') for one connection sending chunks."""
    p = run([PY, "-c", PEER_TCP, dst, str(port), str(pause)] + [c.hex() for c in chunks],
            ns=topo.peer_ns, timeout=30 + pause * len(chunks))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return bytes.fromhex(r["got"]), r["end"]


def stream_counters(gw, since):
    lines = [l for l in gw.log_lines()[since:] if "counters l7 streams: " in l]
    assert lines, gw.tail()
    return parse_kv(lines[-1].split("counters l7 streams: ", 1)[1])


def start_tcp_echo(procs, gw):
    from test_tcp import TCP_ECHO, start_app
    return start_app(procs, gw, TCP_ECHO, 7, tenant="s", addr=S_IP)


def test_l7_stream_tcp_ingress_split_pattern(topo, l7_gw, procs):
    """A deny signature split across two TCP segments resets the connection: the peer gets RST,
    the app never sees the chunk the match ends in (its echo never comes back), the signature,
    the rule and policy_l7_deny count it once (the per-segment stage does not count it again).
    A benign stream is echoed byte-exact; a `count` signature split across segments counts and
    passes."""
    gw = l7_gw(TENANTS + [S])
    start_tcp_echo(procs, gw)
    since = gw.mark()
    t0, sig0, rule0 = dump(gw)
    # ${jn + di: in two segments: the first comes back, then the reset
    got, end = tcp_send(topo, S_IP, 7, [b"GET /?q=${jn", b"di:ldap://x.example/a} HTTP/1.0\r\n"])
    assert (got, end) == (b"GET /?q=${jn", "reset"), (got, end, gw.tail())
    # whole in one segment: reset too, counted once (not also per segment)
    got, end = tcp_send(topo, S_IP, 7, [b"hello", b"x ${JNDI:ldap://y} x"])
    assert (got, end) == (b"hello", "reset"), (got, end)
    # benign, many segments: byte-exact
    filler = bytes((i * 7 + 3) % 251 for i in range(20000))
    parts = [filler[i:i + 1500] for i in range(0, len(filler), 1500)]
    got, end = tcp_send(topo, S_IP, 7, parts, pause=0.02)
    assert (got, end) == (filler, "eof"), (len(got), end)
    # count signature split: counted, passes
    got, end = tcp_send(topo, S_IP, 7, [b"id=1 UNION  ", b" SELECT pw"])
    assert (got, end) == (b"id=1 UNION   SELECT pw", "eof"), (got, end)
    t1, sig1, rule1 = dump(gw)
    d = delta(t1, t0)
    assert d["policy_l7_deny"] == 2, d
    assert d["policy_tx_l7_deny"] == 0 and d["policy_deny"] == 0, d
    assert sig1["s/jndi"] - sig0.get("s/jndi", 0) == 2, sig1
    assert sig1["s/sqli"] - sig0.get("s/sqli", 0) == 1, sig1
    assert rule1["s/no-jndi/ingress"] - rule0.get("s/no-jndi/ingress", 0) == 2, rule1
    assert rule1.get("s/watch/ingress", 0) == 0, rule1
    sc = stream_counters(gw, since)
    assert sc["l7_stream_denied"] >= 2 and sc["l7_stream_errors"] == 0, sc
    assert sc["l7_streams_opened"] >= 8 and sc["l7_streams_refused_cap"] == 0, sc
    assert sc["l7_stream_flows_in_use"] == 0, sc  # every flow closed with its connection


def test_l7_stream_tcp_egress_split_pattern(topo, l7_gw, procs):
    """An app sending an egress deny signature split across two sends (tcp_echo echoing the
    peer's two segments) gets its connection reset; counted in policy_tx_l7_deny, the signature
    and the rule; the first part went out, the second never did."""
    gw = l7_gw(TENANTS + [S])
    start_tcp_echo(procs, gw)
    t0, sig0, rule0 = dump(gw)
    got, end = tcp_send(topo, S_IP, 7, [b"top sec", b"ret plans"])
    assert (got, end) == (b"top sec", "reset"), (got, end, gw.tail())
    got, end = tcp_send(topo, S_IP, 7, [b"no sec", b"tion here"])
    assert (got, end) == (b"no section here", "eof"), (got, end)
    t1, sig1, rule1 = dump(gw)
    d = delta(t1, t0)
    assert d["policy_tx_l7_deny"] == 1 and d["policy_l7_deny"] == 0, d
    assert sig1["s/secret"] - sig0.get("s/secret", 0) == 1, sig1
    assert rule1["s/out-secret/egress"] - rule0.get("s/out-secret/egress", 0) == 1, rule1


def test_l7_stream_tcp_keeps_generation_across_reload(topo, l7_gw, procs):
    """A connection keeps the signatures of the generation it opened under: a reload that changes
    the `jndi` pattern (same name) mid-connection does not stop the old pattern from resetting
    it, while new connections get the new one. The old generation is freed once its last flow
    closes and the log lets it go (at the next reload), and the hit counted there after the
    reload is carried to the signature's total then."""
    gw = l7_gw(TENANTS + [S])
    start_tcp_echo(procs, gw)
    since = gw.mark()
    _, sig0, _ = dump(gw)
    old = procs([PY, "-c", PEER_TCP, S_IP, 7, 1.5, b"one ".hex(), b"two ${jn".hex(),
                 b"di:x}".hex()], ns=topo.peer_ns, name="old-conn")
    time.sleep(0.7)  # connected, first chunk echoed; the split pattern comes after the reload
    new = copy.deepcopy(TENANTS + [S])
    new[-1]["signatures"][0]["pattern"] = "wick(ed|er)"
    reload(gw, new)
    assert old.wait(30) == 0, old.describe()
    r = json.loads(old.out().strip().splitlines()[-1])
    assert (bytes.fromhex(r["got"]), r["end"]) == (b"one two ${jn", "reset"), (r, gw.tail())
    got, end = tcp_send(topo, S_IP, 7, [b"${jn", b"di:x}"])
    assert (got, end) == (b"${jndi:x}", "eof"), (got, end)
    got, end = tcp_send(topo, S_IP, 7, [b"so wick", b"ed"])
    assert (got, end) == (b"so wick", "reset"), (got, end)
    # the log keeps the previous generation for rule names until the next reload: the old
    # connection's hit reaches the total when that lets it go (pol_l7_gen_put)
    reload(gw, new)
    time.sleep(0.5)
    t1, sig1, rule1 = dump(gw)
    assert sig1["s/jndi"] - sig0.get("s/jndi", 0) == 2, sig1
    sc = stream_counters(gw, since)
    assert sc["l7_stream_flows_in_use"] == 0 and sc["l7_stream_slots_in_use"] == 0, sc
    assert sc["l7_stream_denied"] == 2, sc


def test_l7_stream_tcp_two_workers(topo, procs, gateway_factory, public_tmp):
    """Two workers: segments arriving on either RX queue are steered to the worker serving the
    app's queue, whose engine, streams context and scratch scan the connection; split patterns
    reset, benign streams pass, both directions."""
    sock = public_tmp / "control.sock"
    gw = gateway_factory({"gateway": {"control_socket": str(sock), "workers": 2,
                                      "port": {"device": f"net_af_packet0,iface={topo.gw_if},"
                                                         "qpairs=2"}},
                          "policy": {"tenants": copy.deepcopy(TENANTS + [S])}})
    gw.sock = str(sock)
    start_tcp_echo(procs, gw)
    t0, _, _ = dump(gw)
    for i in range(4):  # source ports spread over both RX queues
        got, end = tcp_send(topo, S_IP, 7, [b"a${jn", b"di:"], pause=0.15)
        assert (got, end) == (b"a${jn", "reset"), (i, got, end)
        got, end = tcp_send(topo, S_IP, 7, [b"b sec", b"ret"], pause=0.15)
        assert (got, end) == (b"b sec", "reset"), (i, got, end)
        got, end = tcp_send(topo, S_IP, 7, [b"plain ", b"text"], pause=0.15)
        assert (got, end) == (b"plain text", "eof"), (i, got, end)
    t1, _, _ = dump(gw)
    d = delta(t1, t0)
    assert d["policy_l7_deny"] == 4 and d["policy_tx_l7_deny"] == 4, d
