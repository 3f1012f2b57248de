"""test_reload.py - issue 4: reloads that change tenants apply hitlessly; sessions are re-checked
after a reload; stateful egress with two workers; a flood on one tenant spares the others.

Apps are udp_echo and hostile_app (send and talk modes) in the gateway's namespace; Linux in the
peer namespace (198.18.0.2) is the network; hping3 floods from there (bounded by -c and timeout).
"""
import copy
import json
import re
import signal
import time

import pytest
from scapy.layers.l2 import ARP, Ether

from conftest import PEER_IP, PY, delta, parse_kv, run
from test_channels import Peer, start_echo, start_hostile  # noqa: F401
from test_policy import ping, reload, send

A_IP, B_IP, B2_IP, C_IP, D_IP = "198.18.0.10", "198.18.0.20", "198.18.0.21", "198.18.0.30", \
    "198.18.0.40"
S_IP, F_IP, U_IP = "198.18.0.60", "198.18.0.50", "198.18.0.40"
NOBODY = 65534
OPEN = {"ingress": "allow", "egress": "allow"}


def tenant(name, addr, ports, **kw):
    t = {"name": name, "addresses": [addr], "allow": {"uids": [0]},
         "ports": {"udp": [ports]}, "default": dict(OPEN)}
    t.update(kw)
    return t


@pytest.fixture
def rl_gw(gateway_factory, public_tmp):
    def make(tenants, **gw_over):
        sock = public_tmp / "control.sock"
        g = {"control_socket": str(sock)}
        g.update(gw_over)
        gw = gateway_factory({"gateway": g, "policy": {"tenants": copy.deepcopy(tenants)}})
        gw.sock = str(sock)
        return gw
    return make


@pytest.fixture
def peer(topo, tmp_path, procs):
    return Peer(topo, tmp_path, procs)


def talk(procs, gw, tenant_name, addr, port, *args, name=None):
    return start_hostile(procs, gw, [*args, "talk", tenant_name, addr, port],
                         name=name or f"talk-{tenant_name}-{port}")


