#!/usr/bin/env python3
"""Issue-4 benchmark suite: WebAssembly scripts and the bundled wasm modules.

Runs ember-server and redis-server side by side with run.py's machinery (servers, RESP client,
redis-benchmark runner, idle gate, median of repeats) and prints markdown tables:

1. scripts, Ember (wasm) vs Redis (Lua), same redis-benchmark client: the token bucket of
   examples/wasm/token_bucket as EVALSHA, plus an empty script, one host call and ten host calls
   (tests/bench/wasm/*.wat against their Lua twins) and PING as the baseline;
2. the per-call cost in µs derived from those rows;
3. bundled modules against a native command of similar work on the same Ember server:
   BF.ADD vs SADD, BF.EXISTS vs SISMEMBER, CL.THROTTLE vs INCR.

Stdlib only. See tests/bench/README.md ("wasm suite").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (run.py beside this file: one driver, one style)
from run import BenchError, Resp, RespError, log  # noqa: E402

REPO_ROOT = bench.REPO_ROOT
HERE = Path(__file__).resolve().parent
GUESTS = REPO_ROOT / "target" / "guests" / "wasm32-unknown-unknown" / "release"
TOKEN_BUCKET_WASM = GUESTS / "token_bucket.wasm"
TOKEN_BUCKET_LUA = REPO_ROOT / "examples" / "wasm" / "token_bucket" / "token_bucket.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# name -> (Ember body file, Lua body for Redis). The Lua twins do the same work: no reply (nil),
# and the same number of PINGs.
SCRIPTS = {
    "token_bucket": (TOKEN_BUCKET_WASM, None),  # Lua body read from TOKEN_BUCKET_LUA
    "empty": (HERE / "wasm" / "empty.wat", "return nil"),
    "one_call": (HERE / "wasm" / "one_call.wat", "redis.call('PING')"),
    "ten_calls": (HERE / "wasm" / "ten_calls.wat", "for i = 1, 10 do redis.call('PING') end"),
    # The same Lua bodies on both servers: Ember's Lua engine (Lua 5.1 in wasm) vs Redis's Lua.
    "lua_token_bucket": (None, None),
    "lua_empty": (None, "return nil"),
    "lua_one_call": (None, "redis.call('PING')"),
    "lua_ten_calls": (None, "for i = 1, 10 do redis.call('PING') end"),
}

# Token bucket arguments: capacity 100, 10 tokens/s, take 1; -r 1000 spreads the buckets.
TB_ARGS = ["100", "10", "1"]
TB_KEYS = 1000
# What the token bucket runs per call, as plain commands (values like the script's).
NATIVE_TB = [
    ("hset", ["HSET", "nb:__rand_int__", "tokens", "42.5", "ts", "1765000000000"]),
    ("hmget", ["HMGET", "nb:__rand_int__", "tokens", "ts"]),
    ("pexpire", ["PEXPIRE", "nb:__rand_int__", "10000"]),
]
# The Bloom filter the BF rows use is reserved for the whole -r keyspace (1% error), so it never
# scales; "bf.add scaling" rows use a filter created by BF.ADD with RedisBloom's defaults
# (capacity 100, expansion 2), which grows a stack of sub-filters as items arrive.
BF_RESERVE = ["BF.RESERVE", "bf", "0.01", "1000000"]


# --------------------------------------------------------------------------- measuring

def cpu_ticks(srv: bench.Server) -> int:
    """utime + stime of the whole process (all threads), in clock ticks."""
    srv.check_alive()
    with open(f"/proc/{srv.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after "pid (comm)"


def one_run(args, srv: bench.Server, n: int, pipeline: int, argv: list[str], rkeys: int,
            idle_stats: dict) -> dict:
    """One redis-benchmark run of a custom command; adds the server's CPU µs per op."""
    bench.wait_idle(args, idle_stats)
    a = argparse.Namespace(**vars(args))
    a.random_keys = rkeys
    c0 = cpu_ticks(srv)
    t0 = time.monotonic()
    rows = bench.run_benchmark(a, srv.port, n, pipeline, None, argv)
    wall = time.monotonic() - t0
    c1 = cpu_ticks(srv)
    row = dict(rows[0])
    row["server_cpu_us_per_op"] = (c1 - c0) / CLK_TCK * 1e6 / n
    row["wall_s"] = wall
    return row


