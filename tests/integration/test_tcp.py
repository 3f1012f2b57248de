"""test_tcp.py - issue 6: TCP through the gateway. Apps listen and connect with the libbypass stream
API; Linux in the peer namespace is the other end (python sockets, curl, tshark).

Tenant t owns 198.18.0.10 with TCP ports 7 and 8080-8089; everything is allowed by policy (these
tests are about the transport; policy has its own tests). Every loop is bounded in count and time.
"""
import hashlib
import re
import signal
import subprocess
import time

import pytest

from conftest import BUILD, GW_IP, PEER_IP, PREFIX_LEN, PY, deep_merge, delta, parse_kv, run

T_IP = "198.18.0.10"
TCP_ECHO = BUILD / "client" / "tcp_echo"
HTTP_HELLO = BUILD / "client" / "http_hello"
TCP_FETCH = BUILD / "client" / "tcp_fetch"
BODY = b"Hello from bypassd!\n"

TENANTS = [
    {"name": "t", "addresses": [T_IP], "allow": {"uids": [0]},
     "ports": {"tcp": [7, "8080-8089"], "udp": [7]},
     "default": {"ingress": "allow", "egress": "allow"}},
]


@pytest.fixture
def tcp_gw(gateway_factory, public_tmp):
    def make(tenants=None, **over):
        sock = public_tmp / "control.sock"
        gw = gateway_factory(deep_merge({"gateway": {"control_socket": str(sock)},
                                         "policy": {"tenants": tenants or TENANTS}}, over))
        gw.sock = str(sock)
        return gw
    return make


def start_app(procs, gw, binary, port, tenant="t", addr=T_IP, wait=True):
    if not binary.exists():
        pytest.fail(f"{binary} is not built")
    p = procs([binary, "-s", gw.sock, tenant, addr, port], name=f"{binary.name}-{port}")
    if wait:
        p.wait_line(r"listening on ", timeout=10)
    return p


def peer_py(topo, script, timeout=60, check=True):
    """Run a python snippet in the peer namespace; its stdout."""
    return run([PY, "-c", script], ns=topo.peer_ns, timeout=timeout, check=check).stdout


ECHO_CLIENT = r'''
import hashlib, os, socket, sys, threading, time
size, chunk = {size}, 65536
s = socket.create_connection(("{ip}", {port}), timeout=10)
s.settimeout(20)
data = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(min(size, 1 << 20)))
want = hashlib.sha256()
got = hashlib.sha256()
n_got = 0
def reader():
    global n_got
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got.update(b)
        n_got += len(b)
t = threading.Thread(target=reader, daemon=True)
t.start()
sent = 0
t0 = time.monotonic()
while sent < size:
    piece = data[: min(chunk, size - sent)] if len(data) >= chunk else data[: size - sent]
    s.sendall(piece)
    want.update(piece)
    sent += len(piece)
s.shutdown(socket.SHUT_WR)
t.join(60)
print(sent, n_got, want.hexdigest() == got.hexdigest(), round(time.monotonic() - t0, 2))
'''


def test_echo_small(topo, tcp_gw, procs):
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 7)
    out = peer_py(topo, ECHO_CLIENT.format(size=10000, ip=T_IP, port=7))
    sent, got, same, _ = out.split()
    assert (int(sent), int(got), same) == (10000, 10000, "True"), (out, app.describe(), gw.tail())


@pytest.mark.parametrize("mb", [20, 200])
def test_echo_bulk_sha256(topo, tcp_gw, procs, mb):
    """MB megabytes up and the same back down at once, byte-exact (sha256), in well under a
    minute."""
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 7)
    size = mb << 20
    out = peer_py(topo, ECHO_CLIENT.format(size=size, ip=T_IP, port=7), timeout=90)
    sent, got, same, secs = out.split()
    print(f"bulk {mb} MB both ways: {secs} s")
    assert (int(sent), int(got), same) == (size, size, "True"), (out, app.describe(), gw.tail())
    assert float(secs) < 60, out


CURL_LOOP = r'''
import subprocess, sys
n, keep = {n}, {keep}
url = "http://{ip}:{port}/"
args = ["curl", "-sS", "--max-time", "20", "-w", "%{{http_code}}\\n"]
# one curl process, n URLs in sequence: with keep-alive one connection; with "Connection: close"
# the server closes after each response and curl opens a new connection for the next URL
cmd = args + ([] if keep else ["-H", "Connection: close"]) + [url] * n
p = subprocess.run(cmd, capture_output=True, timeout=120)
out = p.stdout
sys.stdout.buffer.write(out)
'''