def test_reload_changes_tenants(topo, rl_gw, procs, peer):
    """One reload removes tenant c (its app is detached, sees BP_ESHUTDOWN), adds d, moves b to
    another address (b's socket on the old one closes, the app stays; the new address answers
    ARP and takes binds), shrinks a's ports (the socket on 5005 closes, 5000 keeps working) and
    lowers a's app quota below what it holds (nothing taken away, a new attach refused). A
    second reload stops admitting uid 0 to a (a's apps are detached) and renames d (its app is
    detached, the address stays owned, the new name's apps bind it). A paced stream to a's
    port 5000 across the first reload loses nothing."""
    t1 = [tenant("a", A_IP, "5000-5009"), tenant("b", B_IP, "6000-6009"),
          tenant("c", C_IP, "7000-7009")]
    gw = rl_gw(t1)
    e1 = start_echo(procs, gw, "a", A_IP, 5000)
    e2 = start_echo(procs, gw, "a", A_IP, 5005)
    eb = start_echo(procs, gw, "b", B_IP, 6000)
    tc = talk(procs, gw, "c", C_IP, 7000, "-c", 0, "-l", 60)
    tc.wait_line(r"^SENT", timeout=10)
    assert [send(peer, ip, p, n=3, sport=41000 + p % 100)
            for ip, p in ((A_IP, 5000), (A_IP, 5005), (B_IP, 6000))] == [3, 3, 3]

    t2 = [tenant("d", D_IP, "8000-8009", quotas={"apps": 1, "queues": 1}),
          tenant("b", B2_IP, "6000-6009"),
          tenant("a", A_IP, "5000-5004", quotas={"apps": 1, "queues": 1})]
    sn = topo.start_sniffer(duration=20)
    stream = peer.start("paced", A_IP, 5000, name="peer-paced", pps=200, duration=3,
                        count=10 ** 6, max_size=64, sport=41999, linger=1)
    time.sleep(1)
    since = gw.mark()
    gen = reload(gw, t2)
    assert gen == 2
    res = Peer.result(stream, 30)
    assert res["sent"] >= 500 and res["received"] == res["sent"], (res["sent"], res["received"])

    def garp_for(ip):
        def pred(f):
            p = Ether(f)
            return (ARP in p and p[ARP].psrc == ip and p[ARP].pdst == ip
                    and p[ARP].hwsrc == topo.gw_mac)
        return pred
    for ip in (B2_IP, D_IP):
        assert sn.wait_for(garp_for(ip), timeout=3), f"no gratuitous ARP for {ip}"
    log = lambda: "\n".join(gw.log_lines()[since:])  # noqa: E731
    # c's app: detached, told so
    tc.wait_line(r"^SHUTDOWN", timeout=5)
    assert tc.wait(5) == 3, tc.describe()
    assert gw.wait_log(rf"channel {gw.channel_id(tc.pid)} detached: policy reload removed its "
                       r"tenant", 2, since), log()
    assert re.search(r"socket \d+ \(UDP 198\.18\.0\.10:5005\) closed by policy reload: the port "
                     r"is no longer given", log()), log()
    assert re.search(r"socket \d+ \(UDP 198\.18\.0\.20:6000\) closed by policy reload: the "
                     r"address is no longer", log()), log()
    assert gw.wait_log(r"gratuitous ARP sent for 2 newly owned addresses", 2, since), log()
    # a: 5000 still echoes, 5005 is gone; both apps still attached
    assert send(peer, A_IP, 5000, n=3, sport=41100) == 3
    assert send(peer, A_IP, 5005, n=2, sport=41105) == 0
    assert e1.alive() and e2.alive() and eb.alive()
    # b moved: the old address is nobody's, the new one answers and takes binds
    assert send(peer, B_IP, 6000, n=2, sport=41200) == 0
    assert ping(topo, B_IP, n=2) == 0
    assert ping(topo, B2_IP) == 3
    start_echo(procs, gw, "b", B2_IP, 6000)
    assert send(peer, B2_IP, 6000, n=3, sport=41201) == 3
    # d is new: it takes one app (its quota), not two
    ed = start_echo(procs, gw, "d", D_IP, 8000)
    assert send(peer, D_IP, 8000, n=3, sport=41300) == 3
    d2 = talk(procs, gw, "d", D_IP, 8001, "-c", 0, "-l", 1, name="talk-d-2")
    assert d2.wait(10) == 1 and "quota" in d2.err(), d2.describe()
    # a holds 2 apps under a quota of 1: kept, but a third attach is refused
    a3 = talk(procs, gw, "a", A_IP, 5001, "-c", 0, "-l", 1, name="talk-a-3")
    assert a3.wait(10) == 1 and "quota" in a3.err(), a3.describe()
    assert send(peer, A_IP, 5000, n=2, sport=41101) == 2

    # uid 0 no longer admitted to a: both of a's apps go, the others stay; d renamed d2 (a
    # removal and an addition): d's app goes, the address stays owned and d2's apps take it
    t3 = copy.deepcopy(t2)
    t3[2]["allow"] = {"uids": [NOBODY]}
    t3[0]["name"] = "d2"
    since = gw.mark()
    reload(gw, t3)
    for e in (e1, e2):
        assert gw.wait_log(rf"channel {e.chan} detached: policy reload: the tenant no longer "
                           r"admits its uid/gid", 3, since), gw.tail()
    assert gw.wait_log(rf"channel {ed.chan} detached: policy reload removed its tenant", 3,
                       since), gw.tail()
    assert send(peer, A_IP, 5000, n=2, sport=41102) == 0
    assert send(peer, B2_IP, 6000, n=2, sport=41202) == 2
    assert ping(topo, D_IP, n=2) == 2
    start_echo(procs, gw, "d2", D_IP, 8000)
    assert send(peer, D_IP, 8000, n=3, sport=41301) == 3
    assert gw.alive()


S_RULES = [
    {"name": "out-9000", "priority": 1, "direction": "egress", "action": "allow",
     "protocol": "udp", "dst": {"cidrs": [PEER_IP], "ports": [9000]}, "stateful": True},
    {"name": "out-9001", "priority": 2, "direction": "egress", "action": "allow",
     "protocol": "udp", "dst": {"cidrs": [PEER_IP], "ports": [9001]}, "stateful": True},
    {"name": "in-6005", "priority": 3, "direction": "ingress", "action": "allow",
     "protocol": "udp", "src": {"cidrs": [PEER_IP]}, "dst": {"ports": [6005]}, "stateful": True},
]
S_TENANT = {"name": "s", "addresses": [S_IP], "allow": {"uids": [0]},
            "ports": {"udp": ["6000-6009"]}, "default": {"ingress": "deny", "egress": "deny"},
            "rules": S_RULES}