def spread(runs: list[dict]) -> float | None:
    if len(runs) < 2:
        return None
    med = statistics.median(r["rps"] for r in runs)
    return (max(r["rps"] for r in runs) - min(r["rps"] for r in runs)) / med if med else None


# --------------------------------------------------------------------------- setup

def load_scripts(servers: dict[str, bench.Server]) -> dict[str, dict[str, str]]:
    """SCRIPT LOAD every script on both servers; returns name -> server -> sha."""
    shas: dict[str, dict[str, str]] = {}
    lua_tb = TOKEN_BUCKET_LUA.read_text()
    for name, (path, lua) in SCRIPTS.items():
        if path is not None and not path.exists():
            raise BenchError(f"{path} not found (cargo build --release -p ember builds the guests)")
        lua_body = (lua_tb if lua is None else lua).encode()
        bodies = {"ember": lua_body if path is None else path.read_bytes(), "redis": lua_body}
        for srv in ("ember", "redis"):
            with Resp(servers[srv].port) as c:
                r = c.call("SCRIPT", "LOAD", bodies[srv])
            if not isinstance(r, bytes):
                raise BenchError(f"{srv}: SCRIPT LOAD {name} replied {r!r}")
            shas.setdefault(name, {})[srv] = r.decode()
    return shas


def check_scripts(servers: dict[str, bench.Server], shas: dict) -> None:
    """One call of each script on each server: both must give the same reply."""
    for name, per in shas.items():
        replies = {}
        for srv, sha in per.items():
            with Resp(servers[srv].port) as c:
                if name in ("token_bucket", "lua_token_bucket"):
                    r = c.call("EVALSHA", sha, 1, "bench:probe", *TB_ARGS)
                    c.call("DEL", "bench:probe")
                else:
                    r = c.call("EVALSHA", sha, 0)
            if isinstance(r, RespError):
                raise BenchError(f"{srv}: EVALSHA {name} failed: {r}")
            replies[srv] = r
        if replies["ember"] != replies["redis"]:
            raise BenchError(f"EVALSHA {name}: Ember replied {replies['ember']!r}, "
                             f"Redis {replies['redis']!r}")
        log(f"[setup] {name}: ember {per['ember'][:12]}.. redis {per['redis'][:12]}.. -> {replies['ember']!r}")


def probe(port: int, *argv) -> str | None:
    """None when the command works, else its error text."""
    with Resp(port) as c:
        r = c.call(*argv)
    return str(r) if isinstance(r, RespError) else None


# --------------------------------------------------------------------------- jobs

def side_jobs(shas: dict) -> list[dict]:
    """Same work on both servers; argv per server (the SHAs differ)."""
    def ev(name, *rest):
        return {s: ["EVALSHA", shas[name][s], *rest] for s in ("ember", "redis")}
    return [
        {"test": "ping", "argv": {"ember": ["PING"], "redis": ["PING"]}, "r": 1000},
        {"test": "token_bucket", "argv": ev("token_bucket", "1", "bucket:__rand_int__", *TB_ARGS),
         "r": TB_KEYS},
        {"test": "empty script", "argv": ev("empty", "0"), "r": 1000},
        {"test": "1 host call", "argv": ev("one_call", "0"), "r": 1000},
        {"test": "10 host calls", "argv": ev("ten_calls", "0"), "r": 1000},
        {"test": "lua token_bucket", "argv": ev("lua_token_bucket", "1", "bucket:__rand_int__", *TB_ARGS),
         "r": TB_KEYS},
        {"test": "lua empty script", "argv": ev("lua_empty", "0"), "r": 1000},
        {"test": "lua 1 host call", "argv": ev("lua_one_call", "0"), "r": 1000},
        {"test": "lua 10 host calls", "argv": ev("lua_ten_calls", "0"), "r": 1000},
        # The token bucket's three commands issued natively (issue 17 item 2): the script's
        # cost beyond them is t(token_bucket) - the sum of these. Own keys (nb:), so the
        # buckets stay the scripts'. HSET first: HMGET and PEXPIRE then find the hashes.
        *({"test": f"native {name}", "argv": {"ember": argv, "redis": argv}, "r": TB_KEYS}
          for name, argv in NATIVE_TB),
    ]