def peer_bytes(topo, script, timeout):
    p = subprocess.run(["ip", "netns", "exec", topo.peer_ns, PY, "-c", script],
                       capture_output=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout


def check_curl(out, n):
    unit = BODY + b"200\n"
    assert out.count(b"200\n") == n and out == unit * n, (len(out), out[:300], out[-300:])


def tcp_counters(gw):
    """The engines' counters (the 'counters tcp:' line) of a fresh SIGUSR1 dump."""
    n0 = len(gw.counter_lines("tcp"))
    gw.counters()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = gw.counter_lines("tcp")
        if len(lines) > n0:
            return parse_kv(lines[n0])
        time.sleep(0.05)
    pytest.fail(f"no 'counters tcp:' line:\n{gw.tail()}")


def test_http_keepalive_1000(topo, tcp_gw, procs):
    """1,000 sequential requests on one kept-alive connection, all 200 with the exact body."""
    gw = tcp_gw()
    app = start_app(procs, gw, HTTP_HELLO, 8080)
    before = tcp_counters(gw)
    out = peer_bytes(topo, CURL_LOOP.format(n=1000, keep=1, ip=T_IP, port=8080), 150)
    check_curl(out, 1000)
    assert app.alive(), app.describe()
    d = delta(tcp_counters(gw), before)
    assert d["tcp_accepted"] == 1, d


def test_http_no_keepalive_1000(topo, tcp_gw, procs):
    """1,000 sequential requests with "Connection: close": 1,000 connections, all 200 with the
    exact body, each closed by the server after its response."""
    gw = tcp_gw()
    app = start_app(procs, gw, HTTP_HELLO, 8080)
    before = tcp_counters(gw)
    out = peer_bytes(topo, CURL_LOOP.format(n=1000, keep=0, ip=T_IP, port=8080), 150)
    check_curl(out, 1000)
    assert app.alive(), app.describe()
    d = delta(tcp_counters(gw), before)
    assert d["tcp_accepted"] == 1000, d


PIPELINE = r'''
import socket
s = socket.create_connection(("{ip}", {port}), timeout=10)
req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(req * 5 + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
buf = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    buf += b
print(buf.count(b"HTTP/1.1 200 OK"), buf.count({body!r}), buf.count(b"Connection: close"))
'''


def test_http_pipelining_and_close(topo, tcp_gw, procs):
    """Six requests in one write: six answers in order; the last asked to close and the server
    closes after it (recv returns EOF)."""
    gw = tcp_gw()
    start_app(procs, gw, HTTP_HELLO, 8080)
    out = peer_py(topo, PIPELINE.format(ip=T_IP, port=8080, body=BODY), timeout=30)
    assert out.split() == ["6", "6", "1"], out


def test_synack_options_tshark(topo, tcp_gw, procs):
    """The SYN-ACK a listener sends offers MSS, window scale, timestamps and SACK-permitted."""
    gw = tcp_gw()
    start_app(procs, gw, TCP_ECHO, 7)
    cap = procs(["tshark", "-n", "-l", "-i", topo.peer_if, "-c", "1", "-a", "duration:15",
                 "-f", f"tcp and src host {T_IP} and tcp[tcpflags] & (tcp-syn|tcp-ack) == "
                       "(tcp-syn|tcp-ack)",
                 "-T", "fields", "-E", "separator=,", "-e", "tcp.options.mss_val",
                 "-e", "tcp.options.wscale.shift", "-e", "tcp.options.sack_perm",
                 "-e", "tcp.options.timestamp.tsval"], ns=topo.peer_ns, name="tshark")
    cap.wait_line(r"Capturing on", timeout=15, stream="err")
    peer_py(topo, f"import socket; s = socket.create_connection(('{T_IP}', 7), timeout=5); "
                  "s.close()")
    assert cap.wait(15) == 0, cap.describe()
    mss, ws, sack, tsval = cap.out().strip().split(",")
    assert int(mss) == 1460 and ws != "" and int(ws) > 0, cap.out()
    assert sack != "" and tsval != "" and int(tsval) > 0, cap.out()


def test_listen_port_not_tenants(tcp_gw, procs):
    """A listen on a TCP port the tenant's policy does not give it is refused."""
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 9999, wait=False)
    assert app.wait(10) == 1, app.describe()
    assert "port not given" in app.err(), app.describe()
    assert gw.wait_log(r"TCP port 9999 is not given to tenant .t.", timeout=5), gw.tail()


