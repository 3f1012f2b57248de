"""conftest.py - fixtures for the bypassd integration tests: namespaces, a veth, the daemon.

Topology (one per test, unique names, always torn down):

    [gw netns]  gw_if  (bypassd binds it with net_af_packet; Linux has no IP on it)
                  |  veth
    [peer netns] peer_if 198.18.0.2/24  (Linux is the peer: ping, arping, sockets, raw frames)

The gateway is 198.18.0.1/24. Nothing touches the host's own interfaces or root-namespace routes.
Run as root with /usr/bin/python3 -m pytest tests/integration.

Apps (issue 3): the `procs` fixture starts helper processes in either namespace (udp_echo and
hostile_app in the gateway's, clients in the peer's) and always stops them before the gateway and
the namespaces go; Gateway.wait_log/channel_id/dump/channel_counters read the channel log lines
and the per-channel 'counters channelN:' lines of a SIGUSR1 dump; `public_tmp` is a directory
every uid can reach, for a control socket that processes other than root must find.
"""
import copy
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BYPASSD_BUILD", str(REPO / "build")))
BYPASSD = BUILD / "gateway" / "bypassd"
PEER_TOOL = Path(__file__).resolve().parent / "peer_tool.py"
UDP_ECHO = BUILD / "client" / "udp_echo"
HOSTILE_APP = BUILD / "tests" / "integration" / "hostile_app"
PY = "/usr/bin/python3"

GW_IP = "198.18.0.1"
PEER_IP = "198.18.0.2"
PREFIX_LEN = 24
TENANT_IP = "198.18.0.10"  # a tenant's /32 in the default config: the gateway answers ARP for it
UNOWNED_IP = "198.18.0.99"

READY_TIMEOUT_S = 20
STOP_TIMEOUT_S = 5

_seq = itertools.count()


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="integration tests need root (network namespaces, veth, raw sockets)")
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(skip)


def run(cmd, timeout=10, check=True, ns=None, **kw):
    """Run a command (optionally inside netns ns), capture text output; bounded by timeout."""
    if ns:
        cmd = ["ip", "netns", "exec", ns] + list(cmd)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def deep_merge(base, over):
    """Merge dict `over` into a copy of `base`; a value of None deletes the key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_kv(text):
    """'a=1 b=2' -> {'a': 1, 'b': 2} (non-integer values kept as strings)."""
    out = {}
    for tok in text.split():
        if "=" not in tok:
            continue
        k, v = tok.split("=", 1)
        try:
            out[k] = int(v)
        except ValueError:
            out[k] = v
    return out


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}


class Topology:
    """Two namespaces joined by a veth. Created in __init__, removed by destroy() (idempotent)."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}{next(_seq)}"
        self.gw_ns = f"bpt{tag}g"
        self.peer_ns = f"bpt{tag}p"
        self.gw_if = f"bpg{tag}"
        self.peer_if = f"bpp{tag}"
        assert len(self.gw_if) <= 15 and len(self.peer_if) <= 15
        self._made = []
        self._sniffers = []
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise

    def _create(self):
        for ns in (self.gw_ns, self.peer_ns):
            run(["ip", "netns", "add", ns])
            self._made.append(ns)
            # quiet link: no IPv6 (no router solicitations, no DAD, no MLD) on anything created later
            run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1"], ns=ns)
            run(["ip", "link", "set", "lo", "up"], ns=ns)
        # created directly inside the namespaces: never appears in the root namespace
        run(["ip", "-n", self.gw_ns, "link", "add", self.gw_if, "type", "veth",
             "peer", "name", self.peer_if, "netns", self.peer_ns])
        for ns, ifc in ((self.gw_ns, self.gw_if), (self.peer_ns, self.peer_if)):
            run(["sysctl", "-qw", f"net.ipv6.conf.{ifc}.disable_ipv6=1"], ns=ns, check=False)
            for feat in ("tx", "rx", "tso", "gso", "gro"):
                run(["ethtool", "-K", ifc, feat, "off"], ns=ns, check=False)
        run(["ip", "addr", "add", f"{PEER_IP}/{PREFIX_LEN}", "dev", self.peer_if], ns=self.peer_ns)
        run(["ip", "link", "set", self.gw_if, "up"], ns=self.gw_ns)
        run(["ip", "link", "set", self.peer_if, "up"], ns=self.peer_ns)
        self.gw_mac = self._mac(self.gw_ns, self.gw_if)
        self.peer_mac = self._mac(self.peer_ns, self.peer_if)

    @staticmethod
    def _mac(ns, ifc):
        p = run(["ip", "-j", "link", "show", "dev", ifc], ns=ns)
        return json.loads(p.stdout)[0]["address"].lower()

    def destroy(self):
        for sn in self._sniffers:
            sn.stop()
        self._sniffers = []
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self._made = []

    # --- running things in the peer namespace -------------------------------------------------

    def peer(self, cmd, timeout=20, check=False):
        return run(cmd, timeout=timeout, check=check, ns=self.peer_ns)

    def peer_tool(self, *args, timeout=30):
        """Run peer_tool.py in the peer namespace; returns its JSON result."""
        p = run([PY, str(PEER_TOOL)] + [str(a) for a in args], timeout=timeout, check=True,
                ns=self.peer_ns)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def send_frames(self, frames, tmp_path, batch=32, gap_ms=1.0):
        """Send raw frames (bytes) from peer_if, paced: batch frames, then gap_ms."""
        f = tmp_path / f"frames-{next(_seq)}.hex"
        f.write_text("".join(bytes(fr).hex() + "\n" for fr in frames))
        res = self.peer_tool("send", "--iface", self.peer_if, "--frames", f, "--batch", batch,
                             "--gap-ms", gap_ms)
        assert res["sent"] == len(frames), f"peer sent only {res['sent']} of {len(frames)} frames"
        return res

    def exchange(self, frames, tmp_path, listen=1.0, want=None, match=None):
        """Send frames from peer_if and return the incoming frames (bytes) seen within listen s."""
        f = tmp_path / f"frames-{next(_seq)}.hex"
        f.write_text("".join(bytes(fr).hex() + "\n" for fr in frames))
        args = ["exchange", "--iface", self.peer_if, "--frames", f, "--listen", listen]
        if want is not None:
            args += ["--want", want]
        if match is not None:
            args += ["--match", match]
        res = self.peer_tool(*args, timeout=listen + 30)
        return [bytes.fromhex(h) for h in res["received"]]

    def start_sniffer(self, duration):
        """Start capturing incoming frames on peer_if for at most `duration` s; stopped with the
        topology at the latest."""
        sn = Sniffer(self, duration)
        self._sniffers.append(sn)
        return sn