def ember_pairs(bf_scaling: bool) -> list[dict]:
    """Module command vs a native reference, both on Ember. Order matters: the ADD rows fill the
    set and the filter that the EXISTS rows then query (so lookups hit and miss alike).

    "count": a sanity check after the rows ran: both sides drew as many random items from the
    same keyspace, so BF.CARD (items the filter took as new) must be close to SCARD; it falls
    short only by the adds the filter wrongly took for present (a fraction of its error rate)."""
    pairs = [
        {"test": "bf.add", "argv": ["BF.ADD", "bf", "__rand_int__"],
         "ref": "sadd", "ref_argv": ["SADD", "s", "__rand_int__"], "needs": "bloom",
         "count": (("BF.CARD", "bf"), ("SCARD", "s"), 0.005)},
        {"test": "bf.exists", "argv": ["BF.EXISTS", "bf", "__rand_int__"],
         "ref": "sismember", "ref_argv": ["SISMEMBER", "s", "__rand_int__"], "needs": "bloom"},
    ]
    if bf_scaling:
        pairs += [
            {"test": "bf.add scaling", "argv": ["BF.ADD", "bfs", "__rand_int__"],
             "ref": "sadd", "ref_argv": ["SADD", "s2", "__rand_int__"], "needs": "bloom",
             "count": (("BF.CARD", "bfs"), ("SCARD", "s2"), 0.03)},
            {"test": "bf.exists scaling", "argv": ["BF.EXISTS", "bfs", "__rand_int__"],
             "ref": "sismember", "ref_argv": ["SISMEMBER", "s2", "__rand_int__"], "needs": "bloom"},
        ]
    pairs.append({"test": "cl.throttle", "argv": ["CL.THROTTLE", "user:__rand_int__", "100", "1000", "60"],
                  "ref": "incr", "ref_argv": ["INCR", "ctr:__rand_int__"], "needs": "ratelimit"})
    return pairs


# --------------------------------------------------------------------------- reporting