def test_closed_port_rst(topo, tcp_gw, procs):
    """A SYN to a tenant port nobody listens on still gets RST (connection refused), while a
    listener on another port works."""
    gw = tcp_gw()
    start_app(procs, gw, TCP_ECHO, 7)
    out = peer_py(topo, f"""
import socket
try:
    socket.create_connection(('{T_IP}', 8081), timeout=5)
    print('connected')
except ConnectionRefusedError:
    print('refused')
s = socket.create_connection(('{T_IP}', 7), timeout=5)
s.sendall(b'ping'); print(s.recv(10).decode())
""")
    assert out.split() == ["refused", "ping"], out


def test_app_kill_resets_connections(topo, tcp_gw, procs):
    """kill -9 of the app: the gateway resets its connections (the peer sees RST) and closes its
    listener (a new SYN is refused)."""
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 7)
    client = procs([PY, "-c", f"""
import socket, sys, time
s = socket.create_connection(('{T_IP}', 7), timeout=5)
s.sendall(b'hello'); assert s.recv(10) == b'hello'
print('echoed', flush=True)
s.settimeout(15)
try:
    b = s.recv(10)
    print('eof' if not b else 'data')
except ConnectionResetError:
    print('reset')
try:
    socket.create_connection(('{T_IP}', 7), timeout=5)
    print('connected')
except ConnectionRefusedError:
    print('refused')
"""], ns=topo.peer_ns, name="client")
    client.wait_line("echoed", timeout=10)
    app.signal(signal.SIGKILL)
    assert client.wait(25) == 0, client.describe()
    assert client.out().split() == ["echoed", "reset", "refused"], client.describe()
    assert gw.alive()


KEEPALIVE = {"enabled": True, "idle": 1, "interval": 1, "probes": 2}


def test_keepalive_probes_then_reset(topo, tcp_gw, procs):
    """gateway.tcp.keepalive (issue 6): an idle connection is probed about once a second while
    Linux in the peer answers; once the peer goes silent (its address removed: its kernel drops
    the probes, its socket stays) the connection is reset after the 2 unanswered probes."""
    gw = tcp_gw(gateway={"tcp": {"keepalive": KEEPALIVE}})
    assert gw.wait_log(r"keepalive on \(idle 1 s, interval 1 s, probes 2\)"), gw.tail()
    app = start_app(procs, gw, TCP_ECHO, 7)
    client = procs([PY, "-c", f"""
import socket
s = socket.create_connection(('{T_IP}', 7), timeout=5)
s.sendall(b'hello'); assert s.recv(10) == b'hello'
print('echoed', flush=True)
s.settimeout(30)
try:
    print('eof' if not s.recv(10) else 'data', flush=True)
except OSError as e:
    print('error', e, flush=True)
"""], ns=topo.peer_ns, name="idle-client")
    client.wait_line("echoed", timeout=10)
    before = tcp_counters(gw)
    time.sleep(3.5)  # idle 1 s, then a probe about every second, each answered
    d = delta(tcp_counters(gw), before)
    assert d["tcp_keepalives"] >= 2, (d, gw.tail())
    assert d["tcp_reset"] == 0, (d, client.describe(), app.describe())

    # silence: the probes now reach a namespace that no longer owns their destination
    run(["ip", "addr", "del", f"{PEER_IP}/{PREFIX_LEN}", "dev", topo.peer_if], ns=topo.peer_ns)
    t0 = time.monotonic()
    while True:
        d2 = delta(tcp_counters(gw), before)
        if d2["tcp_reset"] >= 1 or time.monotonic() - t0 > 10:
            break
        time.sleep(0.25)
    secs = time.monotonic() - t0
    print(f"keepalive: {d['tcp_keepalives']} answered probes in 3.5 s; reset {secs:.1f} s after "
          f"the peer went silent, {d2['tcp_keepalives'] - d['tcp_keepalives']} probes later")
    # at most idle + probes x interval (+ one interval of slack and the poll) after the silence
    assert d2["tcp_reset"] == 1, (d2, gw.tail())
    assert secs < 6, secs
    assert d2["tcp_keepalives"] - d["tcp_keepalives"] >= 2, (d, d2)
    assert d2["tcp_rst_in"] == d["tcp_rst_in"] == 0, d2  # our timeout, not the peer's RST
    assert gw.alive()


