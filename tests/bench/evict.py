#!/usr/bin/env python3
"""Issue-12 eviction benchmark: Ember vs redis-server 7.0 side by side in one run.

1. Hit rate under a limit: the same zipfian (skewed, exponent --zipf) cache-aside trace is
   replayed against both servers for allkeys-lru and allkeys-lfu: GET a key; on a miss, SET it
   (a cache filling itself), plus --write-pct plain SETs. maxmemory is set per server to
   used_memory at rest + --fraction of that server's own data-set size (measured by loading the
   whole key space first), so both hold about the same share of the keys. The trace is sent in
   pipelined batches of --batch commands (the misses of a batch are filled with the next batch).
   Reported: hit rate after a warm-up of --warmup of the trace, ops/s of the replay (client-bound:
   one Python client), peak overshoot of used_memory over maxmemory (INFO sampled every 20 ms
   by a second connection) and evicted_keys.
2. Throughput while evicting: `redis-benchmark -t set -r 10000000 -d 100 -P 16 -c 50` with
   maxmemory set as above (every SET evicts), ops/s for each server and the peak overshoot.
3. Bytes per key for small collections: --collections hashes, sets and sorted sets of 10
   elements each (used_memory and RSS deltas / key), for both servers.

Stdlib only; reuses run.py's servers, RESP client and build.

    python3 tests/bench/evict.py [--ember-bin PATH] [--keys 200000] [--ops 600000]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402
from run import BenchError, Resp, RespError, log  # noqa: E402

HOST = bench.HOST
SERVERS = ("ember", "redis")


def used_memory(port: int) -> int:
    return int(bench.info_fields(port, "memory")["used_memory"])


def stat(port: int, name: str) -> int:
    return int(bench.info_fields(port, "stats").get(name, "0"))


def zipf_trace(n_keys: int, n_ops: int, s: float, seed: int) -> list[int]:
    """Key indexes drawn from a zipf(s) over n_keys, ranks shuffled so hot keys are spread."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) ** s for i in range(n_keys)]
    ranks = list(range(n_keys))
    rng.shuffle(ranks)
    picks = rng.choices(range(n_keys), weights=weights, k=n_ops)
    return [ranks[p] for p in picks]


def send_batch(c: Resp, cmds: list[list[bytes]]) -> list:
    out = []
    for args in cmds:
        out.append(b"*%d\r\n" % len(args))
        for a in args:
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    c.sock.sendall(b"".join(out))
    return [c._read() for _ in cmds]


def fill_all(port: int, n_keys: int, value: bytes) -> None:
    with Resp(port, timeout=60) as c:
        for start in range(0, n_keys, 2000):
            send_batch(c, [[b"SET", b"key:%d" % i, value] for i in range(start, min(n_keys, start + 2000))])


class Sampler(threading.Thread):
    """Samples used_memory every 20 ms; keeps the peak."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.peak, self.stop_flag = port, 0, threading.Event()

    def run(self) -> None:
        with Resp(self.port) as c:
            while not self.stop_flag.is_set():
                r = c.call("INFO", "memory")
                text = r.decode() if isinstance(r, bytes) else str(r)
                m = re.search(r"used_memory:(\d+)", text)
                if m:
                    self.peak = max(self.peak, int(m.group(1)))
                time.sleep(0.02)

    def stop(self) -> int:
        self.stop_flag.set()
        self.join(timeout=5)
        return self.peak


def limit_for(port: int, n_keys: int, value: bytes, fraction: float) -> tuple[int, int]:
    """(maxmemory, data-set bytes): rest + fraction of this server's full-key-space data set."""
    with Resp(port, timeout=60) as c:
        c.call("CONFIG", "SET", "maxmemory", "0")
        c.call("FLUSHALL")
    time.sleep(0.3)
    rest = used_memory(port)
    fill_all(port, n_keys, value)
    data = used_memory(port) - rest
    with Resp(port, timeout=60) as c:
        c.call("FLUSHALL")
    time.sleep(0.3)
    rest = used_memory(port)
    return rest + int(data * fraction), data