def md_table(hdr: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(hdr[i]), *(len(r[i]) for r in rows)) if rows else len(hdr[i])
              for i in range(len(hdr))]
    def line(cells):
        return "| " + " | ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                 for i, c in enumerate(cells)) + " |"
    out = [line(hdr), "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                                      for i, w in enumerate(widths)) + "|"]
    out += [line(r) for r in rows]
    return out


def fmt_us(x):
    return "-" if x is None else f"{x:.2f}"


def pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def derive_costs(side: list[dict], pipeline: int) -> dict:
    """µs per call from one pipeline depth's rows, per server and per measure (wall, cpu).

    wall: 1e6 / ops/s (the whole machine's time per request at that throughput);
    cpu:  server CPU time per request (utime+stime of all its threads / requests).
    empty script = t(empty) - t(PING); 1 host call = t(1 call) - t(empty);
    marginal host call = (t(10 calls) - t(1 call)) / 9."""
    rows = {t["test"]: t for t in side if t["pipeline"] == pipeline}
    out = {}
    for srv in ("ember", "redis"):
        for measure in ("wall", "cpu"):
            def t(name):
                r = rows.get(name, {}).get(srv)
                if not r:
                    return None
                return 1e6 / r["rps"] if measure == "wall" else r["server_cpu_us_per_op"]
            ping = t("ping")
            costs = {"ping": ping}
            for prefix in ("", "lua "):
                empty, one, ten = (t(prefix + "empty script"), t(prefix + "1 host call"),
                                   t(prefix + "10 host calls"))
                costs[prefix + "empty script"] = None if None in (empty, ping) else empty - ping
                costs[prefix + "1 host call"] = None if None in (one, empty) else one - empty
                costs[prefix + "marginal host call"] = None if None in (ten, one) else (ten - one) / 9
                costs[prefix + "token_bucket"] = t(prefix + "token_bucket")
                natives = [t(f"native {name}") for name, _ in NATIVE_TB]
                tb = costs[prefix + "token_bucket"]
                costs[prefix + "tb beyond its commands"] = (
                    None if tb is None or None in natives else tb - sum(natives))
            costs["native tb commands"] = None if None in natives else sum(natives)
            out[(srv, measure)] = costs
    return out


def render(settings: dict, side: list[dict], pairs: list[dict], pipelines: list[int]) -> str:
    lines = ["Settings:"]
    lines += [f"  {k:<22} {v}" for k, v in settings.items()]
    if side:
        lines += ["", "### Scripts: Ember (wasm, and Lua in wasm for the lua rows) vs Redis (Lua), EVALSHA", ""]
        hdr = ["test", "-P", "Ember ops/s", "Redis ops/s", "E/R", "E p50", "R p50", "E p99", "R p99",
               "E cpu µs/op", "R cpu µs/op", "spread"]
        rows = []
        for t in side:
            e, r = t.get("ember"), t.get("redis")
            err = t.get("errors") or {}
            sp = [s for s in (spread(v) for v in t["runs"].values()) if s is not None]
            rows.append([t["test"], str(t["pipeline"]),
                         "error" if "ember" in err else bench.fmt_rps(e and e["rps"]),
                         "error" if "redis" in err else bench.fmt_rps(r and r["rps"]),
                         bench.fmt_ratio(e and e["rps"], r and r["rps"]),
                         bench.fmt_ms(e and e["p50_latency_ms"]), bench.fmt_ms(r and r["p50_latency_ms"]),
                         bench.fmt_ms(e and e["p99_latency_ms"]), bench.fmt_ms(r and r["p99_latency_ms"]),
                         fmt_us(e and e["server_cpu_us_per_op"]), fmt_us(r and r["server_cpu_us_per_op"]),
                         pct(max(sp)) if sp else "-"])
        lines += md_table(hdr, rows)
        lines += ["", "### Cost per call, µs (derived from the rows above)", ""]
        hdr = ["cost", "-P", "Ember wall", "Redis wall", "Ember cpu", "Redis cpu"]
        rows = []
        # Unpipelined, every request waits a loopback round trip (~10 µs here) that dwarfs
        # these differences: the costs come from the pipelined rows when there are any.
        for p in [p for p in pipelines if p > 1] or pipelines:
            c = derive_costs(side, p)
            for what, label in (("ping", "PING (baseline)"), ("empty script", "empty script call"),
                                ("1 host call", "one host call"),
                                ("marginal host call", "one more host call (10-1)/9"),
                                ("token_bucket", "token_bucket EVALSHA, whole call"),
                                ("native tb commands", "HMGET + HSET + PEXPIRE, native, summed"),
                                ("tb beyond its commands", "token_bucket beyond its 3 commands"),
                                ("lua empty script", "Lua: empty script call"),
                                ("lua 1 host call", "Lua: one host call"),
                                ("lua marginal host call", "Lua: one more host call (10-1)/9"),
                                ("lua token_bucket", "Lua: token_bucket EVALSHA, whole call"),
                                ("lua tb beyond its commands", "Lua: token_bucket beyond its 3 commands")):
                rows.append([label, str(p)] + [fmt_us(c[(s, m)][what]) for m in ("wall", "cpu")
                                               for s in ("ember", "redis")])
        lines += md_table(hdr, rows)
    if pairs:
        lines += ["", "### Bundled modules vs native commands, both on Ember", ""]
        hdr = ["test", "-P", "ops/s", "reference", "ref ops/s", "ratio", "p50", "ref p50", "p99",
               "ref p99", "cpu µs/op", "ref cpu µs/op", "spread"]
        rows = []
        for t in pairs:
            m, r = t.get("mod"), t.get("ref")
            err = t.get("errors") or {}
            sp = [s for s in (spread(v) for v in t["runs"].values()) if s is not None]
            rows.append([t["test"], str(t["pipeline"]),
                         "error" if "mod" in err else bench.fmt_rps(m and m["rps"]),
                         t["ref_name"],
                         "error" if "ref" in err else bench.fmt_rps(r and r["rps"]),
                         bench.fmt_ratio(m and m["rps"], r and r["rps"]),
                         bench.fmt_ms(m and m["p50_latency_ms"]), bench.fmt_ms(r and r["p50_latency_ms"]),
                         bench.fmt_ms(m and m["p99_latency_ms"]), bench.fmt_ms(r and r["p99_latency_ms"]),
                         fmt_us(m and m["server_cpu_us_per_op"]), fmt_us(r and r["server_cpu_us_per_op"]),
                         pct(max(sp)) if sp else "-"])
        lines += md_table(hdr, rows)
        # Issue 17 item 2: what a module command costs beyond a native command of similar work.
        rows = []
        for t in pairs:
            m, r = t.get("mod"), t.get("ref")
            if m and r and t["pipeline"] > 1:
                rows.append([f"{t['test']} beyond {t['ref_name']}", str(t["pipeline"]),
                             fmt_us(m["server_cpu_us_per_op"] - r["server_cpu_us_per_op"])])
        if rows:
            lines += ["", "### Module command cost beyond its native reference, server cpu µs/op", ""]
            lines += md_table(["cost", "-P", "cpu µs"], rows)
    lines += [
        "",
        "Method: every row is redis-benchmark -c C -n N -P p -r R --csv with one custom command; "
        "the median of the repeats by ops/s is shown (its latencies with it); spread = "
        "(max-min)/median ops/s of the noisier side, ratios inside it are noise.",
        "cpu µs/op = the server's own CPU time (utime+stime, all threads, /proc/PID/stat) "
        "during the run / N; on a 2-core box the client competes for the CPUs, so it is the "
        "steadier measure of what a call costs the server.",
        "Cost rows (pipelined runs only: unpipelined, the round trip hides them): wall = 1e6/ops/s. empty script call = t(EVALSHA empty) - t(PING); one host "
        "call = t(1 call) - t(empty); one more host call = (t(10 calls) - t(1 call)) / 9. The "
        "scripts call PING and reply nothing (nil); the Lua twins do the same.",
    ]
    errs = [(t["test"], t["pipeline"], s, msg) for t in side + pairs
            for s, msg in (t.get("errors") or {}).items()]
    lines += [f"error: {test} -P {p} on {s}: {msg}" for test, p, s, msg in errs]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Issue-4 wasm suite: Ember wasm scripts vs Redis Lua, "
                                            "bundled modules vs native commands (loopback only).")
    p.add_argument("--ember-bin", help="use this binary instead of building target/release/ember-server")
    p.add_argument("--ember-arg", action="append", default=[],
                   help="extra argument(s) for ember-server (shell-split; repeatable)")
    p.add_argument("--redis-bin", default="redis-server")
    p.add_argument("--threads", type=int, help="pass --threads N to ember (default: not passed)")
    p.add_argument("--parts", default="scripts,modules",
                   help="comma-separated: scripts (Ember vs Redis), modules (BF/CL vs native)")
    p.add_argument("--tests", default=None,
                   help="comma-separated script rows to run (e.g. 'ping,lua token_bucket'; default: all)")
    p.add_argument("--no-bf-scaling", dest="bf_scaling", action="store_false",
                   help="skip the rows with an auto-scaling (not reserved) Bloom filter")
    p.add_argument("--requests", type=int, default=None, help="-n unpipelined (default 200000; --quick 20000)")
    p.add_argument("--requests-pipelined", type=int, default=None, help="-n pipelined (default 5x --requests)")
    p.add_argument("--pipelines", default="1,16", help="comma-separated -P values (default 1,16)")
    p.add_argument("--clients", type=int, default=50, help="-c (default 50)")
    p.add_argument("--random-keys", type=int, default=1_000_000,
                   help="-r for the module rows (default 1000000; token_bucket uses 1000 buckets)")
    p.add_argument("--repeat", type=int, default=None, help="runs per row and server (default 3; --quick 1)")
    p.add_argument("--pick", choices=["median", "best"], default="median")
    p.add_argument("--wait-idle", type=float, default=0, metavar="PCT",
                   help="wait before each run until the CPUs were PCT%% idle over 1s (see run.py)")
    p.add_argument("--wait-idle-max", type=float, default=30)
    p.add_argument("--quick", action="store_true", help="small N, one repeat: a smoke run")
    p.add_argument("--bench-timeout", type=int, default=600)
    p.add_argument("--json", help="also write everything (every run) to this JSON file")
    p.add_argument("--keep-tmp", action="store_true")
    a = p.parse_args(argv)
    if a.requests is None:
        a.requests = 20_000 if a.quick else 200_000
    if a.requests_pipelined is None:
        a.requests_pipelined = a.requests * 5
    if a.repeat is None:
        a.repeat = 1 if a.quick else 3
    a.pipeline_list = [int(x) for x in a.pipelines.split(",") if x.strip()]
    a.part_set = {x.strip() for x in a.parts.split(",") if x.strip()}
    if not a.part_set <= {"scripts", "modules"}:
        p.error("--parts takes scripts and/or modules")
    a.ember_style = "ember"
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("redis-benchmark", "redis-cli", args.redis_bin):
        if shutil.which(tool) is None and not Path(tool).exists():
            log(f"error: {tool} not found on PATH")
            return 2
    try:
        ember_src = shutil.which(args.ember_bin) or args.ember_bin if args.ember_bin else str(bench.build_ember())
    except BenchError as e:
        log(f"error: {e}")
        return 2
    if not Path(ember_src).exists():
        log(f"error: {ember_src} not found")
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="ember-bench-wasm-"))
    ember_bin = str(tmp / "ember-server")
    shutil.copy2(ember_src, ember_bin)  # a rebuild during the run cannot switch binaries under us
    ember_built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(Path(ember_src).stat().st_mtime))
    servers: dict[str, bench.Server] = {}
    side: list[dict] = []
    pairs: list[dict] = []
    settings: dict = {}
    checks: list[str] = []  # failed sanity checks, printed under the tables
    interrupted = None
    idle_stats: dict = {}

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        pe = bench.free_port(set())
        pr = bench.free_port({pe})
        servers["ember"] = bench.Server("ember", bench.ember_argv(args, ember_bin, pe, tmp / "ember"), pe, tmp / "ember")
        servers["redis"] = bench.Server("redis", bench.redis_style_argv(args.redis_bin, pr, tmp / "redis"), pr, tmp / "redis")
        for s in servers.values():
            s.start()
        with Resp(pe) as c:
            r = c.call("CONFIG", "GET", "threads")
        threads = r[1].decode() if isinstance(r, list) and len(r) >= 2 and r[1] else "?"
        rinfo = bench.info_fields(pr, "server")
        try:
            cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                              if l.startswith("model name")), "?")
        except OSError:
            cpu_model = "?"
        settings = {
            "command": "python3 tests/bench/wasm.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "ember binary": f"{ember_src} (built {ember_built})",
            "ember threads": f"{args.threads if args.threads is not None else 'not passed'} "
                             f"(CONFIG GET threads = {threads})",
            "redis-server": rinfo.get("redis_version", "?"),
            "redis-benchmark": f"-c {args.clients} --csv, -n {args.requests} (-P 1) / "
                               f"{args.requests_pipelined} (-P >1); -r {TB_KEYS} token_bucket, "
                               f"{args.random_keys} module rows",
            "repeat": f"{args.repeat} (report {args.pick} by ops/s; order alternates)",
            "machine": f"nproc={os.cpu_count()}, {cpu_model}, load average at start "
                       + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }
        log("\n".join(f"  {k}: {v}" for k, v in settings.items()))
        if args.wait_idle:
            settings["idle gate"] = f"each run waited for >= {args.wait_idle:.0f}% idle CPU (max {args.wait_idle_max:.0f}s)"

        flip = 0
        if "scripts" in args.part_set:
            shas = load_scripts(servers)
            check_scripts(servers, shas)
            settings["scripts"] = ", ".join(f"{k} {v['ember'][:10]}../{v['redis'][:10]}.."
                                            for k, v in shas.items())
            for pipeline in args.pipeline_list:
                n = args.requests if pipeline <= 1 else args.requests_pipelined
                wanted = None if args.tests is None else {t.strip() for t in args.tests.split(",")}
                for job in [j for j in side_jobs(shas) if wanted is None or j["test"] in wanted]:
                    runs: dict[str, list[dict]] = {}
                    errors: dict[str, str] = {}
                    for rep in range(args.repeat):
                        order = bench.SERVERS if flip % 2 == 0 else bench.SERVERS[::-1]
                        flip += 1
                        for name in order:
                            try:
                                row = one_run(args, servers[name], n, pipeline, job["argv"][name], job["r"], idle_stats)
                            except BenchError as e:
                                servers[name].check_alive()  # a crash ends the run
                                errors.setdefault(name, str(e).splitlines()[0])
                                log(f"[bench] -P {pipeline} {job['test']} {name}: FAILED\n{e}")
                                continue
                            runs.setdefault(name, []).append(row)
                            log(f"[bench] -P {pipeline} {job['test']:<14} {name:<5} run {rep + 1}/{args.repeat}: "
                                f"{row['rps']:,.0f} ops/s p50 {row['p50_latency_ms']} "
                                f"cpu {row['server_cpu_us_per_op']:.2f} µs/op ({row['wall_s']:.1f}s)")
                    entry = {"test": job["test"], "pipeline": pipeline, "requests": n, "random_keys": job["r"],
                             "argv": job["argv"], "runs": runs,
                             "errors": {k: v for k, v in errors.items() if not runs.get(k)}}
                    for name in bench.SERVERS:
                        entry[name] = bench.pick(runs[name], args.pick) if runs.get(name) else None
                    side.append(entry)

        if "modules" in args.part_set:
            eport = servers["ember"].port
            missing = {}
            err = probe(eport, *BF_RESERVE)
            if err:
                missing["bloom"] = f"{shlex.join(BF_RESERVE)}: {err}"
            err = probe(eport, "CL.THROTTLE", "bench:probe", "100", "1000", "60")
            if err:
                missing["ratelimit"] = f"CL.THROTTLE: {err}"
            with Resp(eport) as c:
                c.call("DEL", "bench:probe")
            for k, v in missing.items():
                log(f"[setup] {k} unavailable, its rows are skipped: {v}")
                settings[f"{k} rows"] = f"skipped: {v}"
            if "bloom" not in missing:
                settings["bloom filter"] = (f"'bf' made with {shlex.join(BF_RESERVE)}; 'bfs' (scaling rows) "
                                            f"by its first BF.ADD (capacity 100, expansion 2)")
            for pipeline in args.pipeline_list:
                n = args.requests if pipeline <= 1 else args.requests_pipelined
                for job in ember_pairs(args.bf_scaling):
                    if job["needs"] in missing:
                        continue
                    runs = {}
                    errors = {}
                    for rep in range(args.repeat):
                        order = ("mod", "ref") if flip % 2 == 0 else ("ref", "mod")
                        flip += 1
                        for side_name in order:
                            argv_ = job["argv"] if side_name == "mod" else job["ref_argv"]
                            label = job["test"] if side_name == "mod" else job["ref"]
                            try:
                                row = one_run(args, servers["ember"], n, pipeline, argv_, args.random_keys, idle_stats)
                            except BenchError as e:
                                servers["ember"].check_alive()
                                errors.setdefault(side_name, str(e).splitlines()[0])
                                log(f"[bench] -P {pipeline} {label} ember: FAILED\n{e}")
                                continue
                            runs.setdefault(side_name, []).append(row)
                            log(f"[bench] -P {pipeline} {label:<18} ember run {rep + 1}/{args.repeat}: "
                                f"{row['rps']:,.0f} ops/s p50 {row['p50_latency_ms']} "
                                f"cpu {row['server_cpu_us_per_op']:.2f} µs/op ({row['wall_s']:.1f}s)")
                    entry = {"test": job["test"], "ref_name": job["ref"], "pipeline": pipeline, "requests": n,
                             "argv": job["argv"], "ref_argv": job["ref_argv"], "runs": runs,
                             "errors": {k: v for k, v in errors.items() if not runs.get(k)}}
                    for k in ("mod", "ref"):
                        entry[k] = bench.pick(runs[k], args.pick) if runs.get(k) else None
                    if job.get("count"):
                        mine, theirs, tolerance = job["count"]
                        with Resp(eport) as c:
                            a, b = c.call(*mine), c.call(*theirs)
                        entry["count"] = {" ".join(mine): a, " ".join(theirs): b}
                        if not (isinstance(a, int) and isinstance(b, int) and b > 0
                                and abs(a - b) <= tolerance * b):
                            msg = (f"after -P {pipeline} {job['test']}: {' '.join(mine)} = {a!r} but "
                                   f"{' '.join(theirs)} = {b!r} for as many random adds (tolerance "
                                   f"{tolerance:.1%})")
                            checks.append(msg)
                            log(f"[check] WARNING {msg}")
                    pairs.append(entry)
            if "bloom" not in missing:
                with Resp(eport) as c:
                    settings["bloom filter"] += "; at the end: " + ", ".join(
                        f"{k} BF.CARD {c.call('BF.CARD', k)!r}" for k in ("bf", "bfs") if args.bf_scaling or k == "bf")
                    settings["bloom filter"] += f", SCARD s {c.call('SCARD', 's')!r}"
    except KeyboardInterrupt as e:
        interrupted = f"interrupted ({str(e) or 'Ctrl-C'})"
    except (BenchError, OSError) as e:
        interrupted = f"error: {e}"
    finally:
        for s in servers.values():
            s.stop()
        for s, h in old.items():
            signal.signal(s, h)
        signal.signal(signal.SIGINT, old_int)
        if args.keep_tmp or interrupted:
            log(f"[tmp] kept {tmp} (server logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if settings:
        settings["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        if args.wait_idle:
            settings["idle gate"] += (f": {idle_stats.get('ok', 0)} runs started idle, "
                                      f"{idle_stats.get('gave_up', 0)} gave up waiting")
    if side or pairs:
        print()
        print(render(settings, side, pairs, args.pipeline_list))
        for msg in checks:
            print(f"check failed: {msg}")
    if args.json and settings:
        doc = {"settings": settings, "args": vars(args), "scripts": side, "modules": pairs,
               "costs": {str(p): {f"{s}/{m}": v for (s, m), v in derive_costs(side, p).items()}
                         for p in args.pipeline_list} if side else None,
               "checks_failed": checks, "complete": interrupted is None, "error": interrupted}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"[json] wrote {args.json}")
    if interrupted:
        log(interrupted)
        return 130 if interrupted.startswith("interrupted") else 1
    if any(t.get("errors") for t in side + pairs) or checks:
        log("some benchmark runs or checks failed (see the lines under the tables)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
