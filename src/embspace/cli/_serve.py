"""``embspace serve``: the HTTP API over collections, spaces and recommenders."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _output as out

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..serve import Resources, ServeConfig

API_KEY_ENV = "EMBSPACE_API_KEY"
#: How the messages of a refused ServeConfig name its fields: by the flags that set them.
FLAGS = {"api_key": f"--api-key (or set {API_KEY_ENV})", "host": "--host", "readonly": "--readonly",
         "workers": "--workers", "max_body": "--max-body-mb", "port": "--port", "encoder": "--encoder",
         "data_dir": "--data-dir"}


def serve(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Collections, spaces, recommender models, or directories of them (default: the data directory).")]
    = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind; anything but loopback needs an API key.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")] = 8000,
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
) -> None:
    """Serve the HTTP API (OpenAPI schema at /openapi.json, docs at /docs)."""
    from pydantic import ValidationError

    from ..serve import ServeConfig, default_data_dir
    from ..serve.config import problems

    try:
        config = ServeConfig(data_dir=str(data_dir or default_data_dir()), paths=[str(p) for p in paths or []],
                             encoder=encoder, readonly=readonly, api_key=api_key,
                             max_body=int(max_body_mb * 1024 * 1024), host=host, port=port, workers=workers)
    except ValidationError as e:  # the serving safety rules (ServeConfig's validators), in terms of our flags
        for message in problems(e, FLAGS):
            out.error(message)
        raise typer.Exit(2) from None
    serve_config(config, log_level=log_level)


def serve_config(config: ServeConfig, *, log_level: str = "info") -> None:
    """Serve ``config`` until Ctrl-C or SIGTERM: in this process, or in ``config.workers`` worker processes."""
    host, port, workers, api_key = config.host, config.port, config.workers, config.api_key
    if workers == 1:
        app = build_app(config)
        out.console.print(banner(app.state.resources, host, port, api_key=api_key))
        run_app(app, host=host, port=port, log_level=log_level)
        return
    import uvicorn

    from ..serve._balance import create_balance_file
    from ..serve.app import export_config, open_resources

    balance = create_balance_file()  # the workers even out their keep-alive connections through it
    try:
        export_config(config.model_copy(update={"balance": str(balance)}))  # each worker builds its app from it
        # this process serves no requests: it opens the data only to check it and say what is served
        resources = open_resources(config)
        try:
            out.console.print(banner(resources, host, port, workers=workers, api_key=api_key))
        finally:
            resources.close()
        uvicorn.run("embspace.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=log_level == "debug")
    finally:
        balance.unlink(missing_ok=True)


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