class Sniffer:
    """peer_tool.py sniff in the background: frames() is what arrived so far as [(t, bytes)];
    wait_for(pred, timeout) polls until a frame satisfies pred. stop() always ends it."""

    def __init__(self, topo, duration):
        self.duration = duration
        self._frames = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", topo.peer_ns, PY, str(PEER_TOOL), "sniff", "--iface",
             topo.peer_if, "--duration", str(duration)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # READY (the tool binds or dies at once)
        if line.strip() != "READY":
            self.stop()
            raise AssertionError(f"sniffer did not start: {line!r} {self.proc.stderr.read()}")
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self):
        for line in self.proc.stdout:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self._frames.append((r["t"], bytes.fromhex(r["hex"])))

    def frames(self):
        with self._lock:
            return list(self._frames)

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [f for f in self.frames() if pred(f[1])]
            if hits:
                return hits
            if self.proc.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.05)
        return [f for f in self.frames() if pred(f[1])]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


def default_config(topo, workdir):
    """A config for one test: gateway on gw_if, one worker, a tenant owning TENANT_IP."""
    return {
        "gateway": {
            "port": {"device": f"net_af_packet0,iface={topo.gw_if},qpairs=1"},
            "eal_args": ["--no-huge", "--no-shconf", "--no-pci", "--no-telemetry", "-m", "256"],
            "workers": 1,
            "addresses": [f"{GW_IP}/{PREFIX_LEN}"],
            "control_socket": str(workdir / "control.sock"),
            "idle_sleep_us": 50,
            "log_level": "info",
        },
        "policy": {
            "tenants": [
                # the foundation tests ping and probe the tenant's address: no policy in the way
                {"name": "itest", "addresses": [TENANT_IP],
                 "default": {"ingress": "allow", "egress": "allow"}},
            ],
        },
    }


