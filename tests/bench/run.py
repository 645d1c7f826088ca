#!/usr/bin/env python3
"""Side-by-side benchmark: Ember vs Redis (redis-benchmark throughput + memory per key).

Stdlib only. See tests/bench/README.md for usage.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # loopback only, always
DEFAULT_TESTS = "set,get,incr,mset"
SERVERS = ("ember", "redis")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- RESP client

class Resp:
    """Tiny blocking RESP2 client, enough for PING/INFO/DBSIZE/FLUSHALL/CONFIG/GET."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("connection closed by server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("connection closed by server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode(errors="replace")
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        # RESP3 types we might get if a server defaults oddly: treat as line
        raise BenchError(f"unexpected RESP reply: {line[:80]!r}")


class RespError(str):
    pass


def info_fields(port: int, section: str) -> dict[str, str]:
    with Resp(port) as c:
        r = c.call("INFO", section)
    if isinstance(r, RespError) or r is None:
        return {}
    if isinstance(r, bytes):
        r = r.decode(errors="replace")
    out = {}
    for line in str(r).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


# --------------------------------------------------------------------------- processes

def free_port(exclude: set[int]) -> int:
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in exclude:
            return port
    raise BenchError("could not find a free loopback port")


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child if this driver dies (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


class Server:
    def __init__(self, name: str, argv: list[str], port: int, workdir: Path):
        self.name, self.argv, self.port, self.workdir = name, argv, port, workdir
        self.proc: subprocess.Popen | None = None
        self.logpath = workdir / f"{name}.log"
        self.logf = None

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logf = open(self.logpath, "ab")
        log(f"[{self.name}] starting: {shlex.join(self.argv)}")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to us; we do the cleanup
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with code {self.proc.returncode} during startup\n"
                    + self.log_tail()
                )
            try:
                with Resp(self.port, timeout=2.0) as c:
                    r = c.call("PING")
                if r == "PONG":
                    log(f"[{self.name}] pid {self.proc.pid} answers PING on {HOST}:{self.port}")
                    return
                last_err = f"PING replied {r!r}"
            except (OSError, BenchError) as e:
                last_err = str(e)
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer PING within {timeout}s ({last_err})\n" + self.log_tail())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = None if self.proc is None else self.proc.returncode
            raise BenchError(f"{self.name} is not running (exit code {code})\n" + self.log_tail())

    def rss_bytes(self) -> int:
        self.check_alive()
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    parts = line.split()
                    return int(parts[1]) * 1024  # kB
        raise BenchError(f"no VmRSS for {self.name}")

    def log_tail(self, n: int = 20) -> str:
        try:
            lines = self.logpath.read_text(errors="replace").splitlines()[-n:]
            return f"--- last lines of {self.logpath} ---\n" + "\n".join(lines)
        except OSError:
            return ""

    def stop(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        if self.logf:
            self.logf.close()
            self.logf = None


# --------------------------------------------------------------------------- build / argv

def build_ember() -> Path:
    cmd = ["cargo", "build", "--release", "--bin", "ember-server"]
    log(f"[build] {shlex.join(cmd)}  (in {REPO_ROOT})")
    r = subprocess.run(cmd, cwd=REPO_ROOT)
    if r.returncode != 0:
        raise BenchError("cargo build failed")
    path = REPO_ROOT / "target" / "release" / "ember-server"
    if not path.exists():
        # respect CARGO_TARGET_DIR if set
        td = os.environ.get("CARGO_TARGET_DIR")
        if td:
            path = Path(td) / "release" / "ember-server"
    if not path.exists():
        raise BenchError(f"built binary not found at {path}")
    return path


def redis_style_argv(binary: str, port: int, workdir: Path) -> list[str]:
    return [binary, "--save", "", "--appendonly", "no", "--port", str(port),
            "--bind", HOST, "--dir", str(workdir)]


def ember_argv(args, binary: str, port: int, workdir: Path) -> list[str]:
    if args.ember_style == "redis":
        argv = redis_style_argv(binary, port, workdir)
    else:
        argv = [binary, "--port", str(port), "--bind", HOST]
        if args.threads is not None:
            argv += ["--threads", str(args.threads)]
    for extra in args.ember_arg:
        argv += shlex.split(extra)
    return argv


# --------------------------------------------------------------------------- redis-benchmark

def run_tool(cmd: list[str], timeout: float, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """Run a client tool with a hard timeout; on timeout, error or Ctrl-C kill and reap it."""
    p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_die_with_parent)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {timeout}s: {shlex.join(cmd)}")
    finally:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


CSV_FIELDS = ["rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
              "p95_latency_ms", "p99_latency_ms", "max_latency_ms"]


def parse_csv(text: str) -> list[dict]:
    rows = []
    for rec in csv.reader(io.StringIO(text)):
        if not rec or rec[0] == "test":
            continue
        if len(rec) < 1 + len(CSV_FIELDS):
            continue
        try:
            vals = [float(x) for x in rec[1:1 + len(CSV_FIELDS)]]
        except ValueError:
            continue
        row = {"test": rec[0]}
        row.update(dict(zip(CSV_FIELDS, vals)))
        rows.append(row)
    return rows


def make_tls_certs(d: Path) -> dict[str, str]:
    """Throw-away CA, server and client certificates (EC P-256) for --tls, made with openssl."""
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*a):
        r = subprocess.run(["openssl", *a], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"openssl {' '.join(a)}: {r.stderr[-300:]}")

    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    ossl("genpkey", *ec, "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=bench CA", "-out", "ca.crt")
    # Extensions make them X.509 v3: rustls (webpki) refuses v1 certificates.
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        ossl("genpkey", *ec, "-out", f"{name}.key")
        ossl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr")
        ext = ["-extfile", f"{name}.ext"]
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", *ext, "-out", f"{name}.crt")
    return {k: str(d / f) for k, f in (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"),
                                        ("client_cert", "client.crt"), ("client_key", "client.key"))}


def tls_server_args(certs: dict[str, str], tls_port: int) -> list[str]:
    return ["--tls-port", str(tls_port), "--tls-cert-file", certs["cert"], "--tls-key-file", certs["key"],
            "--tls-ca-cert-file", certs["ca"]]


def run_benchmark(args, port: int, n: int, pipeline: int, test: str | None,
                  command: list[str] | None) -> list[dict]:
    cmd = ["redis-benchmark", "-h", HOST, "-p", str(port), "-c", str(args.clients),
           "-n", str(n), "-P", str(pipeline), "-r", str(args.random_keys), "--csv"]
    if args.tls_certs:
        c = args.tls_certs
        cmd += ["--tls", "--cacert", c["ca"], "--cert", c["client_cert"], "--key", c["client_key"]]
    if command:
        cmd += command
    else:
        cmd += ["-t", test]
    r = run_tool(cmd, args.bench_timeout)
    rows = parse_csv(r.stdout)
    if r.returncode != 0 or not rows:
        why = next((l.strip() for l in (r.stderr + r.stdout).splitlines() if "rror" in l), "no CSV rows")
        raise BenchError(
            f"redis-benchmark failed (rc={r.returncode}): {why[:200]}\n{shlex.join(cmd)}\n"
            f"stdout: {r.stdout[-800:]}\nstderr: {r.stderr[-800:]}")
    return rows


def parse_extra(spec: str) -> tuple[str, list[str]]:
    """'label=CMD args...' or just 'CMD args...' (label = the command text)."""
    m = re.match(r"^\s*([A-Za-z0-9_.:\-]+)=(.*)$", spec)
    if m and m.group(2).strip():
        label, rest = m.group(1), m.group(2)
    else:
        label, rest = None, spec
    argv = shlex.split(rest)
    if not argv:
        raise BenchError(f"empty --extra command: {spec!r}")
    return (label or " ".join(argv)), argv


def pick(runs: list[dict], how: str) -> dict:
    """Pick one run (its rps and latencies stay together): best or median by rps."""
    s = sorted(runs, key=lambda r: r["rps"])
    if how == "best":
        return s[-1]
    return s[(len(s) - 1) // 2]  # lower median for even counts


def cpu_idle_pct(interval: float = 1.0) -> float:
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]), v[3] + v[4]  # total, idle+iowait
    t1, i1 = snap()
    time.sleep(interval)
    t2, i2 = snap()
    return 100.0 * (i2 - i1) / max(1, t2 - t1)


