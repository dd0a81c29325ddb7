#!/usr/bin/env python3
"""Sends a replica's QUIC port datagrams no honest peer sends (used by
tests/e2e/garbage.sh): random bytes, Initial-looking packets (a valid
QUIC v1 long header, random payload, 1200 bytes) and short-header packets
for connection ids the replica never gave out. Prints what it sent."""
import os
import random
import socket
import sys
import time


def initial_looking(rng):
    dcid = os.urandom(8)
    scid = os.urandom(8)
    head = bytes([0xC0 | rng.randrange(4)]) + (1).to_bytes(4, "big")
    head += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    head += b"\x00"  # no token
    rest = 1200 - len(head) - 2
    head += bytes([0x40 | (rest >> 8), rest & 0xFF])  # 2-byte varint length
    return head + os.urandom(rest)


def short_header(rng):
    return bytes([0x40 | rng.randrange(64)]) + os.urandom(rng.randrange(40, 200))


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    kinds = {"random": 0, "initial": 0, "short": 0}
    for i in range(count):
        kind = ("random", "initial", "short")[i % 3]
        if kind == "random":
            pkt = os.urandom(rng.randrange(1, 1400))
        elif kind == "initial":
            pkt = initial_looking(rng)
        else:
            pkt = short_header(rng)
        sock.sendto(pkt, (host, port))
        kinds[kind] += 1
        if i % 100 == 99:
            time.sleep(0.005)  # do not overflow the receiver's buffer
    print(" ".join(f"{k}={v}" for k, v in kinds.items()))


if __name__ == "__main__":
    main()
