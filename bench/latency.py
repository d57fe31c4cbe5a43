#!/usr/bin/env python3
"""Latency of pgconn --watch on a pipe: from writing an event line into
pgconn's standard input to reading the corresponding output line.

    bench/latency.py [PATH-TO-PGCONN]      (default: target/release/pgconn)

Sends `connection authorized` lines, each for its own pid, at a steady rate
and then in bursts, and reads pgconn's `--watch --json` output on another
thread, matching events to lines by pid. Prints p50/p99/max per phase, then
pgconn's CPU time over a few idle seconds (no input, pipe still open).
"""
import json
import os
import subprocess
import sys
import threading
import time

EXE = sys.argv[1] if len(sys.argv) > 1 else "target/release/pgconn"


def line(pid):
    t = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return (f"{t}.000 UTC [{pid}] LOG:  connection authorized: "
            f"user=bench database=bench application_name=latency\n").encode()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def main():
    proc = subprocess.Popen([EXE, "--watch", "--json", "--prefix", "%m [%p] "],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
    sent = {}
    got = {}

    def reader():
        for raw in proc.stdout:
            now = time.perf_counter()
            ev = json.loads(raw)
            if ev.get("type") == "connect":
                got[ev["pid"]] = now

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    pid = 100000
    phases = []

    # Steady: 2000 events at 500 per second, one write each.
    start = pid
    for _ in range(2000):
        pid += 1
        sent[pid] = time.perf_counter()
        proc.stdin.write(line(pid))
        time.sleep(0.002)
    phases.append(("steady 500/s", start, pid))

    # Bursts: 30 bursts of 100 lines in one write, 100 ms apart.
    start = pid
    for _ in range(30):
        chunk = b""
        ids = []
        for _ in range(100):
            pid += 1
            ids.append(pid)
            chunk += line(pid)
        now = time.perf_counter()
        for i in ids:
            sent[i] = now
        proc.stdin.write(chunk)
        time.sleep(0.1)
    phases.append(("bursts of 100", start, pid))

    deadline = time.time() + 5
    while len(got) < len(sent) and time.time() < deadline:
        time.sleep(0.01)

    # Idle: the pipe stays open, nothing comes.
    c0 = cpu_seconds(proc.pid)
    time.sleep(3)
    idle = cpu_seconds(proc.pid) - c0

    proc.stdin.close()
    proc.wait()
    missing = len(sent) - len(got)
    print(f"pgconn: {EXE}")
    for name, a, b in phases:
        lat = [(got[i] - sent[i]) * 1000 for i in range(a + 1, b + 1) if i in got]
        print(f"{name:>14}: {len(lat)} events  p50 {percentile(lat, 50):.2f} ms  "
              f"p99 {percentile(lat, 99):.2f} ms  max {max(lat):.2f} ms")
    print(f"{'idle':>14}: {idle:.3f} s CPU in 3 s with the input open")
    if missing:
        print(f"MISSING: {missing} events never came out")
        sys.exit(1)


if __name__ == "__main__":
    main()