def test_keepalive_off_by_default(topo, tcp_gw, procs):
    """Without gateway.tcp.keepalive an idle connection sends nothing (Linux's default too)."""
    gw = tcp_gw(gateway={"tcp": {"keepalive": {"idle": 1, "interval": 1}}})
    assert gw.wait_log(r"keepalive off \(idle 1 s"), gw.tail()
    start_app(procs, gw, TCP_ECHO, 7)
    client = procs([PY, "-c", f"""
import socket, time
s = socket.create_connection(('{T_IP}', 7), timeout=5)
s.sendall(b'hello'); assert s.recv(10) == b'hello'
print('echoed', flush=True)
time.sleep(30)
"""], ns=topo.peer_ns, name="idle-client")
    client.wait_line("echoed", timeout=10)
    before = tcp_counters(gw)
    time.sleep(2.5)
    d = delta(tcp_counters(gw), before)
    assert d["tcp_keepalives"] == 0 and d["tcp_reset"] == 0, d


def test_checksum_offload_on_needs_the_port(gateway_factory):
    """checksum_offload: on with a port that reports no TCP TX checksum offload (net_af_packet)
    refuses to start, saying why; auto (the default) runs with the engine's own checksums."""
    gw = gateway_factory({"gateway": {"tcp": {"checksum_offload": "on"}}}, wait_ready=False)
    rc = gw.wait(20)
    assert rc is not None and rc != 0, gw.tail()
    assert re.search(r"does not report TCP TX checksum offload: gateway\.tcp\.checksum_offload",
                     gw.log()), gw.tail()
    ok = gateway_factory(name="auto")
    assert ok.wait_log(r"TCP checksum offload tx off"), ok.tail()
    assert ok.wait_log(r"checksum offload off \(auto\)"), ok.tail()


def test_active_open_fetch(topo, tcp_gw, procs):
    """An app connects out (blocking layer): a Linux server in the peer namespace answers."""
    gw = tcp_gw()
    srv = procs([PY, "-c", f"""
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('{PEER_IP}', 9000)); l.listen(1); l.settimeout(20)
print('ready', flush=True)
c, a = l.accept(); c.settimeout(10)
got = b''
while True:
    b = c.recv(4096)
    if not b:
        break
    got += b
c.sendall(b'from ' + a[0].encode() + b': ' + got.upper() + b'!' * 100000)
c.close()
"""], ns=topo.peer_ns, name="server")
    srv.wait_line("ready", timeout=10)
    f = procs([TCP_FETCH, "-s", gw.sock, "t", PEER_IP, 9000, "hello bypass"], name="tcp_fetch")
    assert f.wait(30) == 0, (f.describe(), srv.describe(), gw.tail())
    assert f.out() == f"from {T_IP}: HELLO BYPASS" + "!" * 100000, f.out()[:200]


def test_echo_bulk_netem(topo, tcp_gw, procs):
    """5 MB both ways through a lossy, reordering, delaying link (tc netem on the peer's side:
    the data the gateway receives and the ACKs it gets are hit): still byte-exact."""
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 7)
    r = run(["tc", "qdisc", "add", "dev", topo.peer_if, "root", "netem", "delay", "2ms", "1ms",
             "loss", "1%", "reorder", "5%", "50%"], ns=topo.peer_ns, check=False)
    if r.returncode != 0 and "unknown" in r.stderr:
        pytest.skip("this kernel has no sch_netem")
    assert r.returncode == 0, r.stderr
    size = 5 << 20
    out = peer_py(topo, ECHO_CLIENT.format(size=size, ip=T_IP, port=7), timeout=120)
    sent, got, same, secs = out.split()
    assert (int(sent), int(got), same) == (size, size, "True"), (out, app.describe(), gw.tail())
    c = tcp_counters(gw)
    assert c["tcp_retrans_segs"] > 0 or c["tcp_ooo_queued"] > 0, c  # the link did hurt


def test_http_wrk_100_connections(topo, tcp_gw, procs):
    """wrk with 100 connections on 2 threads for 5 s: no socket errors, only 200s, and the
    connections come and go through the quota cleanly."""
    gw = tcp_gw()
    app = start_app(procs, gw, HTTP_HELLO, 8080)
    out = run(["wrk", "-c", "100", "-t", "2", "-d", "5s", "--timeout", "5s",
               f"http://{T_IP}:8080/"], ns=topo.peer_ns, timeout=40).stdout
    m = re.search(r"(\d+) requests in", out)
    assert m and int(m.group(1)) > 1000, out
    assert "Socket errors" not in out and "Non-2xx" not in out, out
    assert app.alive(), app.describe()
    c = tcp_counters(gw)
    assert c["tcp_accepted"] >= 100, c


