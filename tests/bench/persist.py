#!/usr/bin/env python3
"""Issue-11 snapshot benchmark: Ember vs redis-server 7.0 side by side in one run.

For each data set (1M small keys as run.py's memory phase writes them; a mixed set of hashes,
sorted sets and streams) and each server:

- SAVE time (client-side wall time of the SAVE command) and file size;
- load time at start (the server's own "DB loaded from disk: X seconds" log line, plus the wall
  time from spawn to the first PONG);
- SET latency (redis-benchmark p50/p99, -c 50, keys drawn from the loaded keyspace so writes hit
  keys the snapshot has not visited yet) without a BGSAVE and while BGSAVEs run back to back;
- extra memory during those BGSAVEs: peak VmRSS above the level before, and the server's own
  copy-on-write figure (Ember: the snapshot's pre-image bytes, rdb_last_cow_size; Redis: the
  forked child's private dirty pages, same field), both as % of the data set (used_memory after
  the load minus before).

Stdlib only; reuses run.py's servers, RESP client and redis-benchmark runner.

    python3 tests/bench/persist.py [--ember-bin PATH] [--keys 1000000] [--sets small,mixed]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402
from run import BenchError, Resp, RespError, log  # noqa: E402

HOST = bench.HOST


def write_mixed(path: Path, n: int) -> None:
    """n/50 hashes of 20 fields, n/50 sorted sets of 20 members, n/200 streams of 20 entries."""
    def cmd(*args) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    with open(path, "wb") as f:
        for i in range(n // 50):
            args = ["HSET", f"hash:{i:08d}"]
            for j in range(20):
                args += [f"field{j}", f"value-{i}-{j}"]
            f.write(cmd(*args))
            args = ["ZADD", f"zset:{i:08d}"]
            for j in range(20):
                args += [str(j * 1.5 + i), f"member-{j}"]
            f.write(cmd(*args))
        for i in range(n // 200):
            for j in range(20):
                f.write(cmd("XADD", f"stream:{i:08d}", f"{j + 1}-0", "f", str(j), "g", "x" * 10))


def pipe_load(port: int, path: Path) -> None:
    with open(path, "rb") as f:
        r = bench.run_tool(["redis-cli", "-h", HOST, "-p", str(port), "--pipe"], 600, stdin=f)
    if r.returncode != 0:
        raise BenchError(f"redis-cli --pipe failed: {r.stderr[-400:]} {r.stdout[-400:]}")


def used_memory(port: int) -> int:
    return int(bench.info_fields(port, "memory").get("used_memory", "0"))


def wait_bgsave(port: int) -> None:
    while bench.info_fields(port, "persistence").get("rdb_bgsave_in_progress") == "1":
        time.sleep(0.01)


def load_seconds(logpath: Path, after: int) -> float | None:
    text = logpath.read_text(errors="replace")[after:]
    m = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", text)
    return float(m[-1]) if m else None


def start(name: str, binary: str, workdir: Path, style: str) -> bench.Server:
    port = bench.free_port(set())
    argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--dir", str(workdir)]
    if style == "redis":
        argv += ["--appendonly", "no"]
    srv = bench.Server(name, argv, port, workdir)
    srv.start(timeout=300)
    return srv


def set_latency(args, port: int) -> dict:
    a = argparse.Namespace(**vars(args))
    a.random_keys = args.keys
    rows = bench.run_benchmark(a, port, args.set_requests, 1, "set", None)
    return rows[0]


def measure_server(args, name: str, binary: str, style: str, dataset: str, resp: Path,
                   root: Path) -> dict:
    workdir = root / f"{name}-{dataset}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    out: dict = {}
    srv = start(name, binary, workdir, style)
    try:
        base = used_memory(srv.port)
        pipe_load(srv.port, resp)
        with Resp(srv.port) as c:
            out["keys"] = c.call("DBSIZE")
        out["data_bytes"] = used_memory(srv.port) - base
        with Resp(srv.port, timeout=600) as c:
            t0 = time.monotonic()
            r = c.call("SAVE")
            out["save_s"] = time.monotonic() - t0
        if r != "OK":
            raise BenchError(f"{name} SAVE: {r}")
        out["file_bytes"] = (workdir / "dump.rdb").stat().st_size
        if dataset == "small" and not args.no_latency:
            out["set_plain"] = set_latency(args, srv.port)
            # BGSAVEs back to back while redis-benchmark writes; sample RSS meanwhile.
            rss0 = srv.rss_bytes()
            peak = [rss0]
            stop = threading.Event()
            saves = [0]
            cow = [0]

            def saver():
                while not stop.is_set():
                    with Resp(srv.port) as c:
                        r = c.call("BGSAVE")
                    if isinstance(r, RespError):
                        time.sleep(0.005)
                        continue
                    saves[0] += 1
                    while not stop.is_set():
                        f = bench.info_fields(srv.port, "persistence")
                        if f.get("rdb_bgsave_in_progress") != "1":
                            cow[0] = max(cow[0], int(f.get("rdb_last_cow_size", "0")))
                            break
                        peak[0] = max(peak[0], srv.rss_bytes() + child_rss(srv))
                        time.sleep(0.01)

            t = threading.Thread(target=saver, daemon=True)
            t.start()
            time.sleep(0.05)
            out["set_bgsave"] = set_latency(args, srv.port)
            stop.set()
            t.join()
            wait_bgsave(srv.port)
            f = bench.info_fields(srv.port, "persistence")
            cow[0] = max(cow[0], int(f.get("rdb_last_cow_size", "0")))
            out["bgsaves"] = saves[0]
            out["rss_extra"] = peak[0] - rss0
            out["cow"] = cow[0]
    finally:
        srv.stop()
    # Load at start, from the file SAVE wrote.
    logpos = srv.logpath.stat().st_size if srv.logpath.exists() else 0
    t0 = time.monotonic()
    srv2 = start(name, binary, workdir, style)
    out["start_to_pong_s"] = time.monotonic() - t0
    try:
        with Resp(srv2.port) as c:
            n = c.call("DBSIZE")
        if n != out["keys"]:
            raise BenchError(f"{name} loaded {n} keys, saved {out['keys']}")
    finally:
        srv2.stop()
    out["load_s"] = load_seconds(srv2.logpath, logpos)
    return out


def child_rss(srv: bench.Server) -> int:
    """RSS of a forked child (Redis's BGSAVE), 0 if none; Ember never forks."""
    total = 0
    try:
        kids = Path(f"/proc/{srv.proc.pid}/task/{srv.proc.pid}/children").read_text().split()
    except OSError:
        return 0
    for pid in kids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def fmt(x, unit="", nd=3):
    if x is None:
        return "n/a"
    return f"{x:.{nd}f}{unit}"


def render(results: dict) -> str:
    lines = ["| data set | metric | Ember | Redis | Ember/Redis |", "|---|---|---|---|---|"]
    for ds, per in results.items():
        e, r = per["ember"], per["redis"]

        def row(metric, ev, rv, unit="", nd=3, ratio=True):
            rat = f"{ev / rv:.2f}" if ratio and ev and rv else ""
            lines.append(f"| {ds} | {metric} | {fmt(ev, unit, nd)} | {fmt(rv, unit, nd)} | {rat} |")

        lines.append(f"| {ds} | keys | {e['keys']} | {r['keys']} | |")
        row("data set (used_memory)", e["data_bytes"] / 1e6, r["data_bytes"] / 1e6, " MB", 1)
        row("SAVE", e["save_s"], r["save_s"], " s")
        row("file size", e["file_bytes"] / 1e6, r["file_bytes"] / 1e6, " MB", 1)
        row("load (server log)", e["load_s"], r["load_s"], " s")
        row("start to PONG", e["start_to_pong_s"], r["start_to_pong_s"], " s")
        if "set_plain" in e:
            for label, key in (("SET p50, no BGSAVE", "set_plain"), ("SET p50, during BGSAVEs", "set_bgsave")):
                row(label, e[key]["p50_latency_ms"], r[key]["p50_latency_ms"], " ms")
            for label, key in (("SET p99, no BGSAVE", "set_plain"), ("SET p99, during BGSAVEs", "set_bgsave")):
                row(label, e[key]["p99_latency_ms"], r[key]["p99_latency_ms"], " ms")
            for label, key in (("SET ops/s, no BGSAVE", "set_plain"), ("SET ops/s, during BGSAVEs", "set_bgsave")):
                row(label, e[key]["rps"], r[key]["rps"], "", 0)
            lines.append(f"| {ds} | BGSAVEs during the run | {e['bgsaves']} | {r['bgsaves']} | |")
            for label, key in (("peak extra RSS (incl. fork child)", "rss_extra"), ("copy-on-write (rdb_last_cow_size)", "cow")):
                ev, rv = e[key], r[key]
                lines.append(
                    f"| {ds} | {label} | {ev / 1e6:.1f} MB ({100 * ev / e['data_bytes']:.1f}%) | "
                    f"{rv / 1e6:.1f} MB ({100 * rv / r['data_bytes']:.1f}%) | |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ember-bin")
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--sets", default="small,mixed")
    p.add_argument("--set-requests", type=int, default=300_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--bench-timeout", type=float, default=600)
    p.add_argument("--no-latency", action="store_true")
    args = p.parse_args()
    ember = str(Path(args.ember_bin).resolve()) if args.ember_bin else str(bench.build_ember())
    redis = shutil.which("redis-server")
    if not redis:
        raise BenchError("redis-server not on PATH")
    root = Path(tempfile.mkdtemp(prefix="ember-persist-bench-"))
    results: dict = {}
    try:
        for ds in [s for s in args.sets.split(",") if s]:
            resp = root / f"{ds}.resp"
            if ds == "small":
                bench.write_resp_file(resp, args.keys)
            elif ds == "mixed":
                write_mixed(resp, args.keys)
            else:
                raise BenchError(f"unknown data set {ds}")
            results[ds] = {}
            # Alternate who goes first so neither always gets the warm page cache.
            order = [("ember", ember, "ember"), ("redis", redis, "redis")]
            if len(results) % 2 == 0:
                order.reverse()
            for name, binary, style in order:
                log(f"[{ds}] {name}")
                results[ds][name] = measure_server(args, name, binary, style, ds, resp, root)
        load = subprocess.run(["cat", "/proc/loadavg"], capture_output=True, text=True).stdout.strip()
        print(f"\nkeys={args.keys} set-requests={args.set_requests} clients={args.clients} "
              f"nproc={subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} "
              f"loadavg={load}\n")
        print(render(results))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
