#!/usr/bin/env python3
"""Replication, primary side: full-sync time and SET throughput with a replica
attached, Ember primary vs redis-server primary (tests/bench/README.md).

1. Full sync: the primary is loaded with --keys keys (`SET key:%012d v%07d`
   through `redis-cli --pipe`), then a redis-server 7.0 replica starts with
   `--replicaof`; the time from its start until its `master_link_status:up`
   with all keys is reported (diskless, `repl-diskless-sync-delay 0`, both
   primaries), median of --repeat runs.
2. SET throughput: `redis-benchmark -t set -c 50 -r 1000000` with -P 1 and
   -P 16 against the primary without a replica and with one redis-server
   replica attached; the ratio with/without, beside Redis's same ratio.

Every server runs in a fresh temp dir on a free loopback port and is killed
at the end. Stdlib only.

    python3 tests/bench/repl.py --ember-bin target/release/ember-server --threads 1
"""

from __future__ import annotations

import argparse
import csv
import io
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


def cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), *args],
                          capture_output=True, text=True, timeout=60).stdout


def info(port: int, field: str) -> str | None:
    for line in cli(port, "INFO", "replication").splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


class Server:
    def __init__(self, kind: str, binary: str, threads: int | None, extra: list[str]):
        self.dir = Path(tempfile.mkdtemp(prefix=f"replbench-{kind}-"))
        self.port = free_port()
        argv = [binary, "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", *extra]
        if kind == "ember" and threads is not None:
            argv += ["--threads", str(threads)]
        self.log = open(self.dir / "server.log", "w")
        self.started = time.time()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{kind} exited: {(self.dir / 'server.log').read_text()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{kind} did not answer PING")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def load(port: int, resp: Path, keys: int) -> None:
    with open(resp, "rb") as f:
        subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), "--pipe"], stdin=f,
                       capture_output=True, check=True, timeout=600)
    while int(cli(port, "DBSIZE").strip() or 0) < keys:
        time.sleep(0.1)


def sync_time(primary: Server, redis_bin: str, keys: int) -> float:
    t0 = time.time()
    replica = Server("redis", redis_bin, None, ["--replicaof", f"{HOST} {primary.port}"])
    try:
        while True:
            if info(replica.port, "master_link_status") == "up" and \
                    int(cli(replica.port, "DBSIZE").strip() or 0) >= keys:
                return time.time() - t0
            if time.time() - t0 > 600:
                raise RuntimeError("the replica did not sync within 600 s")
            time.sleep(0.02)
    finally:
        replica.stop()


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
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=200_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--pipelines", default="1,16")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="replbench-"))
    resp = tmp / "keys.resp"
    with open(resp, "wb") as f:
        for i in range(args.keys):
            k, v = f"key:{i:012d}".encode(), f"v{i:07d}".encode()
            f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))

    kinds = [("ember", args.ember_bin), ("redis", args.redis_bin)]
    sync: dict[str, float] = {}
    for kind, binary in kinds:
        primary = Server(kind, binary, args.threads, [])
        try:
            load(primary.port, resp, args.keys)
            runs = [sync_time(primary, args.redis_bin, args.keys) for _ in range(args.repeat)]
        finally:
            primary.stop()
        sync[kind] = statistics.median(runs)
        print(f"{kind}: full sync of {args.keys:,} keys to a redis replica: "
              f"{sync[kind]:.2f} s (runs: {', '.join(f'{r:.2f}' for r in runs)})",
              file=sys.stderr, flush=True)

    pipelines = [int(x) for x in args.pipelines.split(",")]
    tput: dict[tuple[str, bool, int], float] = {}
    for kind, binary in kinds:
        for with_replica in (False, True):
            for pl in pipelines:
                runs = []
                for _ in range(args.repeat):
                    primary = Server(kind, binary, args.threads, [])
                    replica = None
                    try:
                        if with_replica:
                            replica = Server("redis", args.redis_bin, None,
                                             ["--replicaof", f"{HOST} {primary.port}"])
                            while info(replica.port, "master_link_status") != "up":
                                time.sleep(0.05)
                        n = args.requests * (5 if pl > 1 else 1)
                        runs.append(bench(primary.port, pl, n, args.clients))
                    finally:
                        if replica:
                            replica.stop()
                        primary.stop()
                tput[(kind, with_replica, pl)] = statistics.median(runs)
                print(f"{kind} {'with' if with_replica else 'without'} replica -P {pl}: "
                      f"{tput[(kind, with_replica, pl)]:,.0f} SET/s", file=sys.stderr, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n| full sync of {args.keys:,} keys to a redis-server replica | Ember primary | Redis primary | Ember/Redis time |")
    print("|---|---|---|---|")
    print(f"| seconds (median of {args.repeat}) | {sync['ember']:.2f} | {sync['redis']:.2f} | {sync['ember'] / sync['redis']:.2f}x |")
    print("\n| -P | Ember SET/s no replica | Ember with replica | ratio | Redis no replica | Redis with replica | ratio |")
    print("|---|---|---|---|---|---|---|")
    for pl in pipelines:
        e0, e1 = tput[("ember", False, pl)], tput[("ember", True, pl)]
        r0, r1 = tput[("redis", False, pl)], tput[("redis", True, pl)]
        print(f"| {pl} | {e0:,.0f} | {e1:,.0f} | {e1 / e0:.2f}x | {r0:,.0f} | {r1:,.0f} | {r1 / r0:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
