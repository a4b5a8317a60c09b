"""Workers even out their keep-alive connections through the shared balance file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from embspace.serve import _balance
from embspace.serve._balance import Balancer, create_balance_file


def test_the_worker_over_its_share_asks_clients_to_reconnect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_balance, "PUBLISH_S", 0.0)
    monkeypatch.setattr(_balance, "SHED_S", 0.0)
    path = create_balance_file(tmp_path)
    busy = Balancer(path, pid=os.getpid())
    idle = Balancer(path, pid=os.getppid())  # another live process: its own slot
    assert busy.slot != idle.slot
    even = [w.shed(("127.0.0.1", port + i)) for i in range(16) for w, port in ((idle, 20_000), (busy, 30_000))]
    assert not any(even)  # 16 and 16: nobody is asked to leave
    more = [busy.shed(("127.0.0.1", 31_000 + i)) for i in range(4)]
    # past its fair share the busier worker asks a client to reconnect (one at a time: SHED_S apart)
    assert more == [False, True, True, True]
    assert len(busy.clients) == 17 and int(busy.table[busy.slot, 1]) == 17
    assert not idle.shed(("127.0.0.1", 20_000))  # the lighter worker keeps its clients
    busy.close()
    idle.close()
    assert not path.read_bytes().strip(b"\0")  # both slots released


def test_a_dead_workers_slot_is_reused_and_stale_counts_are_ignored(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_balance, "PUBLISH_S", 0.0)
    monkeypatch.setattr(_balance, "SHED_S", 0.0)
    path = create_balance_file(tmp_path)
    ghost = Balancer(path, pid=2**22 + 12345)  # no such process
    ghost.table[ghost.slot, 1] = 1000
    me = Balancer(path, pid=os.getpid())
    assert me.slot == ghost.slot  # the dead worker's slot is taken over
    assert not any(me.shed(("127.0.0.1", 40_000 + i)) for i in range(10))  # alone: everything is its share


def test_serve_with_two_workers_shares_a_balance_file_and_removes_it(tmp_path: Path) -> None:
    import glob
    import http.client
    import signal
    import subprocess
    import sys
    import time

    import numpy as np
    from projector_testing import free_port

    import embspace

    data = tmp_path / "data"
    data.mkdir()
    embspace.EmbeddingSpace([f"k{i}" for i in range(20)], np.eye(20, dtype=np.float32)).save(data / "words")
    before = set(glob.glob("/dev/shm/embspace-balance-*"))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "embspace.cli.app", "serve", "--port", str(port), "--data-dir",
                             str(data), "--workers", "2", "--readonly", "--log-level", "warning"],
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        conns: list[http.client.HTTPConnection] = []
        while not conns:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request("GET", "/health")
                assert c.getresponse().read()
                conns.append(c)
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        conns += [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(7)]
        for _ in range(5):  # keep-alive clients on both workers: every answer is right, whatever reconnects
            for c in conns:
                c.request("POST", "/spaces/words/neighbors", body=b'{"key": "k3", "k": 2}',
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                assert r.status == 200 and len(r.read()) > 10
        assert len(set(glob.glob("/dev/shm/embspace-balance-*")) - before) == (1 if Path("/dev/shm").is_dir() else 0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    banner = " ".join(out.split())  # the parent only opens the data to say what the workers serve
    assert "0 collections, 1 spaces" in banner and "2 workers, read-only" in banner
    assert set(glob.glob("/dev/shm/embspace-balance-*")) - before == set()