def test_syn_flood_while_curl(topo, tcp_gw, procs):
    """A SYN flood on the listener's port (hping3, bounded: 30,000 SYNs at ~10 kpps) while curl
    fetches 20 times: every fetch answers 200 with the exact body, the gateway and app live."""
    gw = tcp_gw()
    app = start_app(procs, gw, HTTP_HELLO, 8080)
    flood = procs(["hping3", "-q", "-S", "-p", "8080", "-i", "u100", "-c", "30000", T_IP],
                  ns=topo.peer_ns, name="hping3")
    time.sleep(0.5)
    out = peer_bytes(topo, CURL_LOOP.format(n=20, keep=0, ip=T_IP, port=8080), 120)
    check_curl(out, 20)
    flood_alive = flood.alive()
    flood.stop()
    assert flood_alive or flood.rc == 0, flood.describe()
    assert app.alive() and gw.alive(), app.describe()
    c = tcp_counters(gw)
    assert c["tcp_segs_in"] > 1000, c  # the flood did reach the engine


def test_two_workers_steering(topo, tcp_gw, procs):
    """Two workers: segments arriving on either queue reach the worker that owns the listener or
    the connection (handoff): curl keep-alive and close, a bulk echo and an active open all work
    whichever worker the apps' queues landed on."""
    gw = tcp_gw(gateway={"workers": 2,
                         "port": {"device": f"net_af_packet0,iface={topo.gw_if},qpairs=2"}})
    start_app(procs, gw, HTTP_HELLO, 8080)
    start_app(procs, gw, TCP_ECHO, 7)
    check_curl(peer_bytes(topo, CURL_LOOP.format(n=200, keep=1, ip=T_IP, port=8080), 120), 200)
    check_curl(peer_bytes(topo, CURL_LOOP.format(n=50, keep=0, ip=T_IP, port=8080), 120), 50)
    size = 5 << 20
    out = peer_py(topo, ECHO_CLIENT.format(size=size, ip=T_IP, port=7), timeout=90)
    assert out.split()[:3] == [str(size), str(size), "True"], out
    for i in range(3):  # three attaches: the queues alternate between the workers
        srv = procs([PY, "-c", f"""
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('{PEER_IP}', 9000)); l.listen(1); l.settimeout(20)
print('ready', flush=True)
c, a = l.accept(); c.settimeout(10)
got = b''
while not got.endswith(b'.'):
    b = c.recv(4096)
    if not b:
        break
    got += b
c.sendall(got[::-1] * 2000)
c.close()
"""], ns=topo.peer_ns, name=f"server{i}")
        srv.wait_line("ready", timeout=10)
        f = procs([TCP_FETCH, "-s", gw.sock, "t", PEER_IP, 9000, f"abc{i}."], name=f"fetch{i}")
        assert f.wait(30) == 0, (f.describe(), srv.describe(), gw.tail())
        assert f.out() == f".{i}cba" * 2000, f.out()[:100]
        srv.wait(10)
    c = gw.counters()
    assert c["chan_handoff"] > 0, c  # the other worker's arrivals went across


MANY_CLIENT = r'''
import resource, selectors, socket, time
n = {n}
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
sel = selectors.DefaultSelector()
t_end = time.monotonic() + {secs}
socks, echoed, opened, failed = [], 0, 0, 0
want = {{}}
i = 0
while (i < n or echoed < opened) and time.monotonic() < t_end:
    # open in waves of 500 so SYNs do not all land at once
    while i < n and opened - echoed < 500:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("{ip}", {port}))
        sel.register(s, selectors.EVENT_WRITE, i)
        socks.append(s)
        i += 1
        opened += 1
    for key, ev in sel.select(0.05):
        s, k = key.fileobj, key.data
        if ev & selectors.EVENT_WRITE:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                failed += 1
                sel.unregister(s)
                echoed += 1
                continue
            msg = b"c%07d" % k
            s.send(msg)
            want[k] = msg
            sel.modify(s, selectors.EVENT_READ, k)
        else:
            b = s.recv(64)
            sel.unregister(s)
            if b != want[k]:
                failed += 1
            echoed += 1
alive = sum(1 for s in socks if s.fileno() >= 0)
print(opened, echoed, failed, alive)
for s in socks:
    s.close()
'''


