"""test_offload.py - issue 4: rte_flow offload with software fallback, `offload: required`,
`log: true` packet logs, --check running the policy compiler.

The port is net_af_packet, which has no rte_flow: every deny rule the NIC could run is tried and
falls back to software with rte_flow's own reason, and is still enforced there. Tenant a
(198.18.0.10, udp 5000-5030) is served by udp_echo; Linux in the peer namespace sends.
"""
import copy
import json
import re
import signal
import time

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from conftest import PEER_IP, delta, run
from test_channels import PEER_UDP, Peer, start_echo, start_hostile  # noqa: F401
from test_policy import rules, rdelta, send

A_IP = "198.18.0.10"

A_RULES = [
    {"name": "deny-5020", "priority": 20, "direction": "ingress", "action": "deny",
     "protocol": "udp", "dst": {"ports": [5020]}},
    {"name": "logged", "priority": 21, "direction": "ingress", "action": "deny",
     "protocol": "udp", "dst": {"ports": [5022]}, "log": True, "offload": "never"},
    {"name": "no-9001", "priority": 25, "direction": "egress", "action": "deny",
     "protocol": "udp", "dst": {"ports": [9001]}, "log": True},
    {"name": "allow-rest", "priority": 30, "direction": "ingress", "action": "allow",
     "protocol": "udp", "dst": {"ports": ["5000-5030"]}},
]

TENANTS = [
    {"name": "a", "addresses": [A_IP], "allow": {"uids": [0]},
     "ports": {"udp": ["5000-5030"]}, "default": {"ingress": "deny", "egress": "allow"},
     "rules": A_RULES},
]


@pytest.fixture
def off_gw(gateway_factory, public_tmp):
    def make(tenants=None, start=True, operator=None):
        sock = public_tmp / "control.sock"
        pol = {"tenants": copy.deepcopy(tenants or TENANTS)}
        if operator:
            pol["operator"] = {"rules": operator}
        gw = gateway_factory({"gateway": {"control_socket": str(sock)}, "policy": pol},
                             start=start)
        gw.sock = str(sock)
        return gw
    return make


@pytest.fixture
def peer(topo, tmp_path, procs):
    return Peer(topo, tmp_path, procs)


