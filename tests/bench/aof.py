#!/usr/bin/env python3
"""SET throughput with the AOF on: Ember vs redis-server with the same
appendfsync, and Ember with the AOF vs Ember without (tests/bench/README.md).

Each configuration gets a fresh server in a fresh temp dir on a free loopback
port; redis-benchmark runs `-t set` with -P 1 and -P 16; the median of
--repeat runs is reported. Stdlib only.

    python3 tests/bench/aof.py --ember-bin target/release/ember-server
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not answer PING")


def start(kind: str, binary: str, fsync: str | None, workdir: Path, threads: int | None):
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--dir", str(workdir), "--save", ""]
    if fsync is None:
        argv += ["--appendonly", "no"]
    else:
        argv += ["--appendonly", "yes", "--appendfsync", fsync]
    if kind == "ember" and threads is not None:
        argv += ["--threads", str(threads)]
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    wait_ready(port, proc)
    return proc, port


def bench(port: int, pipeline: int, requests: int, clients: int) -> float:
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-t", "set", "-n", str(requests),
           "-c", str(clients), "-P", str(pipeline), "-r", "1000000", "--csv", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    for rec in csv.reader(io.StringIO(out)):
        if rec and rec[0] == "SET":
            return float(rec[1])
    raise RuntimeError(f"no SET row in: {out!r}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ember-bin", required=True)
    p.add_argument("--redis-bin", default="redis-server")
    p.add_argument("--threads", type=int, default=None, help="--threads for ember")
    p.add_argument("--requests", type=int, default=200_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--pipelines", default="1,16")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--fsync", default="everysec,always")
    args = p.parse_args()

    pipelines = [int(x) for x in args.pipelines.split(",")]
    configs = [("ember", None)]
    for f in args.fsync.split(","):
        configs += [("ember", f), ("redis", f)]
    results: dict[tuple[str, str | None, int], float] = {}
    for kind, fsync in configs:
        binary = args.ember_bin if kind == "ember" else args.redis_bin
        for pl in pipelines:
            runs = []
            for _ in range(args.repeat):
                workdir = Path(tempfile.mkdtemp(prefix=f"aofbench-{kind}-"))
                proc, port = start(kind, binary, fsync, workdir, args.threads)
                try:
                    n = args.requests * (5 if pl > 1 else 1)
                    runs.append(bench(port, pl, n, args.clients))
                finally:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    shutil.rmtree(workdir, ignore_errors=True)
            results[(kind, fsync, pl)] = statistics.median(runs)
            print(f"{kind:5} appendfsync={fsync or 'off':8} -P {pl:2}: "
                  f"{results[(kind, fsync, pl)]:>12,.0f} SET/s  (runs: {', '.join(f'{r:,.0f}' for r in runs)})",
                  file=sys.stderr, flush=True)

    print("\n| appendfsync | -P | Ember SET/s | Redis SET/s | Ember/Redis | Ember/Ember-no-AOF |")
    print("|---|---|---|---|---|---|")
    for f in args.fsync.split(","):
        for pl in pipelines:
            e, r, off = results[("ember", f, pl)], results[("redis", f, pl)], results[("ember", None, pl)]
            print(f"| {f} | {pl} | {e:,.0f} | {r:,.0f} | {e / r:.2f}x | {e / off:.2f}x |")
    for pl in pipelines:
        print(f"| off (Ember) | {pl} | {results[('ember', None, pl)]:,.0f} | | | 1.00x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