def test_10000_concurrent_connections(topo, tcp_gw, procs):
    """10,000 connections open at once to tcp_echo, each echoes its own 8 bytes, all held open
    until the last one answered; then all close."""
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 7)
    out = peer_py(topo, MANY_CLIENT.format(n=10000, secs=90, ip=T_IP, port=7), timeout=120)
    opened, echoed, failed, alive = map(int, out.split())
    assert (opened, echoed, failed, alive) == (10000, 10000, 0, 10000), (out, gw.tail())
    c = tcp_counters(gw)
    assert c["tcp_accepted"] >= 10000, c
    assert app.alive(), app.describe()
    # the peer closed all of them: no connection state is left behind in the gateway (the
    # gateway closes second, so it has no TIME-WAIT). Usually 0 at once; on a loaded machine
    # frames are lost (af_packet ring) and a last FIN may wait out a backed-off RTO, so the bound
    # is generous: a leak never clears, a retransmission does.
    deadline = time.monotonic() + 120
    while True:
        c = tcp_counters(gw)
        if c["tcp_conns_in_use"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert c["tcp_conns_in_use"] == 0, c
    assert c["tcp_closed"] + c["tcp_reset"] >= 10000, c


def test_scapy_edge_cases(topo, tcp_gw, procs, tmp_path):
    """Crafted segments to a listening port: a bad checksum, SYN+FIN, a malformed option list and
    a RST get no answer (each counted); a well-formed SYN in the same batch gets its SYN-ACK,
    which acknowledges exactly SEQ+1 and carries the four options."""
    from scapy.compat import raw
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    gw = tcp_gw()
    start_app(procs, gw, TCP_ECHO, 7)
    before_stk, before_tcp = gw.counters(), tcp_counters(gw)
    base = Ether(dst=topo.gw_mac, src=topo.peer_mac) / IP(src=PEER_IP, dst=T_IP)
    bad_ck = base / TCP(sport=40010, dport=7, flags="S", seq=1000, chksum=0x1234)
    syn_fin = base / TCP(sport=40011, dport=7, flags="SF", seq=1000)
    bad_opt = base / TCP(sport=40012, dport=7, flags="S", seq=1000,
                         options=[(2, b"\x05\xb4\x00")])  # MSS option with length 5
    rst = base / TCP(sport=40013, dport=7, flags="R", seq=1000)
    good = base / TCP(sport=40014, dport=7, flags="S", seq=777000,
                      options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)),
                               ("WScale", 7)])
    got = topo.exchange([raw(bad_ck), raw(syn_fin), raw(bad_opt), raw(rst), raw(good)],
                        tmp_path, listen=1.5)
    replies = [Ether(f) for f in got if TCP in Ether(f) and Ether(f)[IP].src == T_IP]
    assert [r[TCP].dport for r in replies] == [40014], [r.summary() for r in replies]
    sa = replies[0][TCP]
    assert sa.flags == "SA" and sa.ack == 777001, sa.summary()
    kinds = {o[0] for o in sa.options}
    assert {"MSS", "WScale", "SAckOK", "Timestamp"} <= kinds, sa.options
    d_stk = delta(gw.counters(), before_stk)
    d_tcp = delta(tcp_counters(gw), before_tcp)
    assert d_stk["tcp_bad"] >= 1, d_stk
    assert d_tcp["tcp_bad_flags"] >= 1 and d_tcp["tcp_bad_options"] >= 1, d_tcp


CONNECT_N = r'''
import socket, time
held, refused, timedout = [], 0, 0
for i in range({n}):
    try:
        s = socket.create_connection(("{ip}", {port}), timeout=1.5)
        s.sendall(b"q"); assert s.recv(1) == b"q"
        held.append(s)
    except ConnectionRefusedError:
        refused += 1
    except (socket.timeout, TimeoutError):
        timedout += 1
print(len(held), refused, timedout, flush=True)
held[0].close()
time.sleep(0.5)  # the gateway's block goes when the close completes
s = socket.create_connection(("{ip}", {port}), timeout=3)
s.sendall(b"r"); print(s.recv(1).decode())
'''


def test_connection_quota(topo, tcp_gw, procs):
    """quotas.connections 3: three connections at once, the fourth and fifth SYNs are dropped
    (counted tcp_quota, the client times out); once one closes a new one gets in."""
    tenants = [dict(TENANTS[0], quotas={"connections": 3})]
    gw = tcp_gw(tenants=tenants)
    start_app(procs, gw, TCP_ECHO, 7)
    out = peer_py(topo, CONNECT_N.format(n=5, ip=T_IP, port=7), timeout=60)
    assert out.split() == ["3", "0", "2", "r"], out
    assert tcp_counters(gw)["tcp_quota"] >= 2