def rule_lines(gw, since):
    pat = re.compile(r"counters rule (\S+): (.*)$")
    out = {}
    for line in gw.log_lines()[since:]:
        m = pat.search(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def placements(gw):
    since = gw.mark()
    gw.signal(signal.SIGUSR1)
    assert gw.wait_log(r"counters rule a/allow-rest/ingress", 5, since), gw.tail()
    time.sleep(0.2)
    return rule_lines(gw, since)


def offload_value_pos(cfg_path):
    """(line, column) of the value of the first "offload": "required" in the JSON config."""
    for n, line in enumerate(cfg_path.read_text().splitlines(), 1):
        i = line.find('"offload": "required"')
        if i >= 0:
            return n, i + len('"offload": ') + 1
    raise AssertionError("no offload: required in the config")


def test_auto_deny_falls_back_to_software(off_gw, procs, peer):
    """offload auto on a port without rte_flow: placement software with rte_flow's reason, and
    the rule is still enforced in software (dropped, counted under the rule)."""
    gw = off_gw()
    assert gw.wait_log(r"rte_flow: generation 1 on port 0 \(net_af_packet\): 0 rules in "
                       r"hardware, 0 partly, 0 flows", 5), gw.tail()
    pl = placements(gw)
    deny = pl["a/deny-5020/ingress"]
    assert re.search(r'placement=software reason="port 0 \(net_af_packet\): rte_flow_validate: '
                     r'[^"]+"', deny), deny
    assert 'placement=software reason="offload: never"' in pl["a/logged/ingress"], pl
    assert 'reason="allow rules run in software' in pl["a/allow-rest/ingress"], pl
    assert 'placement=software reason="defaults run in software"' in pl["a/default/ingress"], pl

    for port in (5020, 5021):
        start_echo(procs, gw, "a", A_IP, port)
    before = rules(gw)
    assert send(peer, A_IP, 5021, n=3, sport=41021) == 3
    assert send(peer, A_IP, 5020, n=4, sport=41020) == 0
    after = rules(gw)
    assert rdelta(after, before, "a/deny-5020/ingress") == 4, after
    assert rdelta(after, before, "a/allow-rest/ingress") == 3, after
    assert delta(after["_total"], before["_total"])["policy_deny"] == 4


def test_required_refused_at_start(off_gw):
    """offload: required on a port that cannot offload the rule: exit 2, the error at the
    offload key's position, naming the port's driver and rte_flow's reason."""
    t = copy.deepcopy(TENANTS)
    t[0]["rules"][0]["offload"] = "required"
    gw = off_gw(t, start=False)
    gw.start(wait_ready=False)
    rc = gw.wait(20)
    assert rc == 2, f"exit {rc}\n{gw.tail()}"
    line, col = offload_value_pos(gw.cfg_path)
    want = (re.escape(f"{gw.cfg_path}:{line}:{col}: policy.tenants[0].rules[0].offload: ")
            + r"offload: required, but rule 'deny-5020' cannot run in the NIC: "
            + r"port 0 \(net_af_packet\): rte_flow_validate: ")
    assert re.search(want, gw.log()), f"want /{want}/ in:\n{gw.tail()}"
    assert "ready:" not in gw.log()


def test_required_on_an_allow_rule_fails_check(off_gw, bypassd_bin):
    """--check runs the compiler: a required rule no NIC could run (an allow rule) is an error
    there too; a required deny rule is only noted (it needs the port)."""
    t = copy.deepcopy(TENANTS)
    t[0]["rules"][3]["offload"] = "required"
    gw = off_gw(t, start=False)
    p = run([str(bypassd_bin), "--check", "-c", str(gw.write_config())], check=False, timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    line, col = offload_value_pos(gw.cfg_path)
    assert (f"{gw.cfg_path}:{line}:{col}: policy.tenants[0].rules[3].offload: offload: "
            f"required, but rule 'allow-rest' cannot run in the NIC: allow rules run in "
            f"software") in out, out
    assert re.search(r"1 error, the policy does not compile", out), out

    t = copy.deepcopy(TENANTS)
    t[0]["rules"][0]["offload"] = "required"
    gw.config["policy"]["tenants"] = t
    p = run([str(bypassd_bin), "--check", "-c", str(gw.write_config())], check=False, timeout=30)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert re.search(r"note: 1 rule with offload: required \(1 rte_flow rule\) not verified",
                     p.stdout), out
    assert ": ok (" in p.stdout, out


def test_check_compiles_the_policy(off_gw, bypassd_bin):
    """A rule that loads but does not compile (too wide an expansion for rte_acl) fails --check
    with its location, not only the start."""
    t = copy.deepcopy(TENANTS)
    # 1024 source prefixes x 100 destination ports (odd ports: no merging) > 65536
    t[0]["rules"].append(
        {"name": "huge", "priority": 40, "direction": "ingress", "action": "deny",
         "protocol": "udp",
         "src": {"cidrs": [f"10.{i // 256}.{i % 256}.0/24" for i in range(1024)]},
         "dst": {"ports": list(range(1, 200, 2))}})
    gw = off_gw(t, start=False)
    p = run([str(bypassd_bin), "--check", "-c", str(gw.write_config())], check=False, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert re.search(r":\d+:\d+: policy\.tenants\[0\]\.rules\[4\]: rule 'huge' expands to "
                     r"102400 rte_acl rules", out), out


def test_reload_introducing_required_is_refused(off_gw, procs, peer):
    """A reload that makes a rule offload: required on this port is refused; nothing changes:
    same generation, the deny still denies in software, allowed ports still echo."""
    gw = off_gw()
    start_echo(procs, gw, "a", A_IP, 5020)
    start_echo(procs, gw, "a", A_IP, 5021)
    t = copy.deepcopy(TENANTS)
    t[0]["rules"][0]["offload"] = "required"
    t[0]["rules"][0]["dst"]["ports"] = [5021]  # would also deny 5021 if it were applied
    since = gw.mark()
    gw.config["policy"]["tenants"] = t
    gw.write_config()
    gw.signal(signal.SIGHUP)
    m = gw.wait_log(r"policy generation (\d+) applied|policy reload failed", 10, since)
    assert m and "failed" in m.group(0), gw.tail()
    assert gw.wait_log(r"rules\[0\]\.offload: offload: required, but rule 'deny-5020' cannot "
                       r"run in the NIC: port 0 \(net_af_packet\)", 2, since), gw.tail()
    assert gw.wait_log(r"policy reload failed: 1 errors, nothing changed", 2, since), gw.tail()
    assert send(peer, A_IP, 5021, n=3, sport=41121) == 3
    assert send(peer, A_IP, 5020, n=2, sport=41120) == 0
    since = gw.mark()
    gw.signal(signal.SIGUSR1)
    assert gw.wait_log(r"counters policy: generation=1 ", 5, since), gw.tail()


def udp_frames(topo, n, dport, sport=40000, dst=A_IP):
    return [raw(Ether(dst=topo.gw_mac, src=topo.peer_mac) /
                IP(src=PEER_IP, dst=dst) / UDP(sport=sport + i % 4, dport=dport) / (b"x" * 18))
            for i in range(n)]


LOG_RE = (r"log rule a/logged ingress deny: udp 198\.18\.0\.2:(\d+) -> 198\.18\.0\.10:5022 "
          r"len (\d+)")


def test_log_lines_carry_the_5tuple(topo, off_gw, tmp_path):
    """Three packets a log: true deny rule decides: three lines with their 5-tuple and length,
    counted as queued, none dropped; a rule without log: true logs nothing."""
    gw = off_gw()
    before = gw.counters()
    since = gw.mark()
    topo.send_frames(udp_frames(topo, 3, 5022, sport=40100), tmp_path, batch=1, gap_ms=20)
    topo.send_frames(udp_frames(topo, 3, 5020, sport=40200), tmp_path, batch=1, gap_ms=20)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        hits = [re.search(LOG_RE, ln) for ln in gw.log_lines()[since:]]
        hits = [h for h in hits if h]
        if len(hits) >= 3:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    hits = [h for h in (re.search(LOG_RE, ln) for ln in gw.log_lines()[since:]) if h]
    assert sorted(int(h.group(1)) for h in hits) == [40100, 40101, 40102], gw.tail()
    assert all(int(h.group(2)) == 60 for h in hits), gw.tail()  # 14 + 20 + 8 + 18
    assert not any("a/deny-5020" in ln for ln in gw.log_lines()[since:] if "log rule" in ln)
    d = delta(gw.counters(), before)
    assert d["log_queued"] == 3 and d["log_dropped"] == 0, d


def test_log_flood_is_rate_limited(topo, off_gw, tmp_path):
    """A flood of 400 packets to a logging rule: at most 10 lines a second plus a summary of
    the rest; every packet is still counted under the rule."""
    gw = off_gw()
    before = rules(gw)
    since = gw.mark()
    t0 = time.monotonic()
    topo.send_frames(udp_frames(topo, 400, 5022, sport=41000), tmp_path, batch=32, gap_ms=1)
    sent_s = time.monotonic() - t0
    summ = re.compile(r"log rule a/logged: (\d+) more packets not logged \(at most 10 lines a "
                      r"second\)")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        after = rules(gw)
        got = after["a/logged/ingress"]["packets"] - before["a/logged/ingress"]["packets"]
        lines = gw.log_lines()[since:]
        nlog = sum(1 for ln in lines if re.search(LOG_RE, ln))
        nsum = sum(int(m.group(1)) for m in (summ.search(ln) for ln in lines) if m)
        if got == 400 and nlog + nsum + after["_total"]["log_dropped"] >= 400:
            break
        time.sleep(0.5)
    assert got == 400, after
    windows = int(sent_s) + 2  # one-second windows the flood can span
    assert 10 <= nlog <= 10 * windows, f"{nlog} lines in ~{sent_s:.1f}s"
    assert nsum > 0, "\n".join(lines[-30:])
    # every packet either logged, summarised or counted as dropped from the ring
    assert nlog + nsum + after["_total"]["log_dropped"] == 400, (nlog, nsum, after["_total"])


def test_log_egress_deny(off_gw, procs):
    """An app's sends a log: true egress rule refuses are logged with their 5-tuple (and the
    app is told: policy_denied)."""
    gw = off_gw()
    since = gw.mark()
    app = start_hostile(procs, gw, ["-t", f"{PEER_IP}:9001", "-c", 2, "send", "a", A_IP, 5001])
    app.wait(20)
    assert "refused=2" in app.out(), app.out() + app.err()
    pat = (r"log rule a/no-9001 egress deny: udp 198\.18\.0\.10:5001 -> 198\.18\.0\.2:9001 "
           r"len \d+")
    assert gw.wait_log(pat, 5, since), gw.tail()
    time.sleep(0.3)
    assert sum(1 for ln in gw.log_lines()[since:] if re.search(pat, ln)) == 2, gw.tail()


def test_log_operator_rule_names_the_tenant(topo, off_gw, tmp_path):
    """An operator-tier log: true rule's lines name the tenant whose traffic it judged."""
    gw = off_gw(operator=[{"name": "op-5023", "priority": 1, "direction": "ingress",
                           "action": "deny", "protocol": "udp", "dst": {"ports": [5023]},
                           "log": True}])
    since = gw.mark()
    topo.send_frames(udp_frames(topo, 2, 5023, sport=40300), tmp_path, batch=1, gap_ms=20)
    pat = (r"log rule operator/op-5023 \(tenant a\) ingress deny: udp 198\.18\.0\.2:4030[01] "
           r"-> 198\.18\.0\.10:5023 len 60")
    assert gw.wait_log(pat, 5, since), gw.tail()
