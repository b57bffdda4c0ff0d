#!/usr/bin/env python3
"""Delays packets for the chaos runner's `delay` fault (this kernel has no netem).

    delayer.py QUEUE DELAY_MS JITTER_MS

Binds netfilter queue QUEUE (iptables `-j NFQUEUE --queue-num QUEUE`), holds each packet
DELAY_MS plus up to JITTER_MS at random (jitter reorders packets, as a real network may),
then lets it through. Prints `ready` once bound. Runs until killed.
"""
import heapq
import itertools
import random
import select
import sys
import time

from netfilterqueue import NetfilterQueue


def main():
    queue, delay_ms, jitter_ms = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    if not (0 <= delay_ms <= 10_000 and 0 <= jitter_ms <= 10_000):
        sys.exit("delay and jitter must be within 0..10000 ms")
    held = []
    order = itertools.count()

    def hold(packet):
        packet.retain()
        due = time.monotonic() + (delay_ms + random.uniform(0, jitter_ms)) / 1000
        heapq.heappush(held, (due, next(order), packet))

    nfq = NetfilterQueue()
    nfq.bind(queue, hold, max_len=20_000)
    fd = nfq.get_fd()
    print("ready", flush=True)
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 0.5
        readable, _, _ = select.select([fd], [], [], timeout)
        if readable:
            nfq.run(block=False)
        now = time.monotonic()
        while held and held[0][0] <= now:
            heapq.heappop(held)[2].accept()


if __name__ == "__main__":
    main()