def test_reload_revokes_tcp_port(topo, tcp_gw, procs):
    """A reload that takes port 8080 from the tenant closes the listener: the socket-closed line
    is logged and a new SYN gets RST; port 7 keeps working."""
    from test_policy import reload

    gw = tcp_gw()
    start_app(procs, gw, HTTP_HELLO, 8080)
    start_app(procs, gw, TCP_ECHO, 7)
    check_curl(peer_bytes(topo, CURL_LOOP.format(n=3, keep=1, ip=T_IP, port=8080), 30), 3)
    t2 = [dict(TENANTS[0], ports={"tcp": [7], "udp": [7]})]
    reload(gw, t2)
    assert gw.wait_log(r"socket \d+ \(TCP 198\.18\.0\.10:8080\) closed by policy reload", 5), \
        gw.tail()
    out = peer_py(topo, f"""
import socket
try:
    socket.create_connection(('{T_IP}', 8080), timeout=3); print('connected')
except ConnectionRefusedError:
    print('refused')
s = socket.create_connection(('{T_IP}', 7), timeout=3); s.sendall(b'ok'); print(s.recv(2).decode())
""")
    assert out.split() == ["refused", "ok"], out


def test_gateway_stop_with_open_connections(topo, tcp_gw, procs):
    """SIGTERM to the gateway while 50 connections are open and one is moving data: it exits 0
    (engines torn down after the workers, buffers they held released) and the app sees the
    gateway go."""
    gw = tcp_gw()
    app = start_app(procs, gw, TCP_ECHO, 7)
    client = procs([PY, "-c", f"""
import socket, time
held = [socket.create_connection(('{T_IP}', 7), timeout=5) for _ in range(50)]
for s in held:
    s.sendall(b'x'); s.recv(1)
print('held', flush=True)
s = held[0]
s.settimeout(5)
t_end = time.monotonic() + 20
try:
    while time.monotonic() < t_end:
        s.sendall(b'y' * 65536)
        s.recv(65536)
except OSError as e:
    print('ended', type(e).__name__, flush=True)
"""], ns=topo.peer_ns, name="client")
    client.wait_line("held", timeout=15)
    time.sleep(0.5)
    assert gw.stop() == 0, gw.tail()
    assert app.wait(5) is not None, app.describe()
    client.stop()


def test_foreign_connection_ids(topo, tcp_gw, procs):
    """A hostile app of another tenant names connection ids it never had (every slot of the first
    generations: what the echo app's ids look like) with SEND, SHUTDOWN, CLOSE, ABORT, and
    connects to the gateway's own address, while a 20 MB echo runs: every SEND comes back
    refused, the refusals are counted on its channel (tcp_bad_conn), the echo is byte-exact."""
    from conftest import HOSTILE_APP

    h_ip = "198.18.0.40"
    tenants = TENANTS + [{"name": "h", "addresses": [h_ip], "allow": {"uids": [0]},
                          "ports": {"udp": [9]},
                          "default": {"ingress": "allow", "egress": "allow"}}]
    gw = tcp_gw(tenants=tenants)
    echo = start_app(procs, gw, TCP_ECHO, 7)
    host = procs([HOSTILE_APP, "-s", gw.sock, "-d", "4", "-H", "20", "tcp-guess", "h", h_ip, 9],
                 name="tcp-guess")
    host.wait_line("BOUND", timeout=10)
    size = 20 << 20
    out = peer_py(topo, ECHO_CLIENT.format(size=size, ip=T_IP, port=7), timeout=90)
    assert out.split()[:3] == [str(size), str(size), "True"], out
    host.wait_line("GUESSED", timeout=20)
    m = re.search(r"GUESSED posted=(\d+) sends=(\d+) back=(\d+) refused=(\d+)", host.out())
    posted, sends, back, refused = map(int, m.groups())
    assert posted > 1000 and sends > 10 and back == sends and refused == sends, host.out()
    hc = gw.channel_counters(pid=host.pid)
    ec = gw.channel_counters(pid=echo.pid)
    assert hc["tcp_bad_conn"] >= posted // 2, hc
    assert ec["drops"] == 0, ec
    assert echo.alive() and gw.alive()
    assert host.stop() == 0, host.describe()