def wait_idle(args, stats: dict) -> None:
    """With --wait-idle PCT: before a benchmark run, wait (at most --wait-idle-max s) until the
    machine was at least PCT% idle over one second, so a compile next door skews fewer runs."""
    if not args.wait_idle:
        return
    deadline = time.monotonic() + args.wait_idle_max
    while True:
        idle = cpu_idle_pct()
        if idle >= args.wait_idle:
            stats["ok"] = stats.get("ok", 0) + 1
            return
        if time.monotonic() >= deadline:
            stats["gave_up"] = stats.get("gave_up", 0) + 1
            log(f"[idle] machine only {idle:.0f}% idle after {args.wait_idle_max}s; running anyway")
            return


# --------------------------------------------------------------------------- memory

def write_resp_file(path: Path, nkeys: int) -> tuple[int, int]:
    """SET key:%012d v%07d -> 16-byte keys, 8-byte values (a typical small cache entry)."""
    klen, vlen = 16, 8
    head = b"*3\r\n$3\r\nSET\r\n$16\r\n"
    mid = b"\r\n$8\r\n"
    with open(path, "wb") as f:
        step = 100_000
        for start in range(0, nkeys, step):
            end = min(nkeys, start + step)
            f.write(b"".join(
                b"%skey:%012d%sv%07d\r\n" % (head, i, mid, i % 10_000_000)
                for i in range(start, end)))
    return klen, vlen