def test_reload_rechecks_sessions(topo, rl_gw, procs, peer):
    """Sessions remember the generation that admitted them. After a reload that removes the
    stateful rules out-9000 (egress) and in-6005 (ingress) but keeps out-9001: the next packet of
    the app-opened flow to 9000 from the peer is dropped, the next send on the peer-opened flow
    to 6005 is refused; both sessions are removed (ct_revoked). The flow to 9001 is re-checked,
    still allowed, and keeps working."""
    gw = rl_gw([S_TENANT])
    # the app speaks first to 9000 and 9001 (sessions opened by egress), then echoes
    for sport, dport in ((6001, 9000), (6002, 9001)):
        app = start_hostile(procs, gw, ["-t", f"{PEER_IP}:{dport}", "-c", 1, "send", "s",
                                        S_IP, sport], name=f"send-{sport}")
        assert app.wait(20) == 0, app.describe()
        start_echo(procs, gw, "s", S_IP, sport)
    assert send(peer, S_IP, 6001, n=3, sport=9000) == 3
    assert send(peer, S_IP, 6002, n=3, sport=9001) == 3
    # the peer speaks first to 6005 (session opened by ingress); the echo's replies pass
    e5 = start_echo(procs, gw, "s", S_IP, 6005)
    assert send(peer, S_IP, 6005, n=3, sport=9005) == 3

    t = copy.deepcopy(S_TENANT)
    t["rules"] = [r for r in S_RULES if r["name"] == "out-9001"]
    before = gw.counters()
    reload(gw, [t])
    # ingress packet of an egress-opened session: re-checked against out-9000 (gone): dropped
    assert send(peer, S_IP, 6001, n=1, sport=9000) == 0
    d = delta(gw.counters(), before)
    assert d["ct_revoked"] == 1 and d["policy_deny"] == 1, d
    # the same session is gone: it stays dropped (plain deny now, nothing more to revoke)
    assert send(peer, S_IP, 6001, n=1, sport=9000) == 0
    # egress packet of an ingress-opened session: re-checked against in-6005 (gone): refused
    e5.stop()
    app = start_hostile(procs, gw, ["-t", f"{PEER_IP}:9005", "-c", 1, "send", "s", S_IP, 6005],
                        name="send-6005-after")
    app.wait(20)
    assert "refused=1" in app.out(), app.out() + app.err()
    # out-9001 still allows its flow: re-stamped, keeps working both ways
    assert send(peer, S_IP, 6002, n=3, sport=9001) == 3
    d = delta(gw.counters(), before)
    assert d["ct_revoked"] == 2, d
    assert d["ct_rechecked"] >= 3, d
    assert d["policy_tx_deny"] == 1, d
    assert d["policy_deny"] == 2, d


RESPONDER = r'''
"""Peer side of test_two_workers_stateful_egress. Binds N ports from BASE (the app's flows) and
N from BASE+100 (strangers); waits (bounded) for one datagram from APP on each of the first,
then sends 2 datagrams from every stranger port and 2 replies on every flow; counts the acks."""
import json, select, socket, sys, time
app, aport, base, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def mk(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.0.2", p))
    s.setblocking(False)
    return s
flows = [mk(base + i) for i in range(n)]
strangers = [mk(base + 100 + i) for i in range(n)]
print("READY", flush=True)
opened, acks, sacks = set(), 0, 0
end = time.monotonic() + 20
while len(opened) < n and time.monotonic() < end:
    r, _, _ = select.select(flows, [], [], 0.1)
    for s in r:
        data, src = s.recvfrom(2048)
        if src == (app, aport):
            opened.add(s.getsockname()[1])
for s in strangers:
    for _ in range(2):
        s.sendto(b"stranger", (app, aport))
for s in flows:
    if s.getsockname()[1] in opened:
        for _ in range(2):
            s.sendto(b"reply", (app, aport))
    time.sleep(0.002)
end = time.monotonic() + 4
while time.monotonic() < end:
    r, _, _ = select.select(flows + strangers, [], [], 0.1)
    for s in r:
        data, src = s.recvfrom(2048)
        if data == b"ack":
            if s in flows:
                acks += 1
            else:
                sacks += 1
print(json.dumps({"opened": len(opened), "acks": acks, "stranger_acks": sacks}), flush=True)
'''