def test_rst_after_peer_fin_ends_connection(topo, tcp_gw, procs, tmp_path):
    """wrk stopping, segment by segment (scapy, from an address the peer's kernel does not own,
    so it answers nothing itself): a request, the answer, the peer's FIN, then the RST a closed
    Linux socket sends for that answer: seq = the answer's ack, the FIN's own sequence number,
    RCV.NXT - 1 once the FIN is in. It ends the connection in conntrack and in the engine alike:
    none is left open (it was until 15 RTOs), nothing for it is refused either way."""
    from scapy.compat import raw
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import ARP, Ether

    gw = tcp_gw()
    start_app(procs, gw, HTTP_HELLO, 8080)
    me, sport, isn = "198.18.0.3", 41000, 1000
    base = Ether(dst=topo.gw_mac, src=topo.peer_mac) / IP(src=me, dst=T_IP)
    sn = topo.start_sniffer(30)

    def from_gw(pred):
        def match(f):
            e = Ether(f)
            return TCP in e and e[IP].src == T_IP and e[TCP].dport == sport and pred(e[TCP])
        return match

    # the gateway learns where `me` is from its ARP request for the tenant's address
    topo.send_frames([raw(Ether(dst="ff:ff:ff:ff:ff:ff", src=topo.peer_mac) /
                          ARP(op=1, hwsrc=topo.peer_mac, psrc=me, pdst=T_IP))], tmp_path)
    before_gw, before = gw.counters(), tcp_counters(gw)
    topo.send_frames([raw(base / TCP(sport=sport, dport=8080, flags="S", seq=isn))], tmp_path)
    sa = sn.wait_for(from_gw(lambda t: t.flags == "SA"), 5)
    assert sa, (sn.frames(), gw.tail())
    srv = Ether(sa[0][1])[TCP].seq + 1
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    topo.send_frames([raw(base / TCP(sport=sport, dport=8080, flags="PA", seq=isn + 1, ack=srv) /
                          req)], tmp_path)
    ans = sn.wait_for(from_gw(lambda t: bytes(t.payload).startswith(b"HTTP/1.1 200")), 5)
    assert ans, (sn.frames(), gw.tail())
    fin_seq = isn + 1 + len(req)
    assert Ether(ans[0][1])[TCP].ack == fin_seq  # built before the FIN: acks its number
    # the FIN (the answer is not acknowledged: the socket is closed), then the closed socket's
    # answer to the answer
    topo.send_frames([raw(base / TCP(sport=sport, dport=8080, flags="FA", seq=fin_seq, ack=srv))],
                     tmp_path)
    assert sn.wait_for(from_gw(lambda t: t.ack == fin_seq + 1), 5), (sn.frames(), gw.tail())
    topo.send_frames([raw(base / TCP(sport=sport, dport=8080, flags="R", seq=fin_seq))],
                     tmp_path)
    deadline = time.monotonic() + 3
    while True:
        c = tcp_counters(gw)
        if c["tcp_conns_in_use"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    sn.stop()
    d = delta(c, before)
    d_gw = delta(gw.counters(), before_gw)
    assert c["tcp_conns_in_use"] == 0, (c, d)
    assert d["tcp_accepted"] == 1 and d["tcp_rst_in"] == 1 and d["tcp_rst_ignored"] == 0, d
    assert d["tcp_reset"] == 1, d
    assert d_gw.get("ct_tx_refused", 0) == 0 and d_gw.get("ct_tx_reset", 0) == 0, d_gw
    assert d_gw["policy_ct_invalid"] == 0, d_gw


def test_send_after_close_refused(topo, tcp_gw, procs):
    """An app fills a connection past the engine's send queue (the peer never reads: the gateway
    holds the rest), CLOSEs, then SENDs again: that SEND comes back refused at once
    (tcp_send_closed) instead of being held and sent after the app's CLOSE (and, with L7 stream
    mode, unscanned: the egress flow was finished at CLOSE)."""
    from conftest import HOSTILE_APP

    gw = tcp_gw()
    peer = procs([PY, "-c", f"""
import socket, time
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ls.bind(('{PEER_IP}', 9100)); ls.listen(4)
print('listening', flush=True)
c, _ = ls.accept()
time.sleep(30)
"""], ns=topo.peer_ns, name="sink")
    peer.wait_line("listening", timeout=10)
    h = procs([HOSTILE_APP, "-s", gw.sock, "-t", f"{PEER_IP}:9100", "-c", "150",
               "tcp-close-send", "t", T_IP, 7], name="close-send")
    h.wait_line("CLOSESEND", timeout=30)
    m = re.search(r"CLOSESEND connected=(\d) sent=(\d+) status=(\S+)", h.out())
    assert m and m.group(1) == "1" and int(m.group(2)) > 64, h.out()
    assert m.group(3) == "closed", h.out()
    assert gw.alive()