def mem_snapshot(srv: Server) -> dict:
    used = info_fields(srv.port, "memory").get("used_memory")
    return {"rss": srv.rss_bytes(), "used_memory": int(used) if used and used.isdigit() else None}


def dbsize(port: int):
    with Resp(port) as c:
        return c.call("DBSIZE")


def memory_phase(args, servers: dict[str, Server], workdir: Path) -> dict:
    nkeys = args.keys
    resp_path = workdir / f"load_{nkeys}.resp"
    log(f"[memory] generating RESP for {nkeys} SETs -> {resp_path}")
    t0 = time.monotonic()
    klen, vlen = write_resp_file(resp_path, nkeys)
    log(f"[memory] {resp_path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f}s")
    out = {"keys": nkeys, "key_bytes": klen, "value_bytes": vlen}
    for name in SERVERS:
        srv = servers[name]
        with Resp(srv.port, timeout=60) as c:
            r = c.call("FLUSHALL")
        if r != "OK":
            raise BenchError(f"{name}: FLUSHALL replied {r!r}")
        time.sleep(args.settle)
        before = mem_snapshot(srv)
        log(f"[memory] {name}: before rss={before['rss']} used_memory={before['used_memory']}")
        t0 = time.monotonic()
        with open(resp_path, "rb") as f:
            r = run_tool(["redis-cli", "-h", HOST, "-p", str(srv.port), "--pipe",
                          "--pipe-timeout", "60"], args.bench_timeout, stdin=f)
        load_s = time.monotonic() - t0
        m = re.search(r"errors:\s*(\d+),\s*replies:\s*(\d+)", r.stdout)
        if r.returncode != 0 or not m:
            raise BenchError(f"{name}: redis-cli --pipe failed (rc={r.returncode})\n{r.stdout[-500:]}\n{r.stderr[-500:]}")
        if int(m.group(1)) != 0:
            log(f"[memory] WARNING {name}: redis-cli --pipe reported {m.group(1)} errors")
        deadline = time.monotonic() + 60
        n = None
        while time.monotonic() < deadline:
            n = dbsize(srv.port)
            if n == nkeys:
                break
            time.sleep(0.2)
        if n != nkeys:
            raise BenchError(f"{name}: DBSIZE is {n!r}, expected {nkeys}")
        with Resp(srv.port) as c:
            probe = c.call("GET", "key:%012d" % (nkeys - 1))
        if probe != b"v%07d" % ((nkeys - 1) % 10_000_000):
            log(f"[memory] WARNING {name}: GET of last key returned {probe!r}")
        time.sleep(args.settle)
        after = mem_snapshot(srv)
        log(f"[memory] {name}: loaded in {load_s:.1f}s, after rss={after['rss']} used_memory={after['used_memory']}")
        per = {
            "rss": (after["rss"] - before["rss"]) / nkeys,
            "used_memory": (None if before["used_memory"] is None or after["used_memory"] is None
                            else (after["used_memory"] - before["used_memory"]) / nkeys),
        }
        out[name] = {"before": before, "after": after, "bytes_per_key": per, "load_seconds": load_s}
    return out