def test_two_workers_stateful_egress(topo, rl_gw, procs, tmp_path):
    """Two workers. Tenant s denies all ingress; its egress rule to the peer's ports 9000-9063 is
    stateful. The app sends to each of the 64 ports; the peer's replies (64 flows, spread over
    both workers by the port) all reach the app and its acks go out; 128 datagrams from 64 other
    ports of the peer do not."""
    n = 64
    t = copy.deepcopy(S_TENANT)
    t["rules"] = [{"name": "out", "priority": 1, "direction": "egress", "action": "allow",
                   "protocol": "udp", "dst": {"cidrs": [PEER_IP], "ports": [f"9000-{9000 + n - 1}"]},
                   "stateful": True}]
    gw = rl_gw([t], workers=2,
               port={"device": f"net_af_packet0,iface={topo.gw_if},qpairs=2"})
    script = tmp_path / "responder.py"
    script.write_text(RESPONDER)
    resp = procs([PY, str(script), S_IP, 6001, 9000, n], ns=topo.peer_ns, name="responder")
    resp.wait_line(r"^READY", timeout=10)
    before = gw.counters()
    w_before = [parse_kv(gw.counter_lines(f"worker{i}")[-1]) for i in range(2)]
    app = talk(procs, gw, "s", S_IP, 6001, "-t", f"{PEER_IP}:9000", "-c", n, "-l", 8)
    assert resp.wait(40) == 0, resp.describe()
    res = json.loads(resp.out().strip().splitlines()[-1])
    assert app.wait(20) == 0, app.describe()
    m = re.search(r"RECV n=(\d+) ports=(\S*)", app.out())
    assert m, app.describe()
    ports = [int(p) for p in m.group(2).split(",") if p]
    total, _ = gw.dump()
    d = delta(total, before)
    w = [delta(parse_kv(gw.counter_lines(f"worker{i}")[-1]), w_before[i]) for i in range(2)]
    print(f"responder {res}; app got {m.group(1)}; worker rx {[x['rx_packets'] for x in w]}; "
          f"handoff {d['chan_handoff']}")
    assert "SENT done=64 refused=0" in app.out(), app.describe()
    assert res["opened"] == n, res
    assert ports == list(range(9000, 9000 + n)), ports  # every flow, no stranger
    assert int(m.group(1)) == 2 * n, app.out()
    assert res["acks"] == 2 * n and res["stranger_acks"] == 0, res
    assert d["policy_deny"] == 2 * n, d
    if all(x["rx_packets"] >= 10 for x in w):  # the port spread the flows over both queues
        assert d["chan_handoff"] > 0, (d, w)
    else:
        print(f"every flow hashed to one queue: {[x['rx_packets'] for x in w]}")
    assert d.get("chan_handoff_drop", 0) == 0, d


def tenant_meters(gw):
    since = gw.mark()
    gw.signal(signal.SIGUSR1)
    gw.wait_log(r"counters tenant ", timeout=5, since=since)
    time.sleep(0.3)
    out = {}
    for line in gw.log_lines()[since:]:
        m = re.search(r"counters tenant (\S+): (.*)$", line)
        if m:
            out[m.group(1)] = parse_kv(m.group(2))
    return out


def test_flood_spares_other_tenant(topo, rl_gw, procs, peer):
    """hping3 floods tenant f (UDP to its echo port and TCP SYNs, each bounded by -c and
    timeout) from the peer while 400 datagrams to tenant u's echo come back, none lost. f's
    drops are counted as rate-limit drops (its ingress pps and new-connection meters); u's
    meters drop nothing."""
    f = tenant("f", F_IP, "7000-7009",
               rate_limit={"ingress": {"pps": 500, "burst": 50}, "new_connections_per_s": 200},
               quotas={"sessions": 1000})
    u = tenant("u", U_IP, "8000-8009")
    gw = rl_gw([f, u])
    start_echo(procs, gw, "f", F_IP, 7000)
    start_echo(procs, gw, "u", U_IP, 8000)
    before = gw.counters()
    m_before = tenant_meters(gw)
    floods = [procs(["timeout", "8", "hping3", "-q", "-i", "u200", "-c", "20000", *args, F_IP],
                    ns=topo.peer_ns, name=f"hping3-{i}")
              for i, args in enumerate((["-2", "-p", "7000"], ["-S", "-p", "80"]))]
    time.sleep(1)
    res = peer.run("window", U_IP, 8000, count=400, window=4, min_size=8, max_size=256,
                   loss_timeout=1.0, time_limit=30, sport=47000, timeout=60)
    for p in floods:
        p.wait(15)
    d = delta(gw.counters(), before)
    mt = tenant_meters(gw)
    fm = {k: mt["f"][k] - m_before["f"][k] for k in mt["f"]}
    um = {k: mt["u"][k] - m_before["u"][k] for k in mt["u"]}
    print(f"u: {res['received']}/{res.get('sent')} lost {res.get('lost')}; flood rx "
          f"{d['rx_packets']}, meter_drop {d['meter_drop']}, f meters {fm}")
    assert res["received"] == 400 and res["lost"] == 0, res
    assert d["rx_packets"] > 2000, d  # the flood did arrive
    assert d["meter_drop"] > 1000, d
    assert fm["meter_ingress_drops"] + fm["meter_conn_drops"] == d["meter_drop"], (fm, d)
    assert fm["meter_conn_drops"] > 0, fm
    assert all(v == 0 for v in um.values()), um
    assert gw.alive()
