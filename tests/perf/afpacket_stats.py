#!/usr/bin/env python3
"""afpacket_stats.py PID - the kernel's counters of PID's AF_PACKET sockets (PACKET_STATISTICS).

DPDK 22.11's net_af_packet reports no RX drops (its imissed stays 0): when its RX ring is full the
kernel drops the frame and counts it only in the socket's tp_drops. This takes a duplicate of each
packet socket of PID (pidfd_getfd, Linux >= 5.6, needs ptrace rights: root) and prints one line
per socket: "fd=N packets=P drops=D". Reading the counters resets them (the kernel's rule), so
call it once before a run and once after: the second call gives the run's figures.
"""
import ctypes
import os
import socket
import struct
import sys

SYS_PIDFD_OPEN, SYS_PIDFD_GETFD = 434, 438
SOL_PACKET, PACKET_STATISTICS = 263, 6


def main():
    pid = int(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        sys.exit(f"pidfd_open {pid}: {os.strerror(ctypes.get_errno())}")
    for name in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                continue
        except OSError:
            continue
        fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
        if fd < 0:
            continue
        try:
            s = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            continue
        try:
            if s.family != socket.AF_PACKET:
                continue
            packets, drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            print(f"fd={name} packets={packets} drops={drops}")
        finally:
            s.close()
    os.close(pidfd)


if __name__ == "__main__":
    main()