def replay(port: int, trace: list[int], args, value: bytes) -> dict:
    rng = random.Random(args.seed + 1)
    gets = hits = 0
    warm = int(len(trace) * args.warmup)
    sampler = Sampler(port)
    sampler.start()
    t0 = time.monotonic()
    pending_fill: list[list[bytes]] = []
    with Resp(port, timeout=60) as c:
        for start in range(0, len(trace), args.batch):
            chunk = trace[start:start + args.batch]
            cmds = pending_fill
            kinds = [None] * len(cmds)
            pending_fill = []
            for k in chunk:
                key = b"key:%d" % k
                if rng.random() * 100 < args.write_pct:
                    cmds.append([b"SET", key, value])
                    kinds.append(None)
                else:
                    cmds.append([b"GET", key])
                    kinds.append(key)
            replies = send_batch(c, cmds)
            for i, (kind, r) in enumerate(zip(kinds, replies)):
                if isinstance(r, RespError):
                    raise BenchError(f"port {port}: {r}")
                if kind is None:
                    continue
                counted = start + i - (len(cmds) - len(chunk)) >= warm
                if counted:
                    gets += 1
                if r is None:
                    pending_fill.append([b"SET", kind, value])
                elif counted:
                    hits += 1
    elapsed = time.monotonic() - t0
    peak = sampler.stop()
    return {"hit_rate": hits / gets if gets else 0.0, "ops_s": len(trace) / elapsed, "peak": peak}


def run_benchmark_set(port: int, args) -> float:
    r = bench.run_tool(["redis-benchmark", "-h", HOST, "-p", str(port), "-c", "50", "-n",
                        str(args.bench_requests), "-P", "16", "-r", "10000000", "-d", "100",
                        "-t", "set", "--csv"], 600)
    rows = bench.parse_csv(r.stdout)
    if not rows:
        raise BenchError(f"redis-benchmark gave no CSV:\n{r.stdout[-400:]}\n{r.stderr[-400:]}")
    return float(rows[0]["rps"])


