"""``embspace serve``: the HTTP API over collections, spaces and recommenders."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _output as out

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..errors import CollectionLockedError
    from ..serve import Resources, ServeConfig

API_KEY_ENV = "EMBSPACE_API_KEY"
#: How the messages of a refused ServeConfig name its fields: by the flags that set them.
FLAGS = {"api_key": f"--api-key (or set {API_KEY_ENV})", "host": "--host", "readonly": "--readonly",
         "workers": "--workers", "max_body": "--max-body-mb", "port": "--port", "encoder": "--encoder",
         "data_dir": "--data-dir", "cors_origins": "--cors-origin",
         "allowed_hosts": "--allowed-host", "max_pending": "--max-pending",
         "max_encode_chars": "--max-encode-chars", "max_encodes": "--max-encodes"}


#: ServeConfig's defaults of the limits (here as numbers: importing the server at start would slow every command;
#: a test checks they agree).
DEFAULT_MAX_PENDING = 256
DEFAULT_MAX_ENCODE_CHARS = 1_000_000
DEFAULT_MAX_ENCODES = 4
#: The port ``embspace serve`` listens on when --port is not given (a free one when it is taken).
DEFAULT_PORT = 8000
#: At most this many "skipped" lines in the announcement (then a count of the rest).
MAX_SKIPPED_LINES = 10


def serve(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Collections, spaces, recommender models, or directories of them (default: the data directory).")]
    = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs an API key.")]
    = "127.0.0.1",
    port: Annotated[int | None, typer.Option(
        "--port", "-p", min=0, max=65535, show_default=False,
        help=f"Port to listen on; when it is taken, the server does not start [default: {DEFAULT_PORT}, or a free "
             f"port when {DEFAULT_PORT} is taken; 0: any free port].")] = None,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar=API_KEY_ENV, show_envvar=True,
        help="Require this key on every request (Authorization: Bearer KEY or X-API-Key).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where collections created through the API go; it is served too "
                           "[default: $EMBSPACE_DATA or ~/.local/share/embspace].")] = None,
    encoder: Annotated[str, typer.Option("--encoder", help="Text encoder for classify and new collections.")]
    = "minilm",
    readonly: Annotated[bool, typer.Option("--readonly", help="Refuse every write.")] = False,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", min=0.001, help="Largest request body (MiB).")]
    = 64.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Server processes; more than one "
                                         "serves read-only (--readonly): one process writes a collection.")] = 1,
    cors_origin: Annotated[list[str] | None, typer.Option(
        "--cors-origin", help="Let web pages of this origin (scheme://host[:port], e.g. http://localhost:3000) "
                              "call the API from a browser; repeat for several; '*' for any (needs --api-key). "
                              "Off by default.")] = None,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host", help="Another name this server answers to (the Host of requests, e.g. myhost.local); "
                               "repeat for several. Loopback names and the --host address always are; without "
                               "--api-key, requests addressed to any other name are refused (DNS rebinding).")]
    = None,
    max_pending: Annotated[int, typer.Option(
        "--max-pending", min=1, help="Requests in flight at most (/health not counted); one more gets 503 busy "
                                     "with Retry-After.")] = DEFAULT_MAX_PENDING,
    max_encode_chars: Annotated[int, typer.Option(
        "--max-encode-chars", min=1, help="Characters of text one request may have encoded, all its texts "
                                          "together (/encode, /v1/embeddings, texts to add, search or classify; "
                                          "413 beyond).")] = DEFAULT_MAX_ENCODE_CHARS,
    max_encodes: Annotated[int, typer.Option(
        "--max-encodes", min=1, help="Text encodes running at once; one more gets 503 busy with Retry-After.")]
    = DEFAULT_MAX_ENCODES,
) -> None:
    """Serve the HTTP API, the web projector (/projector/) and the API docs (/docs, /redoc); / links them all."""
    from pydantic import ValidationError

    from ..serve import ServeConfig, default_data_dir
    from ..serve.config import problems

    try:
        config = ServeConfig(data_dir=str(data_dir or default_data_dir()), paths=[str(p) for p in paths or []],
                             encoder=encoder, readonly=readonly, api_key=api_key,
                             max_body=int(max_body_mb * 1024 * 1024), host=host,
                             port=DEFAULT_PORT if port is None else port, workers=workers,
                             cors_origins=list(cors_origin or []), allowed_hosts=list(allowed_host or []),
                             max_pending=max_pending, max_encode_chars=max_encode_chars, max_encodes=max_encodes)
    except ValidationError as e:  # the serving safety rules (ServeConfig's validators), in terms of our flags
        for message in problems(e, FLAGS):
            out.error(message)
        raise typer.Exit(2) from None
    serve_config(config, log_level=log_level, fixed_port=port is not None)


def serve_config(config: ServeConfig, *, log_level: str = "info", fixed_port: bool = True) -> None:
    """Serve ``config`` until Ctrl-C or SIGTERM: in this process, or in ``config.workers`` worker processes.

    The port is taken first, so nothing is announced for a server that cannot start: when ``config.port`` is
    busy, a ``fixed_port`` (the user's --port) is an error (exit status 2), another a free port the system
    picks. Then the data is opened, and what is served (and where, and what was skipped) announced."""
    host, workers = config.host, config.workers
    sock = take_port(host, config.port, fixed=fixed_port)
    asked, port = config.port, int(sock.getsockname()[1])
    config = config.model_copy(update={"port": port})
    if workers == 1:
        try:
            with _quiet_skips():
                app = build_app(config)
            announce(app.state.resources, config, asked=asked)
            run_app(app, host=host, port=port, log_level=log_level, sock=sock)
        finally:
            sock.close()
        return
    sock.close()  # uvicorn's worker processes bind the port themselves (free a moment ago: a race is unlikely)
    import uvicorn

    from ..serve._balance import create_balance_file
    from ..serve.app import export_config, open_resources

    balance = create_balance_file()  # the workers even out their keep-alive connections through it
    try:
        export_config(config.model_copy(update={"balance": str(balance)}))  # each worker builds its app from it
        # this process serves no requests: it opens the data only to check it and say what is served
        with _quiet_skips():
            resources = open_resources(config)
        try:
            announce(resources, config, asked=asked)
        finally:
            resources.close()
        uvicorn.run("embspace.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=log_level == "debug")
    finally:
        balance.unlink(missing_ok=True)


@contextmanager
def _quiet_skips() -> Iterator[None]:
    """Without the server's log warnings while it opens the data: the announcement lists what was skipped."""
    import logging

    log = logging.getLogger("embspace.serve")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def take_port(host: str, port: int, *, fixed: bool) -> socket.socket:
    """A socket listening on ``host``: ``port``; when that port is taken, a free one (``fixed=False``) or a
    one-line error and exit status 2 (``fixed``), before anything is announced."""
    import errno

    try:
        return listen(host, port, fallback=not fixed)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            out.error(f"port {port} on {host} is in use (another server listens there): choose another --port, or "
                      f"leave --port out to use {DEFAULT_PORT} or a free port")
        else:
            out.error(f"cannot listen on {host}:{port}: {e.strerror or e} (check --host and --port)")
        raise typer.Exit(2) from None


def announce(resources: Resources, config: ServeConfig, *, asked: int | None = None) -> None:
    """Say where the server is and what it serves: the banner, the projector's and the docs' addresses, CORS,
    then one line for each thing it skipped or serves read-only, and why."""
    host, port = config.host, config.port
    url = base_url(host, port)
    console = out.console
    if asked and asked != port:
        console.print(f"(port {asked} is taken: using {port})", soft_wrap=True)
    console.print(banner(resources, host, port, workers=config.workers, api_key=config.api_key), soft_wrap=True)
    console.print(f"Web projector: [bold]{url}/projector/[/]", soft_wrap=True)
    console.print(f"API docs:      [bold]{url}/docs[/]  (ReDoc: {url}/redoc)", soft_wrap=True)
    if config.cors_origins:
        console.print("CORS: web pages of " + ", ".join(config.cors_origins) + " may call it from a browser",
                      soft_wrap=True, markup=False)
    for name, why in sorted(resources.read_only.items()):
        console.print(f"serving the collection {name!r} read-only: {why}", soft_wrap=True, markup=False)
    skipped = resources.skipped
    for path, why in skipped[:MAX_SKIPPED_LINES]:
        console.print(f"skipped {path}: {why}", soft_wrap=True, markup=False)
    if len(skipped) > MAX_SKIPPED_LINES:
        console.print(f"skipped {len(skipped) - MAX_SKIPPED_LINES} more entries of the data directory",
                      soft_wrap=True)


def lock_advice(error: CollectionLockedError) -> str:
    """A locked collection, in words for the command line: who writes it and what to do (CLI commands, the
    server's endpoints; never Python calls)."""
    from ..store.collection import describe_holder

    holder = error.holder or {}
    path = error.path if error.path is not None else "the collection"
    if holder.get("by") == "embspace serve":
        url, name = holder.get("url"), holder.get("collection")
        via = (f"send the items through the server: POST {url}/collections/{name}/add (or .../upsert, "
               f".../delete; see {url}/docs)") if url and name else "make the change through the server's API"
        return f"embspace serve (pid {holder.get('pid')}) is writing to {path}; retry in a moment, or {via}"
    who = f" ({describe_holder(holder)})" if holder else ""
    return (f"{path} is being written by another process{who}; retry when it is done, or stop it (read-only "
            "commands such as `embspace search` and `embspace collection info` work meanwhile)")


def build_app(config: ServeConfig) -> FastAPI:
    """The API app for ``config``, which is also put in the environment: uvicorn's worker processes
    build their own app from it."""
    from ..serve.app import app_from_env, export_config

    export_config(config)
    return app_from_env()


def banner(resources: Resources, host: str, port: int, *, workers: int = 1, api_key: str | None = None) -> str:
    """One line: where the API listens and what it serves."""
    return (f"embspace API on {base_url(host, port)}  (docs /docs, schema /openapi.json; data "
            f"{resources.data_dir}; {len(resources.names('collection'))} collections, "
            f"{len(resources.names('space'))} spaces, {len(resources.names('recommender'))} recommenders"
            + (f"; {workers} workers, read-only" if workers > 1 else "")
            + ("; API key required" if api_key else "") + ")")


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` (an IPv6 address in brackets; as embspace.serve.app.base_url, without importing
    the server)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listen(host: str, port: int, *, fallback: bool = False) -> socket.socket:
    """A socket listening on ``host``:``port``; with ``fallback``, on a free port the system picks when
    that one is taken (``getsockname()[1]`` says which)."""
    try:
        return _listening(host, port)
    except OSError:
        if not fallback or port == 0:
            raise
        return _listening(host, 0)


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart binds over TIME_WAIT
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def run_app(app: FastAPI, *, host: str, port: int, log_level: str = "info", sock: socket.socket | None = None
            ) -> None:
    """Serve ``app`` in this process (on ``sock`` when given) until Ctrl-C or SIGTERM, then close what it
    serves."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           access_log=log_level == "debug"))
    try:
        server.run(sockets=None if sock is None else [sock])
    except KeyboardInterrupt:  # uvicorn stopped cleanly, then re-raised the Ctrl-C it caught
        pass
    finally:
        app.state.resources.close()
    if not server.started:
        raise typer.Exit(3)  # uvicorn logged why (uvicorn.run exits with its STARTUP_FAILURE, 3, too)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