# --------------------------------------------------------------------------- reporting

def fmt_rps(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_ms(x):
    return "-" if x is None else f"{x:.3f}"


def fmt_ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def render(settings: dict, throughput: list[dict], memory: dict | None) -> str:
    lines = ["Settings:"]
    for k, v in settings.items():
        lines.append(f"  {k:<22} {v}")
    lines.append("")
    hdr = ["test", "-P", "Ember ops/s", "Redis ops/s", "E/R", "E p50", "R p50", "E p99", "R p99"]
    show_spread = any(len(v) > 1 for t in throughput for v in t.get("runs", {}).values())
    if show_spread:
        hdr.append("spread")
    rows = []
    for t in throughput:
        e, r = t.get("ember"), t.get("redis")
        err = t.get("errors") or {}
        row = [t["test"], str(t["pipeline"]),
               "error" if "ember" in err else fmt_rps(e and e["rps"]),
               "error" if "redis" in err else fmt_rps(r and r["rps"]),
               fmt_ratio(e and e["rps"], r and r["rps"]),
               fmt_ms(e and e["p50_latency_ms"]), fmt_ms(r and r["p50_latency_ms"]),
               fmt_ms(e and e["p99_latency_ms"]), fmt_ms(r and r["p99_latency_ms"])]
        if show_spread:
            # worst (max-min)/median of ops/s over the repeats of either server: a noise gauge
            sp = [(max(x["rps"] for x in v) - min(x["rps"] for x in v)) / statistics.median(x["rps"] for x in v)
                  for v in t.get("runs", {}).values() if len(v) > 1]
            row.append(f"{100 * max(sp):.0f}%" if sp else "-")
        rows.append(row)
    if memory:
        for metric, label in (("rss", "RSS bytes/key"), ("used_memory", "used_memory bytes/key")):
            ev = memory.get("ember", {}).get("bytes_per_key", {}).get(metric)
            rv = memory.get("redis", {}).get("bytes_per_key", {}).get(metric)
            rows.append([f"{label} ({memory['keys']} keys)", "",
                         "-" if ev is None else f"{ev:.1f}", "-" if rv is None else f"{rv:.1f}",
                         fmt_ratio(ev, rv)] + [""] * (len(hdr) - 5))
    widths = [max(len(hdr[i]), *(len(r[i]) for r in rows)) if rows else len(hdr[i])
              for i in range(len(hdr))]
    def line(cells):
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(cells)).rstrip()
    lines.append(line(hdr))
    lines.append(line(["-" * w for w in widths]))
    for r in rows:
        lines.append(line(r))
    lines.append("")
    lines.append("ops/s: higher is better, E/R > 1 means Ember faster. Latencies in ms (redis-benchmark).")
    failed = [(t["test"], t["pipeline"], srv, msg) for t in throughput
              for srv, msg in (t.get("errors") or {}).items()]
    for test, pl, srv, msg in failed:
        lines.append(f"error: {test} -P {pl} on {srv}: {msg}")
    if show_spread:
        lines.append("spread: largest (max-min)/median of ops/s across the repeats of either server "
                     "(machine noise; ratios below it are not significant).")
    if memory:
        lines.append("Memory rows: (after load - after FLUSHALL) / keys; E/R < 1 means Ember smaller.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark ember-server against redis-server side by side (loopback only).")
    p.add_argument("--ember-bin", help="use this binary instead of building target/release/ember-server")
    p.add_argument("--ember-style", choices=["auto", "ember", "redis"], default="auto",
                   help="argument style for --ember-bin; auto = 'redis' if the binary is named redis-server "
                        "(self-test mode: Redis vs Redis), else 'ember'")
    p.add_argument("--ember-arg", action="append", default=[],
                   help="extra argument(s) for ember-server (shell-split; repeatable)")
    p.add_argument("--redis-bin", default="redis-server")
    p.add_argument("--threads", type=int, help="pass --threads N to ember (default: not passed)")
    p.add_argument("--tests", default=DEFAULT_TESTS,
                   help=f"comma-separated redis-benchmark -t tests (default {DEFAULT_TESTS}; '' for none)")
    p.add_argument("--extra", action="append", default=[],
                   help="custom command, 'label=CMD ARGS...', e.g. 'zincrby=ZINCRBY lb 1 __rand_int__' (repeatable)")
    p.add_argument("--requests", type=int, default=None,
                   help="-n for unpipelined runs (default 200000; --quick 20000)")
    p.add_argument("--requests-pipelined", type=int, default=None,
                   help="-n for pipelined runs (default 5x --requests)")
    p.add_argument("--pipelines", default="1,16", help="comma-separated -P values (default 1,16)")
    p.add_argument("--clients", type=int, default=50, help="-c (default 50)")
    p.add_argument("--random-keys", type=int, default=1_000_000, help="-r keyspace (default 1000000)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per test and server, alternating which server goes first (default 3; --quick 1)")
    p.add_argument("--pick", choices=["median", "best"], default="median",
                   help="with --repeat: which run to report, by ops/s (default median)")
    p.add_argument("--keys", type=int, default=None, help="keys for the memory test (default 1000000; --quick 100000)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory test")
    p.add_argument("--no-throughput", action="store_true", help="skip redis-benchmark runs")
    p.add_argument("--no-fresh-memory", dest="fresh_memory", action="store_false",
                   help="measure memory on the servers used for the throughput runs (after FLUSHALL) "
                        "instead of restarting both first; the RSS baseline can then include pages an "
                        "allocator kept from those runs, which understates RSS bytes/key")
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait before memory readings (default 1)")
    p.add_argument("--wait-idle", type=float, default=0, metavar="PCT",
                   help="before each redis-benchmark run wait until the CPUs were PCT%% idle over 1s "
                        "(e.g. 85; default 0 = don't wait), at most --wait-idle-max seconds")
    p.add_argument("--wait-idle-max", type=float, default=30, help="seconds (default 30)")
    p.add_argument("--quick", action="store_true", help="small N and key count, for a smoke run")
    p.add_argument("--bench-timeout", type=int, default=600, help="timeout for one redis-benchmark run, s")
    p.add_argument("--tls", action="store_true",
                   help="benchmark over TLS: both servers also listen on a tls-port with throw-away "
                        "certificates (openssl CLI) and redis-benchmark runs with --tls")
    p.add_argument("--json", help="also write results to this JSON file")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (server logs, RESP file)")
    a = p.parse_args(argv)
    if a.requests is None:
        a.requests = 20_000 if a.quick else 200_000
    if a.requests_pipelined is None:
        a.requests_pipelined = a.requests * 5
    if a.keys is None:
        a.keys = 100_000 if a.quick else 1_000_000
    if a.repeat is None:
        a.repeat = 1 if a.quick else 3
    if a.repeat < 1 or a.keys < 1 or a.requests < 1:
        p.error("--repeat, --keys and --requests must be >= 1")
    try:
        a.pipeline_list = [int(x) for x in a.pipelines.split(",") if x.strip()]
    except ValueError:
        p.error("--pipelines must be comma-separated integers")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    for tool in ("redis-benchmark", "redis-cli", args.redis_bin):
        if shutil.which(tool) is None and not Path(tool).exists():
            log(f"error: {tool} not found on PATH")
            return 2

    if args.ember_bin:
        ember_bin = shutil.which(args.ember_bin) or args.ember_bin
        if not Path(ember_bin).exists():
            log(f"error: --ember-bin {args.ember_bin} not found")
            return 2
    else:
        try:
            ember_bin = str(build_ember())
        except BenchError as e:
            log(f"error: {e}")
            return 2
    if args.ember_style == "auto":
        args.ember_style = "redis" if Path(ember_bin).name.startswith("redis-server") else "ember"
    if args.ember_style == "redis" and args.threads is not None:
        log("note: --threads is ignored in redis-style (self-test) mode")

    jobs = [(t.strip(), t.strip(), None) for t in args.tests.split(",") if t.strip()]
    try:
        jobs += [(label, None, cmd) for label, cmd in (parse_extra(s) for s in args.extra)]
    except (BenchError, ValueError) as e:
        log(f"error: {e}")
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="ember-bench-"))
    args.tls_certs = None
    if args.tls:
        try:
            args.tls_certs = make_tls_certs(tmp / "tls")
        except BenchError as e:
            log(f"error: {e}")
            return 2
    # Run from a private copy so a rebuild during the run (e.g. a restart for the memory test)
    # cannot switch binaries under us.
    ember_src = ember_bin
    ember_built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(Path(ember_bin).stat().st_mtime))
    if args.ember_style == "ember":
        ember_bin = str(tmp / "ember-server")
        shutil.copy2(ember_src, ember_bin)
    servers: dict[str, Server] = {}
    throughput: list[dict] = []
    memory = None
    settings: dict = {}
    interrupted = None
    idle_stats: dict = {}

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old_term = signal.signal(signal.SIGTERM, on_term)
    old_hup = signal.signal(signal.SIGHUP, on_term)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited as ignored

    def start_servers():
        ports: set[int] = set()
        pe = free_port(ports); ports.add(pe)
        pr = free_port(ports)
        servers["ember"] = Server("ember", ember_argv(args, ember_bin, pe, tmp / "ember"), pe, tmp / "ember")
        servers["redis"] = Server("redis", redis_style_argv(args.redis_bin, pr, tmp / "redis"), pr, tmp / "redis")
        for s in servers.values():
            s.bench_port = s.port
            if args.tls_certs:
                ports.add(s.port)
                s.bench_port = free_port(ports)
                ports.add(s.bench_port)
                s.argv += tls_server_args(args.tls_certs, s.bench_port)
        for s in servers.values():
            s.start()

    def stop_servers():
        for s in servers.values():
            s.stop()

    try:
        start_servers()
        rinfo = info_fields(servers["redis"].port, "server")
        ember_threads = "not passed"
        if args.ember_style == "redis":
            ember_threads = "n/a (self-test: ember-bin is redis-server)"
        elif args.threads is not None:
            ember_threads = str(args.threads)
        try:
            with Resp(servers["ember"].port) as c:
                r = c.call("CONFIG", "GET", "threads")
            if isinstance(r, list) and len(r) >= 2 and r[1] is not None:
                ember_threads += f" (CONFIG GET threads = {r[1].decode(errors='replace')})"
            elif args.threads is None and args.ember_style == "ember":
                ember_threads += f" (default: available cores = {os.cpu_count()})"
        except (OSError, BenchError):
            pass
        try:
            cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                              if l.startswith("model name")), "?")
        except OSError:
            cpu_model = "?"
        settings = {
            "ember binary": f"{ember_src} (built {ember_built})"
                            + (" (self-test, redis style args)" if args.ember_style == "redis" else ""),
            "ember threads": ember_threads,
            "redis-server": f"{rinfo.get('redis_version', '?')}",
            "redis-benchmark": f"-c {args.clients} -r {args.random_keys} --csv, "
                               f"-n {args.requests} (-P 1) / {args.requests_pipelined} (-P >1)",
            "pipelines": ",".join(map(str, args.pipeline_list)),
            "transport": "TLS (redis-benchmark --tls, client certificates, EC P-256)" if args.tls else "plain TCP",
            "repeat": f"{args.repeat} (report {args.pick} by ops/s; servers alternate first)",
            "machine": f"nproc={os.cpu_count()}, {cpu_model}, load average at start "
                       + " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "memory test": "skipped" if args.no_memory else
                           f"{args.keys} keys, SET key:%012d v%07d (16-byte keys, 8-byte values) "
                           f"via redis-cli --pipe, " + ("on freshly restarted servers" if args.fresh_memory
                                                       else "after FLUSHALL on the benchmarked servers"),
        }
        try:
            minfo = info_fields(servers["redis"].port, "memory")
            settings["redis-server"] = (f"{rinfo.get('redis_version', '?')} "
                                        f"(mem_allocator={minfo.get('mem_allocator', '?')})")
        except (OSError, BenchError):
            pass
        log("\n".join(f"  {k}: {v}" for k, v in settings.items()))

        if not args.no_throughput:
            order_flip = 0
            if args.wait_idle:
                settings["idle gate"] = (f"each run waited for >= {args.wait_idle:.0f}% idle CPU "
                                         f"(max {args.wait_idle_max:.0f}s)")
            for pipeline in args.pipeline_list:
                n = args.requests if pipeline <= 1 else args.requests_pipelined
                for label, test, cmd in jobs:
                    runs: dict[str, dict[str, list[dict]]] = {}  # csv test name -> server -> runs
                    errors: dict[str, str] = {}  # server -> first failure of this test
                    for rep in range(args.repeat):
                        order = SERVERS if order_flip % 2 == 0 else SERVERS[::-1]
                        order_flip += 1
                        for name in order:
                            servers[name].check_alive()
                            wait_idle(args, idle_stats)
                            t0 = time.monotonic()
                            try:
                                rows = run_benchmark(args, servers[name].bench_port, n, pipeline, test, cmd)
                            except BenchError as e:
                                servers[name].check_alive()  # a crash ends the run
                                errors.setdefault(name, str(e).splitlines()[0])
                                log(f"[bench] -P {pipeline} {label:<14} {name:<5} run {rep + 1}/{args.repeat}: "
                                    f"FAILED (recorded, continuing)\n{e}")
                                continue
                            servers[name].check_alive()
                            for row in rows:
                                key = label if cmd else row["test"]
                                runs.setdefault(key, {}).setdefault(name, []).append(row)
                            log(f"[bench] -P {pipeline} {label:<14} {name:<5} run {rep + 1}/{args.repeat}: "
                                + ", ".join(f"{r['test']} {r['rps']:,.0f} ops/s p50 {r['p50_latency_ms']}"
                                            for r in rows)
                                + f"  ({time.monotonic() - t0:.1f}s)")
                    if errors and not runs:
                        runs[label] = {}
                    for key, per in runs.items():
                        entry = {"test": key, "pipeline": pipeline, "requests": n,
                                 "command": cmd, "runs": per,
                                 "errors": {k: v for k, v in errors.items() if not per.get(k)}}
                        for name in SERVERS:
                            entry[name] = pick(per[name], args.pick) if per.get(name) else None
                        e, r = entry["ember"], entry["redis"]
                        entry["ratio"] = (e["rps"] / r["rps"]) if e and r and r["rps"] else None
                        throughput.append(entry)

        if not args.no_memory:
            if args.fresh_memory and not args.no_throughput:
                log("[memory] restarting both servers")
                stop_servers()
                servers.clear()
                start_servers()
            memory = memory_phase(args, servers, tmp)
    except KeyboardInterrupt as e:
        interrupted = f"interrupted ({str(e) or 'Ctrl-C'})"
    except (BenchError, OSError) as e:
        interrupted = f"error: {e}"
    finally:
        stop_servers()
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGHUP, old_hup)
        signal.signal(signal.SIGINT, old_int)
        for f in tmp.glob("load_*.resp"):
            f.unlink(missing_ok=True)
        if args.keep_tmp or interrupted:
            log(f"[tmp] kept {tmp} (server logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if settings and args.wait_idle and "idle gate" in settings:
        settings["idle gate"] += (f": {idle_stats.get('ok', 0)} runs started idle, "
                                  f"{idle_stats.get('gave_up', 0)} gave up waiting")
    if settings:
        settings["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if settings and (throughput or memory):
        print()
        print(render(settings, throughput, memory))
    if args.json and settings:
        doc = {"settings": settings, "args": {k: v for k, v in vars(args).items()},
               "ember_bin": ember_src, "throughput": throughput, "memory": memory,
               "complete": interrupted is None, "error": interrupted}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"[json] wrote {args.json}")
    if not interrupted and any(t.get("errors") for t in throughput):
        log("some benchmark runs failed (see the error lines under the table)")
        return 1
    if interrupted:
        log(interrupted)
        return 130 if interrupted.startswith("interrupted") else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
