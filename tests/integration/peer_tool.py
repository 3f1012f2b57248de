#!/usr/bin/python3
"""peer_tool.py - run inside the peer namespace (ip netns exec PEER /usr/bin/python3 peer_tool.py ...).

Raw AF_PACKET send/receive and plain-socket probes, so the tests can build frames with scapy in
the pytest process and only ship bytes here. Output is one JSON document on stdout (the sniff
command also prints READY on its own line once the socket is bound). Every loop is bounded.
"""
import argparse
import errno
import json
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def raw_socket(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    return s


def read_frames(path):
    with open(path) as f:
        return [bytes.fromhex(line.strip()) for line in f if line.strip()]


def send_frames(s, frames, batch, gap_s):
    """Send frames in batches of `batch` with `gap_s` between batches; returns how many went."""
    sent = 0
    for i, fr in enumerate(frames):
        if s.send(fr) == len(fr):
            sent += 1
        if batch and (i + 1) % batch == 0 and gap_s:
            time.sleep(gap_s)
    return sent


def drain_incoming(s, deadline, want=None, match=None):
    """Collect frames arriving on s (not our own outgoing ones) until deadline or `want` matched."""
    got = []
    matched = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING:
            continue
        got.append({"t": time.monotonic(), "hex": data.hex()})
        if match is not None and match in data.hex():
            matched += 1
        elif match is None:
            matched += 1
        if want is not None and matched >= want:
            break
    return got


def cmd_send(a):
    s = raw_socket(a.iface)
    frames = read_frames(a.frames)
    t0 = time.monotonic()
    sent = send_frames(s, frames, a.batch, a.gap_ms / 1000.0)
    print(json.dumps({"sent": sent, "total": len(frames), "elapsed": time.monotonic() - t0}))


def cmd_exchange(a):
    """Send frames, then return every incoming frame seen within --listen seconds."""
    s = raw_socket(a.iface)
    frames = read_frames(a.frames)
    sent = send_frames(s, frames, a.batch, a.gap_ms / 1000.0)
    got = drain_incoming(s, time.monotonic() + a.listen, a.want, a.match)
    print(json.dumps({"sent": sent, "received": [g["hex"] for g in got]}))


def cmd_sniff(a):
    """Print READY once bound, then one JSON line per incoming frame, for --duration seconds."""
    s = raw_socket(a.iface)
    print("READY", flush=True)
    t0 = time.monotonic()
    deadline = t0 + a.duration
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING:
            continue
        print(json.dumps({"t": time.monotonic() - t0, "hex": data.hex()}), flush=True)


def errname(e):
    return errno.errorcode.get(e, str(e))


def cmd_udp(a):
    """Connected UDP socket: send one datagram, report what recv says (ECONNREFUSED on ICMP unreach)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    s.connect((a.dst, a.port))
    s.send(b"bypassd integration test")
    res = {"result": "timeout"}
    try:
        data = s.recv(2048)
        res = {"result": "data", "len": len(data)}
    except ConnectionRefusedError:
        res = {"result": "ECONNREFUSED"}
    except socket.timeout:
        pass
    except OSError as e:
        res = {"result": errname(e.errno)}
    print(json.dumps(res))


def cmd_tcp(a):
    """TCP connect; report ECONNREFUSED (RST), timeout or connected."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    res = {"result": "connected"}
    try:
        s.connect((a.dst, a.port))
    except ConnectionRefusedError:
        res = {"result": "ECONNREFUSED"}
    except socket.timeout:
        res = {"result": "timeout"}
    except OSError as e:
        res = {"result": errname(e.errno)}
    print(json.dumps(res))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("send", "exchange"):
        c = sub.add_parser(name)
        c.add_argument("--iface", required=True)
        c.add_argument("--frames", required=True, help="file: one hex frame per line")
        c.add_argument("--batch", type=int, default=32)
        c.add_argument("--gap-ms", type=float, default=1.0)
        if name == "exchange":
            c.add_argument("--listen", type=float, default=1.0)
            c.add_argument("--want", type=int, default=None, help="stop after this many matches")
            c.add_argument("--match", default=None, help="hex substring a frame must contain")
    c = sub.add_parser("sniff")
    c.add_argument("--iface", required=True)
    c.add_argument("--duration", type=float, required=True)
    for name in ("udp", "tcp"):
        c = sub.add_parser(name)
        c.add_argument("--dst", required=True)
        c.add_argument("--port", type=int, required=True)
        c.add_argument("--timeout", type=float, default=2.0)
    a = p.parse_args()
    {"send": cmd_send, "exchange": cmd_exchange, "sniff": cmd_sniff, "udp": cmd_udp,
     "tcp": cmd_tcp}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
