"""``embspace serve``: the HTTP API over collections, spaces and recommenders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from . import _output as out

API_KEY_ENV = "EMBSPACE_API_KEY"


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
    from ..serve import default_data_dir
    from ..serve.app import is_loopback

    if api_key is not None and len(api_key) < 16:
        out.error("the API key is too short: use at least 16 characters (e.g. `python -c \"import secrets; "
                  "print(secrets.token_urlsafe(32))\"`)")
        raise typer.Exit(2)
    if not is_loopback(host) and not api_key:
        out.error(f"refusing to listen on {host} without an API key: anyone who can reach it could read and change "
                  f"your collections. Give --api-key (or set {API_KEY_ENV}), or bind 127.0.0.1.")
        raise typer.Exit(2)
    if workers > 1 and not readonly:
        out.error("several workers serve read-only: add --readonly (a collection has one writing process)")
        raise typer.Exit(2)
    import uvicorn

    from ..serve.app import CONFIG_ENV, ServeConfig, app_from_env

    config = ServeConfig(data_dir=str(data_dir or default_data_dir()), paths=[str(p) for p in paths or []],
                         encoder=encoder, readonly=readonly, api_key=api_key,
                         max_body=int(max_body_mb * 1024 * 1024))
    os.environ[CONFIG_ENV] = config.model_dump_json()  # what each worker process builds its app from
    app = app_from_env()
    resources = app.state.resources
    shown = f"[{host}]" if ":" in host else host
    out.console.print(f"embspace API on http://{shown}:{port}  (docs /docs, schema /openapi.json; data "
                      f"{resources.data_dir}; {len(resources.names('collection'))} collections, "
                      f"{len(resources.names('space'))} spaces, {len(resources.names('recommender'))} recommenders"
                      + (f"; {workers} workers, read-only" if workers > 1 else "")
                      + ("; API key required" if api_key else "") + ")")
    try:
        if workers > 1:
            resources.close()  # the workers open their own
            uvicorn.run("embspace.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                        log_level=log_level, access_log=log_level == "debug")
        else:
            uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
    finally:
        resources.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
