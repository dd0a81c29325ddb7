#!/usr/bin/env python3
"""Clients that hold connections to a replica's admin API open, for
tests/e2e/admin_*.sh (sourced by none: run as a program).

usage: admin_clients.py PORT MODE COUNT STATUS_FILE [ARG...]

Opens COUNT connections to 127.0.0.1:PORT and on each does MODE:

  idle                  nothing (a connection that never sends a request)
  keepalive             GET /health over HTTP/1.1, reads the answer, keeps
                        the connection open
  slowpost LEN SEND     POST /artifacts with Content-Length: LEN, sends SEND
                        bytes of it (SEND < LEN) and stalls
  unreadget PATH        GET PATH and never reads the answer (waits for its
                        first bytes, peeked: their status is reported)

then writes one line to STATUS_FILE (atomically, via a rename):
"connected=C answered=A statuses=SxN,..." where S are the HTTP statuses
seen so far (a refused POST's 503, a keepalive's 200) and N how many,
and holds every connection open until SIGTERM, when it closes them all
and exits 0.
Every step has a deadline (STEP_S); nothing here waits forever."""

import os
import select
import signal
import socket
import sys
import time

STEP_S = 20.0


def connect_all(port, count):
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    deadline = time.monotonic() + STEP_S
    pending = list(socks)
    connected = []
    while pending and time.monotonic() < deadline:
        _, w, _ = select.select([], pending, [], 0.2)
        for s in w:
            pending.remove(s)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected.append(s)
    return socks, connected


def status_of(head):
    """The status of an answer's first line, or None."""
    line = head.split(b"\r\n", 1)[0].split(b" ")
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None


def answer_of(s):
    """What s has received so far, without waiting ("" if nothing or
    only an error: a reset after an answer still leaves the answer)."""
    try:
        return s.recv(4096, socket.MSG_DONTWAIT)
    except OSError:
        return b""


def send_all(socks, data_of):
    """Sends data_of(i) on socks[i] without blocking on any one of them;
    a socket that the server answered or closed stops early. Returns the
    statuses of the answers that came while sending, or within 1 s after
    (a socket that failed to send is read for its answer too)."""
    left = {s: memoryview(data_of(i)) for i, s in enumerate(socks)}
    got = {}
    deadline = time.monotonic() + STEP_S
    while left and time.monotonic() < deadline:
        r, w, _ = select.select(list(left), list(left), [], 0.2)
        for s in r:
            got[s] = answer_of(s)
            left.pop(s, None)   # answered or closed: stop sending
        for s in w:
            if s not in left:
                continue
            try:
                n = s.send(left[s][:65536])
            except OSError:
                left.pop(s, None)
                got[s] = answer_of(s)
                continue
            left[s] = left[s][n:]
            if len(left[s]) == 0:
                left.pop(s)
    # Answers still on their way (a refusal after the whole body).
    quiet = [s for s in socks if not got.get(s)]
    deadline = time.monotonic() + 1.0
    while quiet and time.monotonic() < deadline:
        r, _, _ = select.select(quiet, [], [], 0.1)
        for s in r:
            got[s] = answer_of(s)
            quiet.remove(s)
    return [status_of(v) for v in got.values() if status_of(v) is not None]


def read_heads(socks):
    """Reads each socket's answer head; returns the statuses."""
    bufs = {s: b"" for s in socks}
    deadline = time.monotonic() + STEP_S
    while bufs and time.monotonic() < deadline:
        r, _, _ = select.select(list(bufs), [], [], 0.2)
        for s in r:
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            bufs[s] += chunk
            if not chunk or b"\r\n\r\n" in bufs[s]:
                yield status_of(bufs.pop(s))


def main():
    port, mode, count, status_file = (int(sys.argv[1]), sys.argv[2],
                                      int(sys.argv[3]), sys.argv[4])
    args = sys.argv[5:]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    socks, connected = connect_all(port, count)
    statuses = []
    if mode == "keepalive":
        req = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
        statuses = send_all(connected, lambda i: req)
        statuses += [st for st in read_heads(connected) if st is not None]
    elif mode == "slowpost":
        length, send = int(args[0]), int(args[1])
        head = ("POST /artifacts HTTP/1.1\r\nHost: t\r\n"
                "Content-Length: %d\r\n\r\n" % length).encode()
        # Each body differs in its first bytes (no 409 if one completes).
        statuses = send_all(connected, lambda i: head + (b"%08d" % i) +
                            b"x" * (send - 8))
    elif mode == "unreadget":
        for s in connected:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        req = ("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % args[0]).encode()
        for s in connected:
            s.setblocking(True)
            s.sendall(req)
        # Wait until the server answers each (its first bytes arrive),
        # peeking its status without reading the answer.
        left = list(connected)
        deadline = time.monotonic() + STEP_S
        while left and time.monotonic() < deadline:
            r, _, _ = select.select(left, [], [], 0.2)
            for s in r:
                left.remove(s)
                st = status_of(s.recv(64, socket.MSG_PEEK))
                if st is not None:
                    statuses.append(st)
    elif mode != "idle":
        sys.exit("unknown mode " + mode)
    tmp = status_file + ".tmp"
    with open(tmp, "w") as f:
        counts = {}
        for st in statuses:
            counts[st] = counts.get(st, 0) + 1
        f.write("connected=%d answered=%d statuses=%s\n" % (
            len(connected), len(statuses),
            ",".join("%dx%d" % (st, counts[st]) for st in sorted(counts))))
    os.rename(tmp, status_file)
    # Hold until told to stop (bounded: the test's own time limit).
    deadline = time.monotonic() + 200
    while not stop and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