class Gateway:
    """One bypassd process inside topo.gw_ns, stdout+stderr to a log file."""

    def __init__(self, topo, workdir, config, name="bypassd"):
        self.topo = topo
        self.name = name
        self.workdir = workdir
        self.config = config
        self.cfg_path = workdir / f"{name}.yaml"
        self.log_path = workdir / f"{name}.log"
        self.proc = None
        self.rc = None

    def write_config(self):
        """The config as JSON, which is YAML too: no PyYAML needed, every string quoted."""
        self.cfg_path.write_text(json.dumps(self.config, indent=2) + "\n")
        return self.cfg_path

    def start(self, wait_ready=True):
        if not BYPASSD.exists():
            pytest.fail(f"{BYPASSD} is not built (meson setup build && ninja -C build)")
        self.write_config()
        self._log = open(self.log_path, "wb")
        # ip netns exec execs the command (no fork): proc.pid is bypassd's pid
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.topo.gw_ns, str(BYPASSD), "-c", str(self.cfg_path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()
        if wait_ready:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready:" in self.log():
                return
            if not self.alive():
                pytest.fail(f"bypassd exited with {self.proc.returncode} before ready:\n{self.tail()}")
            time.sleep(0.05)
        pytest.fail(f"bypassd not ready within {timeout}s:\n{self.tail()}")

    def signal(self, sig):
        assert self.alive(), f"bypassd is not running (rc={self.proc.returncode}):\n{self.tail()}"
        os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Exit code, or None if still running after timeout seconds."""
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.rc

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code (negative: killed by signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.wait(timeout)
        self.rc = self.proc.returncode
        if not self._log.closed:
            self._log.close()
        return self.rc

    def counter_lines(self, kind="total"):
        pat = re.compile(r"counters " + re.escape(kind) + r": (.*)$")
        return [m.group(1) for m in (pat.search(line) for line in self.log().splitlines()) if m]

    def counters(self, timeout=5):
        """SIGUSR1, wait for a new 'counters total:' line, return it parsed (plus port.* keys)."""
        n0 = len(self.counter_lines())
        np0 = len(self.counter_lines("port0"))
        self.signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.counter_lines()
            if len(lines) > n0:
                c = parse_kv(lines[n0])
                # the port line follows the per-worker lines; take it if it shows up promptly
                t_port = time.monotonic() + 0.5
                while time.monotonic() < t_port:
                    pl = self.counter_lines("port0")
                    if len(pl) > np0:
                        c.update({f"port.{k}": v for k, v in parse_kv(pl[np0]).items()})
                        break
                    time.sleep(0.01)
                return c
            if not self.alive():
                break
            time.sleep(0.02)
        pytest.fail(f"no new 'counters total:' line within {timeout}s of SIGUSR1:\n{self.tail()}")

    def wait_counters(self, before, expect, timeout=5, settle=0.3):
        """Poll counters until every key in expect has grown by at least its value (bounded), then
        let it settle and return the final deltas."""
        deadline = time.monotonic() + timeout
        while True:
            d = delta(self.counters(), before)
            if all(d.get(k, 0) >= v for k, v in expect.items()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(settle)
        return delta(self.counters(), before)

    # --- log lines and channels (issue 3) -------------------------------------------------------

    def log_lines(self):
        return self.log().splitlines()

    def mark(self):
        """Where the log is now: pass as since= to wait_log to see only what comes after."""
        return len(self.log_lines())

    def wait_log(self, pattern, timeout=5, since=0):
        """Poll the log until a line (from line `since` on) matches regex pattern; the re.Match, or
        None after timeout (or once bypassd has exited and the line is not there)."""
        pat = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines()[since:]:
                m = pat.search(line)
                if m:
                    return m
            if time.monotonic() > deadline or not self.alive():
                if not self.alive():  # the last lines may have landed after the check
                    for line in self.log_lines()[since:]:
                        m = pat.search(line)
                        if m:
                            return m
                return None
            time.sleep(0.02)

    def channel_id(self, pid, timeout=5):
        """The channel number the gateway gave the app with this pid (its 'attached' line)."""
        m = self.wait_log(rf"channel (\d+) attached: tenant \S+ app '[^']*' pid {pid} ", timeout)
        assert m, f"no 'channel N attached: ... pid {pid}' line within {timeout}s:\n{self.tail()}"
        return int(m.group(1))

    def dump(self, timeout=5, settle=0.3):
        """SIGUSR1 once; returns (total, channels): the new 'counters total:' line parsed (plus
        port.* keys, as counters()) and every 'counters channelN:' line of the same dump parsed,
        each with 'channel': N added (one per queue of each attached app)."""
        since = self.mark()
        total = self.counters(timeout)
        time.sleep(settle)  # the channel lines are logged with the same dump
        pat = re.compile(r"counters channel(\d+): (.*)$")
        chans = []
        for line in self.log_lines()[since:]:
            m = pat.search(line)
            if m:
                c = parse_kv(m.group(2))
                c["channel"] = int(m.group(1))
                chans.append(c)
        return total, chans

    def channel_counters(self, pid=None, chan=None, timeout=5):
        """The per-channel counters of the app with this pid (or channel number), from a fresh
        dump; fails if it has no line (not attached)."""
        total, chans = self.dump(timeout)
        hits = [c for c in chans if (pid is None or c.get("pid") == pid) and
                (chan is None or c["channel"] == chan)]
        assert hits, (f"no 'counters channelN:' line for pid={pid} channel={chan}; "
                      f"lines: {chans}\n{self.tail()}")
        return hits[0]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for gw in getattr(item, "_bypassd", []):
            rep.sections.append((f"{gw.name} log tail ({gw.log_path})", gw.tail(80)))
        for p in getattr(item, "_procs", []):
            rep.sections.append((f"process {p.name}", p.describe()))


@pytest.fixture
def bypassd_bin():
    if not BYPASSD.exists():
        pytest.fail(f"{BYPASSD} is not built (meson setup build && ninja -C build; "
                    f"or set BYPASSD_BUILD)")
    return BYPASSD


@pytest.fixture
def topo():
    t = Topology()
    yield t
    t.destroy()


@pytest.fixture
def gateway_factory(request, topo, tmp_path, bypassd_bin):
    """gateway_factory(overrides=None, start=True, name=...) -> Gateway (ready unless start=False).
    overrides is deep-merged into default_config (None values delete keys)."""
    made = []
    request.node._bypassd = made

    def make(overrides=None, start=True, wait_ready=True, name=None):
        cfg = default_config(topo, tmp_path)
        if overrides:
            cfg = deep_merge(cfg, overrides)
        gw = Gateway(topo, tmp_path, cfg, name=name or f"bypassd{len(made)}")
        made.append(gw)
        if start:
            gw.start(wait_ready=wait_ready)
        return gw

    yield make
    for gw in made:
        gw.stop()


@pytest.fixture
def gateway(gateway_factory):
    return gateway_factory()


# --- helper processes: apps in the gateway's namespace, tools in the peer's (issue 3) ------------

class Proc:
    """A process started in a namespace with stdout/stderr to files in workdir. A reaper thread
    records the exit time (t_exit, time.monotonic()) so tests can measure how fast it ended.
    `ip netns exec` (and setpriv) exec the command, so pid is the program's own pid."""

    def __init__(self, argv, ns, workdir, name, prefix=()):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in prefix] +
                                     self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err)
        self.t_start = time.monotonic()
        self.t_exit = None
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self):
        self.proc.wait()
        self.t_exit = time.monotonic()

    @property
    def pid(self):
        return self.proc.pid

    @property
    def rc(self):
        return self.proc.returncode if self.t_exit is not None else None

    def alive(self):
        return self.t_exit is None

    def out(self):
        return self.out_path.read_text(errors="replace")

    def err(self):
        return self.err_path.read_text(errors="replace")

    def describe(self):
        return (f"{self.name} (pid {self.pid}, rc {self.rc}): {' '.join(self.argv)}\n"
                f"--- stdout:\n{self.out()[-3000:]}--- stderr:\n{self.err()[-3000:]}")

    def wait_line(self, pattern, timeout=10, stream="out"):
        """Poll stdout (or stderr) until a line matches regex pattern: the re.Match. Fails the
        test if it does not come within timeout or the process exits without printing it."""
        pat = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            dead = not self.alive()
            text = self.out() if stream == "out" else self.err()
            for line in text.splitlines():
                m = pat.search(line)
                if m:
                    return m
            if dead or time.monotonic() > deadline:
                pytest.fail(f"no line matching {pattern!r} on {stream} of "
                            f"{'exited ' if dead else ''}{self.describe()}")
            time.sleep(0.02)

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        """Exit code, or None if still running after timeout seconds."""
        self._reaper.join(timeout)
        return self.rc

    def stop(self, timeout=3, sig=None):
        """sig (default SIGTERM), then SIGKILL after timeout; returns the exit code."""
        if self.alive():
            self.signal(sig or signal.SIGTERM)
            if self.wait(timeout) is None:
                self.signal(signal.SIGKILL)
                self.wait(5)
        for f in (self._out, self._err):
            if not f.closed:
                f.close()
        return self.rc


@pytest.fixture
def public_tmp():
    """A directory every local uid can traverse (the control socket lives here, so processes
    that are not root can reach it; pytest's tmp_path is 0700). Removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="bpt-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def procs(request, topo, tmp_path, gateway_factory):
    """procs(argv, ns=..., name=..., prefix=()) -> Proc. Every process still running at the end
    is stopped (SIGTERM, then SIGKILL): before the gateways stop and the namespaces go."""
    made = []
    request.node._procs = made

    def spawn(argv, ns=None, name=None, prefix=()):
        name = name or f"{Path(str(argv[0])).name}{len(made)}"
        p = Proc(argv, ns or topo.gw_ns, tmp_path, name, prefix)
        made.append(p)
        return p

    yield spawn
    for p in made:
        p.stop(timeout=2)
