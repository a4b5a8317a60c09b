"""Load test of the HTTP API: concurrent clients searching a 100k-vector collection over loopback.

The collection holds 100,000 MiniLM vectors of Wikipedia paragraphs (``_wiki_vectors.py``; built
once and cached under ``$EMBSPACE_CACHE/bench/``) with each paragraph's first 200 characters as
metadata. ``embspace serve`` runs it in its own process (uvicorn, one worker, as a user would start
it); the clients run in this process: ``--clients`` concurrent keep-alive HTTP/1.1 connections on
127.0.0.1, each sending its next search as soon as the previous answer arrived (a closed loop, the
hardest case for latency), for ``--seconds`` seconds. The queries are the vectors of 1,000 other
paragraphs (``{"vector": [...384 floats], "k": 10}``; hits come back with their metadata). Latency is
measured per request from the first byte sent to the last byte received.

Only loopback is ever contacted, and every run stops by itself after ``--seconds``.

Usage::

    python benchmarks/serve_load.py                      # 3 runs x 60 s, 32 clients
    python benchmarks/serve_load.py --runs 1 --seconds 10  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import (  # noqa: E402
    busy_sentence,
    cpu_snapshot,
    measured_sentence,
    other_cpu,
    publish_section,
    say,
    set_threads,
    version,
    write_json,
)

SECTION = "## HTTP API under load (issue 9)"

N = 100_000


def build_collection(path: Path) -> Path:
    """The 100k collection (reused when it is already there and complete)."""
    from _wiki_vectors import wiki_minilm
    from embspace.store import Collection

    if (path / "collection.sqlite").is_file():
        with Collection.open(path, readonly=True) as col:
            if col.count() == N:
                return path
        shutil.rmtree(path)
    texts, vecs = wiki_minilm(N)
    t0 = time.perf_counter()
    with Collection.create(path, dim=vecs.shape[1], metric="cosine", index="HNSW32") as col:
        for s in range(0, N, 10_000):
            col.add([f"p{i}" for i in range(s, s + 10_000)], vecs[s : s + 10_000],
                    [{"text": t[:200], "row": i} for i, t in enumerate(texts[s : s + 10_000], start=s)])
        col.search(vecs[0], 10)  # builds and saves the index
    say(f"built {path} in {time.perf_counter() - t0:.0f} s")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # with the thread variables set_threads() put there
    proc = subprocess.Popen([sys.executable, "-m", "embspace.cli.app", "serve", "--port", str(port),
                             "--data-dir", str(data), "--log-level", "warning",
                             *(["--workers", str(workers), "--readonly"] if workers > 1 else [])], env=env)
    return proc


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   raw: bytes) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server closes the connection after it (``Connection: close``)."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    close = False
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
        elif line[:11].lower() == b"connection:":
            close = b"close" in line[11:].lower()
    body = await reader.readexactly(length)
    return status, body, close


def _raw(path: str, body: bytes, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def wait_ready(port: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            if head[9:12] == b"200":
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.3)


def connections_per_process(pid: int, port: int) -> list[int]:
    """Established connections to ``port`` held by the server process ``pid`` and each of its workers."""
    import psutil

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    counts = []
    for p in procs:
        try:
            n = sum(1 for c in p.net_connections("tcp") if c.laddr and c.laddr.port == port
                    and c.status == psutil.CONN_ESTABLISHED)
        except psutil.Error:
            continue
        if n:
            counts.append(n)
    return sorted(counts, reverse=True)


async def load(port: int, bodies: list[bytes], path: str, clients: int, seconds: float, warmup: float,
               rate: float = 0.0) -> dict[str, Any]:
    """``clients`` connections for ``warmup + seconds``; latencies of the last ``seconds``. ``rate`` 0: a
    closed loop (the next request as soon as the answer arrived); else each client starts a request every
    ``1/rate`` seconds (or at once, when the previous answer came later)."""
    latencies: list[float] = []
    errors: list[str] = []
    reconnects = [0]
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + seconds
    raws = [_raw(path, b, port) for b in bodies]

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = c
        period = 1.0 / rate if rate > 0 else 0.0
        next_at = t_start + (c / clients) * period  # paced clients spread over one period
        try:
            while True:
                if period:
                    now = time.perf_counter()
                    if next_at > now:
                        await asyncio.sleep(next_at - now)
                    next_at = max(next_at + period, time.perf_counter())
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                try:
                    status, body, close = await _request(reader, writer, raws[i % len(raws)])
                except (OSError, asyncio.IncompleteReadError) as e:
                    errors.append(type(e).__name__)
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                t1 = time.perf_counter()
                if close:  # HTTP/1.1: the server ends this connection (a worker evening out its load)
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    reconnects[0] += 1
                if t0 >= t_measure:
                    latencies.append(t1 - t0)
                    if status != 200 or not body.startswith(b'{"hits":[{'):
                        errors.append(f"{status}: {body[:200]!r}")
                i += clients
        finally:
            writer.close()

    gc.collect()
    gc.freeze()  # the clients' own collector pauses would count as server latency
    await asyncio.gather(*(client(c) for c in range(clients)))
    gc.unfreeze()
    lat = sorted(latencies)

    def q(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))]

    return {"requests": len(lat), "errors": len(errors), "error_examples": errors[:3], "reconnects": reconnects[0],
            "qps": len(lat) / seconds,
            "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": 1000 * lat[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads of the server")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="requests per second per client (0: closed loop, each as soon as the last answered)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (more than one: read-only)")
    ap.add_argument("--text", action="store_true", help="also measure text queries (encoded by the server)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "serve_load.json")
    ap.add_argument("--no-markdown", action="store_true", help="do not update BENCHMARKS.md")
    args = ap.parse_args()
    set_threads(args.threads)
    try:  # the clients must cost little CPU: they share the machine with the server
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    from _wiki_vectors import wiki_minilm
    from embspace.encoders._cache import cache_dir

    data = cache_dir() / "bench" / "serve-data"
    build_collection(data / "wiki")
    texts, queries = wiki_minilm(1000, start=N, progress=False)
    vector_bodies = [json.dumps({"vector": [round(float(x), 6) for x in q], "k": 10}).encode() for q in queries]
    text_bodies = [json.dumps({"text": " ".join(t.split()[:12]), "k": 10}).encode() for t in texts]
    kinds = [("vector", vector_bodies)] + ([("text", text_bodies)] if args.text else [])
    port = free_port()
    results: dict[str, list[dict[str, Any]]] = {k: [] for k, _ in kinds}
    before = cpu_snapshot()
    load_before = os.getloadavg()[0]
    proc = start_server(data, port, args.workers)
    try:
        asyncio.run(wait_ready(port))
        for run in range(args.runs):
            for kind, bodies in kinds:
                # the clients' connections held by each server process, counted near the end of the warm-up
                # (psutil's scan holds this process's GIL: never inside the measured window)
                split: list[int] = []
                timer = threading.Timer(max(args.warmup - 1.0, 0.5), lambda out=split: out.extend(  # type: ignore[misc]
                    connections_per_process(proc.pid, port)))
                timer.start()
                r = asyncio.run(load(port, bodies, "/collections/wiki/search", args.clients, args.seconds,
                                     args.warmup, args.rate))
                timer.join()
                r["connections_per_worker"] = split
                results[kind].append(r)
                say(f"run {run + 1} {kind}: {r['requests']} requests, {r['qps']:.0f}/s, p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms, errors {r['errors']}, "
                    f"connections per worker {split}, reconnects asked by the server {r['reconnects']}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    other = other_cpu(before, cpu_snapshot())
    summary = {kind: {m: statistics.median(r[m] for r in rs) for m in ("qps", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
               | {"errors": sum(r["errors"] for r in rs), "requests": sum(r["requests"] for r in rs)}
               for kind, rs in results.items()}
    versions = {name: version(name) for name in ("embspace", "fastapi", "uvicorn", "faiss-cpu", "numpy")}
    report = {"benchmark": "serve_load", "collection": N, "dim": int(queries.shape[1]), "clients": args.clients,
              "seconds": args.seconds, "runs": args.runs, "server_threads": args.threads, "summary": summary,
              "runs_detail": results, "versions": versions, "workers": args.workers, "rate": args.rate,
              "loadavg_before": load_before,
              "loadavg_after": os.getloadavg()[0], "other_processes": other,
              "date": time.strftime("%Y-%m-%d")}
    write_json(args.out, report)
    table = ["| queries | requests | errors | QPS | p50 ms | p90 ms | p99 ms | max ms |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, sm in summary.items():
        table.append(f"| {kind} | {sm['requests']:,} | {sm['errors']} | {sm['qps']:.0f} | {sm['p50_ms']:.1f} | "
                     f"{sm['p90_ms']:.1f} | {sm['p99_ms']:.1f} | {sm['max_ms']:.1f} |")
    print("\n".join(table))
    busy = busy_sentence(other)
    held = summary["vector"]["p99_ms"] <= 50 and summary["vector"]["errors"] == 0
    section = "\n".join([
        SECTION, "",
        f"`embspace serve` (uvicorn, {args.workers} worker process(es)"
        + (", `--readonly`" if args.workers > 1 else "")
        + f", {args.threads} BLAS/OpenMP thread(s)) over a collection of "
        f"{N:,} MiniLM vectors of Wikipedia paragraphs (HNSW32, cosine, each hit returned with its metadata: "
        f"the paragraph's first 200 characters). {args.clients} concurrent keep-alive clients on 127.0.0.1 "
        + ("in a closed loop (each sends its next search when the previous answer arrives)" if not args.rate else
           f"paced at {args.rate:g} searches/s each ({args.rate * args.clients:g}/s offered)")
        + f", {args.seconds:.0f} s per "
        f"run after {args.warmup:.0f} s of warm-up; medians of {args.runs} runs (errors and requests: totals). "
        "Clients and server share the machine's 2 cores. Vector queries are `{\"vector\": [384 floats], "
        "\"k\": 10}` of 1,000 held-out paragraphs" + (
            "; text queries send the paragraphs' first 12 words and the server encodes them with MiniLM." if
            "text" in summary else "."), "",
        *table, "",
        "Per run (connections each worker process held at the end of the warm-up; uvicorn's workers race to accept "
        "on one shared socket, and the workers then even out their clients by asking one at a time to reconnect): "
        + "; ".join(f"{kind} run {i + 1}: {r['qps']:.0f}/s, p99 {r['p99_ms']:.1f} ms, split "
                    f"{'/'.join(map(str, r.get('connections_per_worker', []))) or 'n/a'}, "
                    f"{r.get('reconnects', 0)} reconnects asked"
                    for kind, rs in results.items() for i, r in enumerate(rs)) + ".", "",
        f"Acceptance (p99 <= 50 ms with 32 clients, zero errors): {'holds' if held else 'DOES NOT hold'} for vector "
        "queries.", "",
        measured_sentence(report["date"], os.cpu_count(), (load_before, report["loadavg_after"]), busy,
                          {"python": sys.version.split()[0], **versions}), "",
        "```bash", "python benchmarks/serve_load.py" + (" --text" if "text" in summary else "")
        + (f" --workers {args.workers}" if args.workers > 1 else "") + (f" --rate {args.rate:g}" if args.rate else ""),
        "```", ""])
    publish_section(None if args.no_markdown else HERE.parent / "BENCHMARKS.md", SECTION, section)

if __name__ == "__main__":
    main()