def collections_phase(srv, n: int) -> dict:
    port = srv.port
    out = {}
    for kind, make in (
        ("hash", lambda i: [b"HSET", b"h:%d" % i] + sum(([b"f%d" % j, b"v%d" % j] for j in range(10)), [])),
        ("set", lambda i: [b"SADD", b"s:%d" % i] + [b"member:%d" % j for j in range(10)]),
        ("zset", lambda i: [b"ZADD", b"z:%d" % i] + sum(([b"%d" % j, b"member:%d" % j] for j in range(10)), [])),
    ):
        with Resp(port, timeout=60) as c:
            c.call("FLUSHALL")
        time.sleep(0.3)
        before_used, before_rss = used_memory(port), srv.rss_bytes()
        with Resp(port, timeout=60) as c:
            for start in range(0, n, 1000):
                send_batch(c, [make(i) for i in range(start, min(n, start + 1000))])
        time.sleep(0.3)
        out[kind] = ((used_memory(port) - before_used) / n, (srv.rss_bytes() - before_rss) / n)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ember-bin")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--keys", type=int, default=200_000)
    p.add_argument("--ops", type=int, default=600_000)
    p.add_argument("--zipf", type=float, default=0.99)
    p.add_argument("--fraction", type=float, default=0.3)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--write-pct", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--warmup", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--bench-requests", type=int, default=1_000_000)
    p.add_argument("--collections", type=int, default=50_000)
    p.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    args = p.parse_args(argv)
    args.ember_style, args.ember_arg = "ember", []

    binary = Path(args.ember_bin) if args.ember_bin else bench.build_ember()
    workdir = Path(tempfile.mkdtemp(prefix="ember-evict-"))
    ports: set[int] = set()
    servers = {}
    for name in SERVERS:
        port = bench.free_port(ports)
        ports.add(port)
        wd = workdir / name
        argv = (bench.ember_argv(args, str(binary), port, wd) if name == "ember"
                else bench.redis_style_argv("redis-server", port, wd))
        servers[name] = bench.Server(name, argv, port, wd)
    value = b"v" * args.value_size
    try:
        for s in servers.values():
            s.start()
        log(f"[trace] zipf({args.zipf}) over {args.keys} keys, {args.ops} ops")
        trace = zipf_trace(args.keys, args.ops, args.zipf, args.seed)
        rows = []
        limits = {}
        for name, s in servers.items():
            limits[name] = limit_for(s.port, args.keys, value, args.fraction)
            log(f"[{name}] data set {limits[name][1]} B, maxmemory {limits[name][0]}")
        for policy in args.policies.split(","):
            row = {"policy": policy}
            for name, s in servers.items():
                with Resp(s.port, timeout=60) as c:
                    c.call("CONFIG", "SET", "maxmemory", "0")
                    c.call("FLUSHALL")
                    c.call("CONFIG", "RESETSTAT")
                    c.call("CONFIG", "SET", "maxmemory-policy", policy)
                    c.call("CONFIG", "SET", "maxmemory", str(limits[name][0]))
                r = replay(s.port, trace, args, value)
                r["overshoot"] = max(0, r["peak"] - limits[name][0])
                r["evicted"] = stat(s.port, "evicted_keys")
                row[name] = r
                log(f"[{name}] {policy}: {r}")
            rows.append(row)
        tput = {}
        for name, s in servers.items():
            with Resp(s.port, timeout=60) as c:
                c.call("CONFIG", "SET", "maxmemory", "0")
                c.call("FLUSHALL")
                c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
                c.call("CONFIG", "SET", "maxmemory", str(limits[name][0]))
            sampler = Sampler(s.port)
            sampler.start()
            rps = run_benchmark_set(s.port, args)
            peak = sampler.stop()
            tput[name] = {"rps": rps, "overshoot": max(0, peak - limits[name][0]),
                          "evicted": stat(s.port, "evicted_keys")}
            log(f"[{name}] SET while evicting: {tput[name]}")
        coll = {}
        for name, s in servers.items():
            with Resp(s.port, timeout=60) as c:
                c.call("CONFIG", "SET", "maxmemory", "0")
            coll[name] = collections_phase(s, args.collections)
            log(f"[{name}] collections: {coll[name]}")
    finally:
        for s in servers.values():
            s.stop()

    print()
    print(f"keys={args.keys} ops={args.ops} zipf={args.zipf} fraction={args.fraction} "
          f"value={args.value_size}B write%={args.write_pct} batch={args.batch}")
    print(f"maxmemory: ember {limits['ember'][0]} (data {limits['ember'][1]}), "
          f"redis {limits['redis'][0]} (data {limits['redis'][1]})")
    print("| policy | hit rate ember | hit rate redis | ops/s ember | ops/s redis | peak overshoot ember | peak overshoot redis | evicted ember | evicted redis |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        e, d = r["ember"], r["redis"]
        print(f"| {r['policy']} | {e['hit_rate']:.4f} | {d['hit_rate']:.4f} | {e['ops_s']:,.0f} | {d['ops_s']:,.0f} "
              f"| {e['overshoot']:,} | {d['overshoot']:,} | {e['evicted']:,} | {d['evicted']:,} |")
    e, d = tput["ember"], tput["redis"]
    print(f"| SET -P16 -c50 while evicting (allkeys-lru) | | | {e['rps']:,.0f} | {d['rps']:,.0f} "
          f"| {e['overshoot']:,} | {d['overshoot']:,} | {e['evicted']:,} | {d['evicted']:,} |")
    print()
    print(f"| bytes per key, {args.collections} keys of 10 elements | used_memory ember | used_memory redis | ratio | RSS ember | RSS redis | ratio |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("hash", "set", "zset"):
        (a, ar), (b, br) = coll["ember"][kind], coll["redis"][kind]
        print(f"| {kind} | {a:.0f} | {b:.0f} | {a / b:.2f} | {ar:.0f} | {br:.0f} | {ar / br:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
