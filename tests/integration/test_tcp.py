"""test_tcp.py - issue 6: TCP through the gateway. Apps listen and connect with the libbypass stream
API; Linux in the peer namespace is the other end (python sockets, curl, tshark).

Tenant t owns 198.18.0.10 with TCP ports 7 and 8080-8089; everything is allowed by policy (these
tests are about the transport; policy has its own tests). Every loop is bounded in count and time.
"""
import hashlib
import re
import signal
import time

import pytest

from conftest import BUILD, GW_IP, PEER_IP, PY, deep_merge, run

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
    print("ECHO", out, gw.tail(5))
    assert (int(sent), int(got), same) == (10000, 10000, "True"), (out, app.describe(), gw.tail())
