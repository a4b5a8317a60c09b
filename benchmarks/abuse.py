"""Abuse run of the HTTP API (issue 23): schemathesis with every check, and the hand-made attacks of the issue.

Every scenario starts its own ``embspace serve`` process (uvicorn, one worker) on 127.0.0.1 at a free port,
over a data directory in a temporary directory, and measures while it runs:

- the requests this script sent and their status codes (5xx other than ``503 busy`` count as failures;
  ``503 busy`` with ``Retry-After`` is the designed answer of a server that has as much work as it takes);
- the server process's peak resident memory, sampled every ~20 ms (psutil);
- the longest ``GET /health`` answer, from a separate process that polls it every ~20 ms on a keep-alive
  connection (the event loop must answer it while slow work runs: <= 100 ms);
- the scenario's own correctness checks (search answers equal exact brute force over what the table holds, the
  right refusals, ...).

Acceptance per scenario (the issue's): no 5xx but 503 busy, no crash, longest /health stall <= 100 ms, peak
server RSS <= 2 GB, and every correctness check holding. A scenario that fails is run once more (``--retries``)
to tell the machine's noise from a defect; both attempts are reported.

Schemathesis runs its CLI (``schemathesis run --checks all``) against the live server's ``/openapi.json``, once
on a server without a key and once on one with a key, over a small world (a space, a recommender, text and
vector collections, a tiny text encoder built from a config). ``positive_data_acceptance`` is excluded: it wants
every schema-valid request accepted, and a valid body may name an unknown key or encoder (404/422), as
``tests/serve/test_schemathesis.py`` says.

The text encoder of the encode scenarios is a tiny 2-layer BERT built from a config (no download: the machine
has no internet); it reads 32 tokens, so each text is cut to 1,024 characters before tokenising.

Only 127.0.0.1 is ever contacted.

Usage::

    python benchmarks/abuse.py            # the issue's scales (about half an hour on 2 cores)
    python benchmarks/abuse.py --quick    # small scales, a couple of minutes
    python benchmarks/abuse.py --only factory,filters --no-markdown
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _report import busy_sentence, cpu_snapshot, other_cpu, publish_section, say, version, write_json  # noqa: E402

SECTION = "## Abuse (issue 23)"
KEY = "abuse-benchmark-key-0123456789abcdef"
GB = 1024**3
STALL_LIMIT_MS = 100.0
RSS_LIMIT = 2 * GB


# ------------------------------------------------------------------------------------------------ scales
@dataclass(frozen=True)
class Scale:
    dedup_n: int = 10_000
    adds_n: int = 300_000
    adds_dim: int = 32
    adds_batch: int = 5_000
    filter_keys: tuple[int, int] = (60_000, 90_000)
    encode_texts: int = 500
    encode_chars: int = 100_000
    encode_threads: int = 8
    restore_n: int = 20_000
    restore_vanished: int = 2_000
    restore_new: int = 500
    race_base: int = 20_000
    race_batches: int = 100
    paged_n: int = 5_000
    paged_scans: int = 50
    delete_rounds: int = 3
    delete_n: int = 20_000
    get_repeats: tuple[int, ...] = (1_000, 10_000)
    schemathesis_examples: int = 50


FULL = Scale()
QUICK = Scale(dedup_n=1_000, adds_n=20_000, adds_batch=5_000, filter_keys=(6_000, 9_000), encode_texts=50,
              encode_threads=6, restore_n=2_000, restore_vanished=200, restore_new=100, race_base=2_000,
              race_batches=10, paged_n=1_000, paged_scans=10, delete_rounds=1, delete_n=2_000,
              get_repeats=(1_000,), schemathesis_examples=5)


# ------------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env() -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": src + (os.pathsep + path if path else "")}


class Server:
    """``embspace serve`` in its own process on 127.0.0.1."""

    def __init__(self, data: Path, *, paths: tuple[Path, ...] = (), key: str | None = None, readonly: bool = False,
                 encoder: Path | None = None, log: Path | None = None) -> None:
        self.port = free_port()
        self.key = key
        cmd = [sys.executable, "-m", "embspace.cli.app", "serve", *map(str, paths), "--port", str(self.port),
               "--data-dir", str(data), "--log-level", "warning"]
        if key:
            cmd += ["--api-key", key]
        if readonly:
            cmd.append("--readonly")
        if encoder is not None:
            cmd += ["--encoder", str(encoder)]
        self.log = log or data.parent / f"server-{self.port}.log"
        self._log = self.log.open("wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=server_env(), stdout=self._log, stderr=subprocess.STDOUT)
        self.startup_s = self.wait_ready()

    def wait_ready(self, timeout: float = 300.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}): {self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/health", headers=self.auth())
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.monotonic() - self.t0
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start in {timeout:.0f} s: {self.tail()}")

    def auth(self) -> dict[str, str]:
        return {"X-API-Key": self.key} if self.key else {}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 2000) -> str:
        self._log.flush()
        try:
            return self.log.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Client:
    """HTTP/1.1 keep-alive requests to one server, a connection per thread; counts every status."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.examples: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=600)
        return conn

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                headers: dict[str, str] | None = None, auth: bool = True) -> tuple[int, bytes, dict[str, str]]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {**(self.server.auth() if auth else {})}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                out = resp.status, payload, {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    conn.close()
                    self._local.conn = None
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._local.conn = None
                if attempt:
                    with self._lock:
                        self.errors[type(e).__name__] += 1
                    return 0, b"", {}
        with self._lock:
            self.statuses[out[0]] += 1
            if out[0] >= 500 and out[0] != 503 and len(self.examples) < 5:
                self.examples.append(f"{method} {path} -> {out[0]}: {out[1][:300]!r}")
        return out

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        status, payload, _ = self.request(method, path, body, **kw)
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload


POLLER = r"""
import json, select, socket, sys, time
port, host = int(sys.argv[1]), sys.argv[2]
req = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{host}\r\n".encode()
lat, bad = [], 0
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=600)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
s = connect()
while True:
    t0 = time.perf_counter()
    try:
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        while len(rest) < n:
            rest += s.recv(65536)
        if head[9:12] != b"200":
            bad += 1
    except OSError:
        bad += 1
        s.close()
        try:
            s = connect()
        except OSError:
            pass
    lat.append(time.perf_counter() - t0)
    if select.select([sys.stdin], [], [], 0.02)[0]:
        break
lat.sort()
print(json.dumps({"polls": len(lat), "bad": bad, "max_ms": 1000 * lat[-1] if lat else None,
                  "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else None}))
"""


class Probe:
    """While a scenario runs: the server's peak RSS (every ~20 ms) and a /health poller in its own process."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        auth = f"X-API-Key: {server.key}\r\n" if server.key else ""
        self._poller = subprocess.Popen([sys.executable, "-c", POLLER, str(server.port), auth],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._thread.start()
        self.health: dict[str, Any] = {}

    def _sample(self) -> None:
        import psutil

        proc = psutil.Process(self.server.proc.pid)
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, proc.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        out, _ = self._poller.communicate(b"x", timeout=700)
        try:
            self.health = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.health = {"polls": 0, "bad": 0, "max_ms": None}


# ------------------------------------------------------------------------------------------------ helpers
#: An idle server polled alongside each scenario: its longest /health is the machine's own noise (other
#: processes, the scheduler) at that time, to compare the scenario's with.
CONTROL: list[Server] = []


@dataclass
class Run:
    """One scenario's figures and checks."""

    name: str
    what: str
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    servers: list[tuple[Server, Client, Probe]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    stall_applies: bool = True

    def check(self, name: str, ok: bool, note: str = "") -> bool:
        self.checks[name] = self.checks.get(name, True) and bool(ok)
        if not ok:
            self.notes.append(f"FAILED {name}" + (f": {note}" if note else ""))
        return bool(ok)

    @contextmanager
    def serve(self, data: Path, *, warmup: tuple[str, Callable[[Client], None]] | None = None,
              **kw: Any) -> Iterator[tuple[Server, Client]]:
        """A server over ``data``, probed while the block runs. ``warmup``: (what, fn) run first under a probe
        of its own, reported apart (a one-off such as the first load of a model) and not judged."""
        server = Server(data, **kw)
        client = Client(server)
        if warmup is not None:
            first = Probe(server)
            t0 = time.perf_counter()
            warmup[1](client)
            first.stop()
            stall = first.health.get("max_ms") or 0.0
            self.figures["warmup"] = {"what": warmup[0], "seconds": time.perf_counter() - t0, "stall_ms": stall,
                                      "peak_rss_mb": first.peak / 2**20}
            self.notes.append(f"not judged: {warmup[0]} took {time.perf_counter() - t0:.1f} s, /health stalled "
                              f"{stall:.0f} ms, RSS {first.peak / 2**20:.0f} MiB")
        probe = Probe(server)
        control = Probe(CONTROL[0]) if CONTROL else None
        self.servers.append((server, client, probe))
        try:
            yield server, client
        finally:
            probe.stop()
            if control is not None:
                control.stop()
                self.figures["control_stall_ms"] = max(self.figures.get("control_stall_ms", 0.0),
                                                       control.health.get("max_ms") or 0.0)
            self.check("server alive", server.alive(), server.tail(600))
            server.stop()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Measure one step of the scenario on its own (its longest /health, the idle server's at the same
        time, the peak RSS), to tell which step stalls; the scenario's own probe keeps running."""
        server = self.servers[-1][0]
        probe = Probe(server)
        control = Probe(CONTROL[0]) if CONTROL else None
        t0 = time.perf_counter()
        try:
            yield
        finally:
            probe.stop()
            if control is not None:
                control.stop()
            self.figures.setdefault("phases", []).append({
                "phase": name, "seconds": round(time.perf_counter() - t0, 2),
                "stall_ms": probe.health.get("max_ms"), "peak_rss_mb": round(probe.peak / 2**20),
                "control_stall_ms": control.health.get("max_ms") if control else None})

    def phase_notes(self) -> None:
        for p in self.figures.get("phases", []):
            self.notes.append(f"{p['phase']}: {p['seconds']:.1f} s, /health {_ms(p['stall_ms'])} (idle server's "
                              f"{_ms(p['control_stall_ms'])})")

    def result(self) -> dict[str, Any]:
        self.phase_notes()
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        examples: list[str] = []
        for _, c, _ in self.servers:
            statuses.update(c.statuses)
            errors.update(c.errors)
            examples += c.examples
        polls = [p.health for _, _, p in self.servers]
        stall = max((h.get("max_ms") or 0.0 for h in polls), default=0.0)
        peak = max((p.peak for _, _, p in self.servers), default=0)
        five = sum(n for s, n in statuses.items() if s >= 500 and s != 503)
        busy = statuses.get(503, 0)
        self.check("no 5xx", five == 0, "; ".join(examples))
        self.check("no broken connection", not errors, str(dict(errors)))
        self.check("/health always 200", all(not h.get("bad") for h in polls), str(polls))
        if self.stall_applies:
            self.check(f"/health stall <= {STALL_LIMIT_MS:.0f} ms", stall <= STALL_LIMIT_MS, f"{stall:.0f} ms")
        self.check("peak RSS <= 2 GB", peak <= RSS_LIMIT, f"{peak / GB:.2f} GB")
        return {"name": self.name, "what": self.what, "requests": sum(statuses.values()) + sum(errors.values()),
                "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors_5xx": five, "busy_503": busy,
                "connection_errors": dict(errors), "peak_rss_mb": peak / 2**20, "health_stall_ms": stall,
                "health_polls": sum(h.get("polls") or 0 for h in polls),
                "control_stall_ms": self.figures.get("control_stall_ms"),
                "startup_s": [round(s.startup_s, 2) for s, _, _ in self.servers],
                "checks": self.checks, "passed": all(self.checks.values()), "notes": self.notes,
                "figures": self.figures}


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.normal(size=(n, dim)).astype(np.float32)


def items_body(keys: list[str], vecs: np.ndarray, meta: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    vl = np.round(vecs.astype(np.float64), 6).tolist()
    return {"items": [{"key": k, "vector": v, **({"metadata": meta[i]} if meta else {})}
                      for i, (k, v) in enumerate(zip(keys, vl, strict=True))]}


def add_all(client: Client, name: str, keys: list[str], vecs: np.ndarray, meta: list[dict[str, Any]] | None = None,
            batch: int = 5_000, route: str = "add") -> bool:
    ok = True
    for s in range(0, len(keys), batch):
        status, _, _ = client.request("POST", f"/collections/{name}/{route}",
                                      items_body(keys[s:s + batch], vecs[s:s + batch],
                                                 meta[s:s + batch] if meta else None))
        ok &= status == 200
    return ok


def exact_top(keys: list[str], vecs: np.ndarray, queries: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
    """The exact cosine top-k: what a freshly built exact index answers."""
    sims = unit(queries.astype(np.float64)) @ unit(vecs.astype(np.float64)).T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return [[keys[j] for j in row] for row in top], np.take_along_axis(sims, top, axis=1)


def same_hits(got: list[dict[str, Any]], keys: list[str], scores: np.ndarray, tol: float = 1e-4) -> bool:
    """The hits are the expected ones: the same keys in the same order, or, where scores tie within ``tol``
    (float rounding of the JSON vectors and of float32 sums), the same scores."""
    if [h["key"] for h in got] == keys:
        return True
    return len(got) == len(keys) and bool(np.allclose([h["score"] for h in got], scores, atol=tol))


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def encoder_dir(root: Path) -> Path:
    """A tiny sentence-transformers model built from a config (tests/encoders/text_testing.py)."""
    sys.path.insert(0, str(ROOT / "tests" / "encoders"))
    from text_testing import build_st

    return build_st(root / "tiny-encoder")


def create(client: Client, run: Run, name: str, dim: int, index: str = "auto") -> None:
    status, body = client.json("POST", "/collections", {"name": name, "dim": dim, "index": index})
    run.check(f"create {name}", status == 201, str(body)[:300])


# ------------------------------------------------------------------------------------------------ scenarios
def sc_factory(tmp: Path, sc: Scale, run: Run) -> None:
    with run.serve(tmp / "data") as (_, c):
        for index in ("IVF100000000,Flat", "HNSW999999999", "IVF1048577,Flat", "PQ1000x64", "OPQ64_100000,IVF10,PQ8"):
            status, body = c.json("POST", "/collections", {"name": "f", "dim": 64, "index": index})
            run.check(f"{index} refused (4xx)", 400 <= status < 500, f"{status} {str(body)[:200]}")
            run.notes.append(f"{index}: {status} {(body or {}).get('error', {}).get('message', '')[:120]}")
        status, _ = c.json("GET", "/collections/f")
        run.check("nothing created", status == 404)
        status, _ = c.json("POST", "/collections", {"name": "ok", "dim": 64, "index": "HNSW32"})
        run.check("a sane factory is created", status == 201)


def sc_dedup(tmp: Path, sc: Scale, run: Run) -> None:
    rng = np.random.default_rng(2)
    n, dim = sc.dedup_n, 128
    base = rng.normal(size=dim).astype(np.float32)
    vecs = base + 0.001 * rows(rng, n, dim)  # every pair is a duplicate: the n**2 worst case
    with run.serve(tmp / "data") as (_, c):
        create(c, run, "dups", dim)
        with run.phase(f"adds ({n:,} x {dim} in batches of 2,000)"):
            run.check("added", add_all(c, "dups", [f"d{i}" for i in range(n)], vecs, batch=2_000))
        t0 = time.perf_counter()
        with run.phase("dedup"):
            status, body = c.json("POST", "/collections/dups/dedup", {"threshold": 0.95})
        run.figures["dedup_s"] = time.perf_counter() - t0
        run.check("dedup answered", status == 200, str(body)[:200])
        if status == 200:
            groups = body["groups"]
            run.check("one group of every item", len(groups) == 1 and len(groups[0]) == n,
                      f"{len(groups)} groups, largest {max(map(len, groups), default=0)}")
        run.notes.append(f"{n:,} near-identical items ({n * (n - 1) // 2:,} pairs), dedup "
                         f"{run.figures['dedup_s']:.1f} s")


def sc_adds_then_search(tmp: Path, sc: Scale, run: Run) -> None:
    rng = np.random.default_rng(3)
    n, dim = sc.adds_n, sc.adds_dim
    vecs = rows(rng, n, dim)
    keys = [f"a{i}" for i in range(n)]
    with run.serve(tmp / "data") as (_, c):
        create(c, run, "big", dim)
        t0 = time.perf_counter()
        with run.phase(f"adds (batches of {sc.adds_batch:,})"):
            run.check("added", add_all(c, "big", keys, vecs, batch=sc.adds_batch))
        run.figures["adds_s"] = time.perf_counter() - t0
        queries = rows(rng, 20, dim)
        t0 = time.perf_counter()
        with run.phase("first search"):
            status, body = c.json("POST", "/collections/big/search", {"vector": queries[0].tolist(), "k": 10})
        run.figures["first_search_s"] = time.perf_counter() - t0
        run.check("first search answered", status == 200, str(body)[:200])
        exp, _ = exact_top(keys, vecs, queries, 10)
        recall = []
        for q, e in zip(queries, exp, strict=True):
            status, body = c.json("POST", "/collections/big/search", {"vector": q.tolist(), "k": 10})
            if status == 200:
                recall.append(len({h["key"] for h in body["hits"]} & set(e)) / 10)
        run.figures["recall_at_10"] = float(np.mean(recall)) if recall else 0.0
        run.check("searches answer (recall@10 >= 0.8 of the approximate index)", run.figures["recall_at_10"] >= 0.8,
                  f"{run.figures['recall_at_10']:.2f}")
        status, body = c.json("GET", "/collections/big")
        run.notes.append(f"{n:,} x {dim} adds in {n // sc.adds_batch} requests {run.figures['adds_s']:.0f} s; "
                         "first search "
                         f"{run.figures['first_search_s']:.1f} s (index {(body or {}).get('index')}); "
                         f"recall@10 {run.figures['recall_at_10']:.2f}")


def sc_filters(tmp: Path, sc: Scale, run: Run) -> None:
    rng = np.random.default_rng(4)
    n, dim = 10_000, 32
    vecs = rows(rng, n, dim)
    keys = [f"x{i}" for i in range(n)]
    with run.serve(tmp / "data") as (_, c):
        create(c, run, "filt", dim, index="Flat")
        with run.phase("adds"):
            run.check("added", add_all(c, "filt", keys, vecs, [{"n": i} for i in range(n)]))
        q = rows(rng, 1, dim)
        even = [i for i in range(0, n, 2)]
        exp, scores = exact_top([keys[i] for i in even], vecs[even], q, 10)
        for nkeys in sc.filter_keys:
            where = {f"f{i:05d}": i for i in range(nkeys)}  # a dict of nkeys equalities (and): nothing matches
            body = {"vector": q[0].tolist(), "k": 10, "where": where}
            size = len(json.dumps(body))
            t0 = time.perf_counter()
            with run.phase(f"{nkeys:,}-key dict filter"):
                status, got = c.json("POST", "/collections/filt/search", body)
            dt = time.perf_counter() - t0
            run.check(f"{nkeys:,}-key dict: 200 with no hits, or a clear 4xx",
                      (status == 200 and got["hits"] == []) or 400 <= status < 500, f"{status} {str(got)[:200]}")
            run.notes.append(f"{nkeys:,}-key dict filter ({mib(size)}): {status} in {dt:.2f} s")
            # the same number of alternatives that do match: an $or of equalities and an $in list (even n only)
            for shape, flt in (("$or", {"$or": [{"n": 2 * i} for i in range(nkeys)]}),
                               ("$in", {"n": {"$in": [2 * i for i in range(nkeys)]}})):
                t0 = time.perf_counter()
                with run.phase(f"{shape} of {nkeys:,}"):
                    status, got = c.json("POST", "/collections/filt/search", {"vector": q[0].tolist(), "k": 10,
                                                                              "where": flt})
                dt = time.perf_counter() - t0
                ok = status == 200 and same_hits(got["hits"], exp[0], scores[0])
                run.check(f"{shape} of {nkeys:,}: the exact filtered hits, or a clear 4xx",
                          ok or 400 <= status < 500, f"{status} {str(got)[:200]}")
                why = got.get("error", {}).get("message", "")[:150] if isinstance(got, dict) else ""
                run.notes.append(f"{shape} of {nkeys:,} ({mib(len(json.dumps(flt)))}): {status} in {dt:.2f} s"
                                 + (", exact hits" if ok else f" ({why})" if why else ""))


def sc_encode(tmp: Path, sc: Scale, run: Run) -> None:
    enc = encoder_dir(tmp)

    def first_encode(c: Client) -> None:
        status, _, _ = c.request("POST", "/encode", {"texts": ["the cat sat on the mat"]})
        run.check("first encode", status == 200, str(status))

    with run.serve(tmp / "data", encoder=enc, warmup=("the first encode (loads torch and the model)",
                                                      first_encode)) as (_, c):
        texts = ["word " * (sc.encode_chars // 5)] * sc.encode_texts
        t0 = time.perf_counter()
        with run.phase("too much text"):
            status, body, _ = c.request("POST", "/encode", {"texts": texts})
        dt = time.perf_counter() - t0
        total = sc.encode_texts * sc.encode_chars
        run.check(f"{sc.encode_texts} x {sc.encode_chars:,} chars refused 413", status == 413,
                  f"{status} {body[:200]!r}")
        run.notes.append(f"{sc.encode_texts} x {sc.encode_chars:,} chars ({total:,}): {status} in {dt:.2f} s")
        # at the limit (1,000,000 characters a request), from several clients at once
        per = 1_000_000 // sc.encode_chars
        burst = {"texts": ["the cat sat on the mat " * (sc.encode_chars // 23)] * per}
        got: Counter[int] = Counter()
        lock = threading.Lock()

        def client_loop() -> None:
            for _ in range(3):
                status, _, _ = c.request("POST", "/encode", burst)
                with lock:
                    got[status] += 1

        threads = [threading.Thread(target=client_loop) for _ in range(sc.encode_threads)]
        t0 = time.perf_counter()
        with run.phase("concurrent encodes"):
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        dt = time.perf_counter() - t0
        run.check("concurrent encodes: 200 or 503 busy", set(got) <= {200, 503} and got[200] > 0, str(dict(got)))
        run.notes.append(f"{sc.encode_threads} clients x 3 encodes of {per} x {sc.encode_chars:,} chars: "
                         f"{dict(got)} in {dt:.1f} s")


def sc_bad_entries(tmp: Path, sc: Scale, run: Run) -> None:
    from numpy.lib import format as npy_format

    from embspace.store import Collection

    data = tmp / "data"
    rng = np.random.default_rng(5)
    for name in ("good", "empty", "truncated", "garbage"):
        with Collection.create(data / name, dim=8) as col:
            col.add([f"k{i}" for i in range(100)], rows(rng, 100, 8))
    db = "collection.sqlite"
    (data / "empty" / db).write_bytes(b"")
    whole = (data / "truncated" / db).read_bytes()
    (data / "truncated" / db).write_bytes(whole[: len(whole) // 3])
    (data / "garbage" / db).write_bytes(b"this is no database\n" * 200)
    os.mkfifo(data / "pipe.txt")
    with (data / "liar.npy").open("wb") as fh:  # a header claiming 40 TB of floats over 64 bytes
        npy_format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 10**4)})
        fh.write(b"\0" * 64)
    with run.serve(data) as (server, c):
        status, health = c.json("GET", "/health")
        skipped = {s["name"]: s["reason"] for s in (health or {}).get("skipped", [])}
        want = {"empty", "truncated", "garbage", "pipe.txt", "liar.npy"}
        run.check("server started", status == 200)
        run.check("/health lists every bad entry", want <= set(skipped), str(skipped))
        run.check("the good collection is served", health.get("collections") == ["good"], str(health))
        status, _ = c.json("POST", "/collections/good/search", {"key": "k0", "k": 3})
        run.check("it answers", status == 200)
        run.notes.append(f"started in {server.startup_s:.1f} s; skipped: "
                         + "; ".join(f"{k}: {v[:70]}" for k, v in sorted(skipped.items())))
    run.stall_applies = True


def sc_restored(tmp: Path, sc: Scale, run: Run) -> None:
    from embspace.store import Collection

    rng = np.random.default_rng(6)
    dim, n, m, new = 32, sc.restore_n, sc.restore_vanished, sc.restore_new
    data = tmp / "data"
    path = data / "r"
    vecs = rows(rng, n + m + new, dim)
    keys = [f"r{i}" for i in range(n + m + new)]
    with Collection.create(path, dim=dim, index="Flat") as col:
        col.add(keys[:n], vecs[:n])
        col.search(vecs[0], 1)
    backup = tmp / "older.sqlite"
    shutil.copy2(path / "collection.sqlite", backup)
    with Collection.open(path) as col:
        col.add(keys[n:n + m], vecs[n:n + m])
        col.search(vecs[0], 1)  # the saved index now covers n + m items
    for extra in ("-wal", "-shm"):
        (path / f"collection.sqlite{extra}").unlink(missing_ok=True)
    shutil.copy2(backup, path / "collection.sqlite")  # restore the older database, keep index/
    run.check("index/ kept", (path / "index").exists())
    with run.serve(data) as (_, c):
        run.check("added", add_all(c, "r", keys[n + m:], vecs[n + m:]))
        live = list(range(n)) + list(range(n + m, n + m + new))
        lkeys, lvecs = [keys[i] for i in live], vecs[live]
        queries = np.concatenate([vecs[n + m:], vecs[n:n + min(m, 200)], rows(rng, 200, dim)])
        exp, scores = exact_top(lkeys, lvecs, queries, 10)
        wrong = own = empty = ghosts = 0
        vanished = set(keys[n:n + m])
        for i, q in enumerate(queries):
            status, body = c.json("POST", "/collections/r/search", {"vector": q.tolist(), "k": 10, "metadata": False})
            hits = body["hits"] if status == 200 else []
            wrong += not same_hits(hits, exp[i], scores[i])
            empty += not hits
            ghosts += any(h["key"] in vanished for h in hits)
            if i < new:
                own += bool(hits) and hits[0]["key"] == keys[n + m + i]
        run.check("searches equal a freshly built index", wrong == 0, f"{wrong} of {len(queries)} differ")
        run.check("every new item is its own neighbour", own == new, f"{own} of {new}")
        run.check("no empty answers, no vanished keys", empty == 0 and ghosts == 0, f"{empty} empty, {ghosts} ghosts")
        run.notes.append(f"{n:,} items saved, {m:,} more indexed then the older database restored, {new} added: "
                         f"{len(queries)} searches, {wrong} differ from exact, {own}/{new} own neighbour, "
                         f"{empty} empty, {ghosts} with vanished keys")


WRITER = r"""
import sys, numpy as np
from embspace.store import Collection
path, batches, per, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(77)
vecs = rng.normal(size=(batches * per, dim)).astype(np.float32)
with Collection.open(path) as col:
    for b in range(batches):
        col.add([f"w{b}_{i}" for i in range(per)], vecs[b * per:(b + 1) * per])
print("done", flush=True)
"""


def sc_readonly_race(tmp: Path, sc: Scale, run: Run) -> None:
    from embspace.store import Collection

    rng = np.random.default_rng(7)
    dim, n, batches, per = 32, sc.race_base, sc.race_batches, 500
    data = tmp / "data"
    base = rows(rng, n, dim)
    with Collection.create(data / "w", dim=dim, index="Flat") as col:
        col.add([f"b{i}" for i in range(n)], base)
        col.search(base[0], 1)
    queries = rows(rng, 100, dim)
    with run.serve(data, readonly=True) as (_, c):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(data / "w"), str(batches), str(per), str(dim)],
                                  env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        during: Counter[int] = Counter()
        i = 0
        t0 = time.perf_counter()
        while writer.poll() is None:
            status, body = c.json("POST", "/collections/w/search", {"vector": queries[i % 100].tolist(), "k": 10})
            during[status] += 1
            if status != 200 and len(run.notes) < 3:
                run.notes.append(f"during: {status} {str(body)[:200]}")
            i += 1
        run.figures["writer_s"] = time.perf_counter() - t0
        _, err = writer.communicate()
        run.check("writer finished", writer.returncode == 0, err.decode()[-300:])
        run.check("every search during the writes succeeded", set(during) == {200}, str(dict(during)))
        wvecs = np.random.default_rng(77).normal(size=(batches * per, dim)).astype(np.float32)
        allkeys = [f"b{j}" for j in range(n)] + [f"w{b}_{j}" for b in range(batches) for j in range(per)]
        exp, scores = exact_top(allkeys, np.concatenate([base, wvecs]), queries, 10)
        wrong = 0
        for j, q in enumerate(queries):
            status, body = c.json("POST", "/collections/w/search", {"vector": q.tolist(), "k": 10, "metadata": False})
            wrong += status != 200 or not same_hits(body["hits"], exp[j], scores[j])
        run.check("after: searches equal a freshly built index", wrong == 0, f"{wrong} of {len(queries)} differ")
        status, body = c.json("GET", "/collections/w/count")
        run.check("count sees every write", status == 200 and body["count"] == n + batches * per, str(body))
        run.notes.append(f"read-only server, another process adds {batches} x {per} to {n:,} items "
                         f"({run.figures['writer_s']:.0f} s): {sum(during.values())} searches meanwhile "
                         f"{dict(during)}; "
                         f"after: {wrong} of {len(queries)} differ from exact")


def sc_paged(tmp: Path, sc: Scale, run: Run) -> None:
    from embspace.store import Collection

    rng = np.random.default_rng(8)
    n, dim = sc.paged_n, 8
    vecs = rows(rng, n, dim)
    keys = [f"p{i}" for i in range(n)]
    data = tmp / "data"
    with Collection.create(data / "p", dim=dim) as col:
        col.add(keys, vecs, [{"v": 0} for _ in range(n)])
    with run.serve(data) as (_, c):
        stop = threading.Event()
        rounds = [0]
        bodies = [items_body(keys, vecs, [{"v": v} for _ in range(n)]) for v in range(1, 4)]

        def upserts() -> None:
            while not stop.is_set():
                rounds[0] += 1
                c.request("POST", "/collections/p/upsert", bodies[rounds[0] % 3])

        t = threading.Thread(target=upserts)
        t.start()
        bad = []
        try:
            with Collection.open(data / "p", readonly=True) as col:
                for s in range(sc.paged_scans):
                    seen = [(k, m["v"]) for k, _, m in col.items(batch=max(n // 10, 1))]
                    ks = [k for k, _ in seen]
                    versions = {v for _, v in seen}
                    if len(ks) != n or len(set(ks)) != n or len(versions) != 1:
                        bad.append(f"scan {s}: {len(ks)} rows, {len(set(ks))} keys, versions {sorted(versions)}")
                    if s % 5 == 0:
                        space = col.to_space()
                        if len(space) != n:
                            bad.append(f"to_space {s}: {len(space)}")
        finally:
            stop.set()
            t.join()
        run.check("every scan one version, no duplicates", not bad, "; ".join(bad[:3]))
        run.notes.append(f"{sc.paged_scans} paged scans of {n:,} items (pages of {max(n // 10, 1)}) during "
                         f"{rounds[0]} whole upserts by the server: {len(bad)} inconsistent")


def sc_browser(tmp: Path, sc: Scale, run: Run) -> None:
    rng = np.random.default_rng(9)
    with run.serve(tmp / "data") as (server, c):
        create(c, run, "vecs", 4)
        add_all(c, "vecs", ["a", "b"], rows(rng, 2, 4))
        status, _, _ = c.request("POST", "/collections/vecs/delete", {"keys": ["a"]},
                                 headers={"Host": "rebind.attacker.example"})
        run.check("Host: rebind.attacker.example -> 421", status == 421, str(status))
        status, _, _ = c.request("GET", "/collections", headers={"Host": f"rebind.attacker.example:{server.port}"})
        run.check("GET with a foreign Host -> 421", status == 421, str(status))
        status, _, _ = c.request("POST", "/collections/vecs/search", raw=b'{"key": "a", "k": 1}',
                                 headers={"Content-Type": "text/plain"})
        run.check("text/plain search body -> 415", status == 415, str(status))
        status, _, _ = c.request("POST", "/collections/vecs/add", raw=b'{"items": [{"key": "c", "vector": [1,0,0,0]}]}',
                                 headers={"Content-Type": "text/plain"})
        run.check("text/plain add body -> 415", status == 415, str(status))
        status, _, _ = c.request("POST", "/collections/vecs/delete", {"keys": ["a"]},
                                 headers={"Origin": "http://evil.example"})
        run.check("foreign Origin on POST without a key -> 403", status == 403, str(status))
        status, _, _ = c.request("DELETE", "/collections/vecs", headers={"Origin": "null"})
        run.check("Origin: null on DELETE -> 403", status == 403, str(status))
        status, body = c.json("GET", "/collections/vecs/count")
        run.check("nothing changed", body == {"count": 2}, str(body))


def sc_repeated_get(tmp: Path, sc: Scale, run: Run) -> None:
    rng = np.random.default_rng(10)
    with run.serve(tmp / "data") as (_, c):
        create(c, run, "g", 384)
        add_all(c, "g", ["k1", "k2"], rows(rng, 2, 384), [{"text": "x" * 10_000}] * 2)
        for reps in sc.get_repeats:
            req = {"keys": ["k1"] * reps, "vectors": True}
            t0 = time.perf_counter()
            status, body, _ = c.request("POST", "/collections/g/get", req)
            dt = time.perf_counter() - t0
            answer = json.loads(body) if status == 200 else None
            run.check(f"key x {reps:,}: answered once", status == 200 and len(answer) == 1,
                      f"{status}, {len(body):,} bytes")
            run.notes.append(f"key x {reps:,} ({mib(len(json.dumps(req)))} request): {status}, {len(body):,} bytes "
                             f"in {dt:.2f} s")


SURROGATES = [b'{"items": [{"key": "c", "vector": [0, 0, 1, 0], "metadata": {"t": "x\\ud800y"}}]}',
              b'{"items": [{"key": "c", "vector": [0, 0, 1, 0], "metadata": {"\\udc00": 1}}]}',
              b'{"items": [{"key": "\\uDBFF", "vector": [0, 0, 1, 0]}]}',
              b'{"items": [{"key": "c", "vector": [0, 0, 1, 0], "text": "\\ude00\\ud83d"}]}']


def sc_small(tmp: Path, sc: Scale, run: Run) -> None:
    """Surrogates, 405 with Allow, strict integers."""
    rng = np.random.default_rng(11)
    with run.serve(tmp / "data") as (_, c):
        create(c, run, "s", 4)
        add_all(c, "s", ["a"], rows(rng, 1, 4))
        for raw in SURROGATES:
            status, body, _ = c.request("POST", "/collections/s/add", raw=raw)
            run.check("lone surrogate -> 422", status == 422, f"{status} {raw!r}")
        status, _, _ = c.request("POST", "/collections/s/get", raw=b'{"keys": ["\\ud800"]}')
        run.check("lone surrogate key in /get -> 422", status == 422, str(status))
        for method, path in (("PUT", "/collections/s/search"), ("DELETE", "/health"), ("PATCH", "/collections")):
            status, _, headers = c.request(method, path, {} if method != "DELETE" else None)
            run.check(f"{method} {path} -> 405 with Allow", status == 405 and bool(headers.get("allow")),
                      f"{status} {headers.get('allow')}")
        status, _ = c.json("POST", "/collections", {"name": "t", "dim": True})
        run.check('"dim": true -> 422', status == 422, str(status))
        status, _ = c.json("POST", "/collections/s/search", {"key": "a", "k": True})
        run.check('"k": true -> 422', status == 422, str(status))
        status, body = c.json("GET", "/collections/s/count")
        run.check("nothing written", body == {"count": 1}, str(body))


def sc_delete_during_searches(tmp: Path, sc: Scale, run: Run) -> None:
    rng = np.random.default_rng(12)
    dim = 32
    vecs = rows(rng, sc.delete_n, dim)
    keys = [f"d{i}" for i in range(sc.delete_n)]
    with run.serve(tmp / "data") as (_, c):
        seen: Counter[int] = Counter()
        lock = threading.Lock()
        for _ in range(sc.delete_rounds):
            create(c, run, "del", dim)
            with run.phase("adds"):
                add_all(c, "del", keys, vecs)
            stop = threading.Event()

            def searches(stop: threading.Event = stop) -> None:
                i = 0
                while not stop.is_set():
                    status, _, _ = c.request("POST", "/collections/del/search",
                                             {"vector": vecs[i % 100].tolist(), "k": 10})
                    with lock:
                        seen[status] += 1
                    i += 1

            threads = [threading.Thread(target=searches) for _ in range(4)]
            with run.phase("4 clients searching, the DELETE"):
                for t in threads:
                    t.start()
                time.sleep(1.0)
                status, _, _ = c.request("DELETE", "/collections/del")
                run.check("DELETE -> 204", status == 204, str(status))
                time.sleep(1.0)
                stop.set()
                for t in threads:
                    t.join()
        run.check("searches: 200, 404 or 409 only", set(seen) <= {200, 404, 409, 503}, str(dict(seen)))
        run.notes.append(f"{sc.delete_rounds} rounds, 4 searching clients around each DELETE of {sc.delete_n:,} "
                         f"items: {dict(seen)}")


def schemathesis_world(tmp: Path) -> tuple[Path, Path, Path]:
    sys.path.insert(0, str(ROOT / "tests" / "serve"))
    from serve_testing import build_world, tiny_encoder

    enc = tiny_encoder(tmp / "enc")
    build_world(tmp, enc).close()
    return tmp / "data", tmp / "elsewhere" / "notes", enc


def run_schemathesis(tmp: Path, sc: Scale, run: Run, *, key: str | None) -> None:
    data, notes, enc = schemathesis_world(tmp)
    har = tmp / "run.har"
    run.stall_applies = False  # schemathesis's own traffic, not one slow operation
    with run.serve(data, paths=(notes,), key=key, encoder=enc) as (server, _c):
        # a body too big for the route is refused by its size before it is parsed (413): a rejection of invalid
        # data too, outside schemathesis's default list (its own advice; tests/serve/test_schemathesis.py does
        # the same)
        config = tmp / "schemathesis.toml"
        config.write_text('[checks.negative_data_rejection]\nexpected-statuses = ["400", "401", "403", "404", '
                          '"405", "406", "409", "413", "415", "422", "428", "429", "5xx"]\n')
        cmd = ["schemathesis", "--config-file", str(config), "run", f"http://127.0.0.1:{server.port}/openapi.json",
               "--checks", "all",
               "--exclude-checks", "positive_data_acceptance", "-n", str(sc.schemathesis_examples), "--seed", "23",
               "--report", "har", "--report-har-path", str(har), "--suppress-health-check", "all",
               "--request-timeout", "120", "--no-color"]
        if key:
            cmd += ["-H", f"X-API-Key: {key}"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=server_env(), timeout=3600,
                              cwd=tmp)  # its cache (.schemathesis/) goes with the temporary directory
        run.figures["schemathesis_s"] = time.perf_counter() - t0
        statuses: Counter[int] = Counter()
        if har.exists():
            for entry in json.loads(har.read_text())["log"]["entries"]:
                statuses[int(entry["response"]["status"])] += 1
        # counted into the scenario's requests
        _c.statuses.update(statuses)
        tail = proc.stdout[-3000:]
        run.figures["schemathesis_tail"] = tail
        run.figures["schemathesis_rc"] = proc.returncode
        run.check("schemathesis: every check passes", proc.returncode == 0, tail[-1500:])
        run.check("schemathesis sent requests", sum(statuses.values()) > 0, proc.stderr[-500:])
        run.notes.append(f"{sum(statuses.values()):,} requests ({sc.schemathesis_examples} examples per operation and "
                         f"phase) in {run.figures['schemathesis_s']:.0f} s, statuses {dict(sorted(statuses.items()))}, "
                         f"exit {proc.returncode}")


SCENARIOS: dict[str, tuple[str, Callable[[Path, Scale, Run], None]]] = {
    "schemathesis": ("schemathesis, all checks, no key", lambda t, s, r: run_schemathesis(t, s, r, key=None)),
    "schemathesis-key": ("schemathesis, all checks, with a key", lambda t, s, r: run_schemathesis(t, s, r, key=KEY)),
    "factory": ("1: IVF100000000,Flat / HNSW999999999 refused", sc_factory),
    "dedup": ("2: dedup of near-identical items", sc_dedup),
    "readonly-race": ("3: read-only server while another process writes", sc_readonly_race),
    "restored": ("4: older collection.sqlite restored, index/ kept, adds", sc_restored),
    "adds-search": ("5: adds, then the first search", sc_adds_then_search),
    "filters": ("5: huge dict / $or / $in filters", sc_filters),
    "bad-entries": ("6: bad data-dir entries at start", sc_bad_entries),
    "paged": ("7: paged items() during upserts", sc_paged),
    "browser": ("8: Host rebinding, text/plain, Origin", sc_browser),
    "repeated-get": ("9: /get of one key repeated", sc_repeated_get),
    "small": ("10/15: surrogates, 405 Allow, dim true", sc_small),
    "encode": ("11: /encode huge and concurrent", sc_encode),
    "delete": ("14: DELETE a collection during searches", sc_delete_during_searches),
}


def run_one(name: str, sc: Scale, retries: int) -> dict[str, Any]:
    what, fn = SCENARIOS[name]
    attempts = []
    for attempt in range(retries + 1):
        run = Run(name, what)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"abuse-{name}-") as d:
            try:
                fn(Path(d), sc, run)
            except Exception as e:  # a scenario that breaks is a failed scenario, reported, not a stopped run
                import traceback

                run.check("ran to the end", False, f"{type(e).__name__}: {e}")
                run.figures["traceback"] = traceback.format_exc()[-2000:]
            for server, _, _ in run.servers:
                server.stop()
        res = run.result()
        res["seconds"] = time.perf_counter() - t0
        attempts.append(res)
        say(f"{name} (attempt {attempt + 1}): {'pass' if res['passed'] else 'FAIL'} — {res['requests']} requests, "
            f"5xx {res['errors_5xx']}, RSS {res['peak_rss_mb']:.0f} MiB, "
            f"/health stall {res['health_stall_ms']:.0f} ms (idle server's {_ms(res.get('control_stall_ms'))}), "
            f"{res['seconds']:.0f} s" + "".join(f"\n    {n}" for n in res["notes"]))
        if res["passed"]:
            break
    final = dict(attempts[-1])
    final["attempts"] = [{k: a[k] for k in ("passed", "errors_5xx", "peak_rss_mb", "health_stall_ms",
                                            "control_stall_ms", "notes")} for a in attempts]
    return final


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def table(results: list[dict[str, Any]]) -> list[str]:
    out = ["| scenario | requests | 5xx (503 busy) | peak server RSS | longest /health | idle server's | result |",
           "|---|---|---|---|---|---|---|"]
    for r in results:
        tries = r["attempts"]
        result = "pass" if r["passed"] else "FAIL"
        if len(tries) > 1:
            result += f" (attempt {len(tries)}; before: " + "; ".join(
                f"stall {a['health_stall_ms']:.0f} ms (idle server's {_ms(a.get('control_stall_ms'))}), "
                f"5xx {a['errors_5xx']}" for a in tries[:-1]) + ")"
        out.append(f"| {r['what']} | {r['requests']:,} | {r['errors_5xx']} ({r['busy_503']}) | "
                   f"{r['peak_rss_mb']:,.0f} MiB | {r['health_stall_ms']:.0f} ms | "
                   f"{_ms(r.get('control_stall_ms'))} | {result} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small scales (a couple of minutes)")
    ap.add_argument("--only", help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    ap.add_argument("--retries", type=int, default=1, help="runs more of a failed scenario (noise or defect)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-markdown", action="store_true", help="do not update BENCHMARKS.md")
    args = ap.parse_args()
    sc = QUICK if args.quick else FULL
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    out = args.out or HERE / "results" / ("abuse-quick.json" if args.quick else "abuse.json")
    before, load_before = cpu_snapshot(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="abuse-control-") as d:
        (Path(d) / "data").mkdir()
        CONTROL.append(Server(Path(d) / "data"))
        try:
            results = [run_one(n, sc, args.retries) for n in names]
        finally:
            CONTROL.pop().stop()
    other = other_cpu(before, cpu_snapshot())
    versions = {name: version(name) for name in ("embspace", "fastapi", "uvicorn", "schemathesis", "faiss-cpu")}
    report = {"benchmark": "abuse", "mode": "quick" if args.quick else "full", "scale": sc.__dict__,
              "results": results, "passed": all(r["passed"] for r in results), "versions": versions,
              "loadavg_before": load_before, "loadavg_after": os.getloadavg()[0], "other_processes": other,
              "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    write_json(out, report)
    rows_ = table(results)
    print("\n".join(rows_))
    for r in results:
        print(f"- {r['name']}: " + "; ".join(r["notes"]))
    if args.quick or args.only or args.no_markdown:
        return
    section = "\n".join([
        SECTION, "",
        "Each scenario starts its own `embspace serve` (one uvicorn worker) on 127.0.0.1 over a data directory in a "
        "temporary directory. Requests: what the script sent (schemathesis: the requests of its HAR report); 5xx: "
        "answers >= 500 other than `503 busy` (the designed answer of a full queue, with `Retry-After`; in "
        "parentheses); peak RSS of the server process sampled every ~20 ms; longest `/health`: the slowest answer "
        "of a separate process polling it every ~20 ms during the whole scenario (not judged for schemathesis); "
        "idle server's: the same poll of an idle server at the same time, the machine's own noise. "
        "Acceptance: no 5xx, no crash, `/health` <= 100 ms, RSS <= 2 GB, every correctness check (exact answers "
        "against brute force over what the table holds, the right refusals). A failed scenario is run once more.",
        "", *rows_, "",
        *[f"- {r['name']}: " + "; ".join(r["notes"]) for r in results], "",
        f"Measured {report['date']} on {os.cpu_count()} CPU(s) shared with other work, load average "
        f"{load_before:.2f} before / {report['loadavg_after']:.2f} after.{busy_sentence(other)} "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ". Rerun with:", "",
        "```bash", "python benchmarks/abuse.py          # --quick: small scales", "```", ""])
    publish_section(HERE.parent / "BENCHMARKS.md", SECTION, section)


if __name__ == "__main__":
    main()
