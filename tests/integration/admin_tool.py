"""admin_tool.py - hostile admin-API clients for test_admin.py, run inside the gateway's namespace.

Prints one JSON line. Every loop is bounded by count and time.

slowloris: open a TLS connection and send a request head one byte a second for at most SECONDS;
           report when (if) the server closed the connection.
flood:     open CLIENTS TLS connections at once (threads), then send one authenticated GET on each;
           count the answers by status, and the connections the server closed instead.
"""
import argparse
import json
import socket
import ssl
import threading
import time


def tls_connect(a, timeout):
    ctx = ssl.create_default_context(cafile=a.cacert)
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def slowloris(a):
    head = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 64
    t0 = time.monotonic()
    sent, closed_after = 0, None
    s = tls_connect(a, 5)
    s.settimeout(1.0)
    try:
        while time.monotonic() - t0 < a.seconds and sent < len(head):
            try:
                s.sendall(head[sent:sent + 1])
                sent += 1
            except OSError:
                closed_after = time.monotonic() - t0
                break
            try:
                if s.recv(4096) == b"":
                    closed_after = time.monotonic() - t0
                    break
            except socket.timeout:
                pass  # the 1 s pace
            except OSError:
                closed_after = time.monotonic() - t0
                break
    finally:
        s.close()
    print(json.dumps({"bytes_sent": sent, "closed_after": closed_after}))


def flood(a):
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(a.clients, timeout=a.seconds)

    def one():
        s, r = None, "closed"
        try:
            try:
                s = tls_connect(a, a.seconds)
            except (OSError, ssl.SSLError):
                s = None
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            if s is not None:
                req = (f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: Bearer {a.token}\r\nConnection: close\r\n\r\n")
                s.sendall(req.encode())
                data = b""
                while len(data) < 65536:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 "):
                    r = data[9:12].decode()
        except (OSError, ssl.SSLError):
            r = "closed"
        finally:
            if s is not None:
                s.close()
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(a.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, a.seconds * 2 - (time.monotonic() - t0)))
    counts = {}
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    counts["unfinished"] = a.clients - len(results)
    print(json.dumps(counts))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["slowloris", "flood"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cacert", required=True)
    p.add_argument("--token", default="")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--clients", type=int, default=200)
    a = p.parse_args()
    slowloris(a) if a.cmd == "slowloris" else flood(a)


if __name__ == "__main__":
    main()
