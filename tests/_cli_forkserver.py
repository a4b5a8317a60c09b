"""A warm ``embspace`` for the documentation's shell examples (used by tests/test_docs.py).

Every ``embspace`` command of a shell example would otherwise start a fresh Python that spends
~7 s importing torch and transformers before it does anything. This server imports them once; the
``embspace`` on the examples' PATH is then a tiny client that hands the server its arguments,
working directory, environment and standard streams (file descriptors over a Unix socket). For
each command the server forks; the child takes over the streams, the directory and the
environment and runs ``embspace.cli.app.main`` — the console script's own entry point — and its
exit status goes back to the client, which exits with it.

The server only imports (no model is loaded, no thread pool started) before it forks.
``EMBSPACE_DOCS_SUBPROCESS=1`` makes tests/test_docs.py skip all this and run the real console
script instead.

Usage: ``python tests/_cli_forkserver.py SOCKET`` (prints ``ready`` when it listens).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import signal
import socket
import struct
import sys
import traceback

PRELOAD = ("embspace.cli.app", "torch", "transformers", "sentence_transformers", "faiss", "numba", "sklearn",
           "embspace.train", "embspace.encoders", "embspace.store", "embspace.analysis", "embspace.evaluate",
           "embspace.apps.retriever", "embspace.apps.ingestion")

CLIENT = r"""
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["EMBSPACE_DOCS_SOCKET"])
msg = json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
socket.send_fds(s, [struct.pack("!I", len(msg))], [0, 1, 2])
s.sendall(msg)
data = b""
while chunk := s.recv(64):
    data += chunk
sys.exit(int(data) if data else 1)
"""


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("client went away")
        buf += chunk
    return buf


def _run_command(conn: socket.socket, fds: list[int], request: dict) -> None:  # type: ignore[type-arg]
    """In the forked child: become the command, run it, report its exit status, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the command may wait for its own children
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["embspace", *request["argv"]]
    code = 0
    try:
        from embspace.cli.app import main

        main(request["argv"])
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()  # what a normal exit runs (temporary files of the learners, ...)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            conn.sendall(str(code).encode())
        finally:
            os._exit(code)


def serve(path: str) -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    server.settimeout(2.0)
    parent = os.getppid()
    print("ready", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test session is gone (killed): so is the server
                return
            continue
        conn.settimeout(None)
        try:
            head, fds, _, _ = socket.recv_fds(conn, 4, 3)
            if len(head) < 4:
                head += _recv_exact(conn, 4 - len(head))
            (size,) = struct.unpack("!I", head)
            request = json.loads(_recv_exact(conn, size))
        except Exception:
            conn.close()
            continue
        if os.fork() == 0:
            server.close()
            _run_command(conn, fds, request)
        for fd in fds:
            os.close(fd)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
