"""The server's front door: ``/`` (links to everything below) and the API docs, Swagger UI at ``/docs`` and
ReDoc at ``/redoc``, served offline.

The docs pages' scripts and styles come from the ``fastapi-offline`` package (the ``serve`` extra), which
ships Swagger UI's and ReDoc's release bundles; nothing is fetched from a CDN, so the docs work on a machine
without internet. The pages are plain HTML written here: they fetch ``/openapi.json`` themselves with the API
key when the server has one (asked for once, like the projector, and kept for the browser tab), then hand
the schema to Swagger UI / ReDoc; "Try it out" requests carry the key too. A Content-Security-Policy keeps
the pages from contacting any other host (ReDoc's bundle would fetch its vendor's logo from a CDN: the
image is left out instead).
"""

from __future__ import annotations

import html
import importlib.resources
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from ..._version import __version__
from .._json import JSONRoute
from .._resources import NotFoundError

__all__ = ["ASSETS", "DOCS_CSP", "assets_dir", "links", "router"]

router = APIRouter(route_class=JSONRoute)

#: The docs pages' files, served under ``/docs/assets/`` (from the fastapi-offline package).
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
#: The package that ships them (in the ``serve`` extra).
ASSETS_PACKAGE = "fastapi_offline"


def assets_dir() -> Path | None:
    """Where Swagger UI's and ReDoc's files are (None when the package is missing)."""
    try:
        root = Path(str(importlib.resources.files(ASSETS_PACKAGE) / "static"))
    except ModuleNotFoundError:
        return None
    return root if all((root / name).is_file() for name in ASSETS) else None


def links(root: str = "") -> dict[str, str]:
    """What the server offers, by name: its pages and the endpoints to start from."""
    return {"docs": f"{root}/docs", "redoc": f"{root}/redoc", "openapi": f"{root}/openapi.json",
            "projector": f"{root}/projector/", "health": f"{root}/health", "openai_models": f"{root}/v1/models"}


#: The docs pages reach this server only: images, fonts and requests from here (ReDoc's scripts need eval).
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:")

_TITLES = {"docs": "API docs (Swagger UI: try every endpoint)", "redoc": "API reference (ReDoc)",
           "openapi": "OpenAPI schema (JSON)", "projector": "Web projector (maps of spaces and collections)",
           "health": "Health: what this server serves",
           "openai_models": "OpenAI-compatible API (base URL /v1): its models"}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    """Links to the API docs, the projector and the health check: an HTML page for browsers, JSON otherwise
    (``Accept: application/json``, curl's ``*/*``)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    where = links(root)
    if not _wants_html(request):
        return JSONResponse({"name": "embspace", "version": __version__, "links": where})
    items = "\n".join(f'    <li><a href="{html.escape(url)}">{html.escape(_TITLES[name])}</a> '
                      f'<code>{html.escape(url)}</code></li>' for name, url in where.items())
    return HTMLResponse(_HOME.format(version=html.escape(__version__), items=items))


_HOME = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>embspace API</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:3em auto;padding:0 1em;color:#222}}
code{{color:#666;margin-left:.5em}} li{{margin:.3em 0}}</style></head>
<body>
<h1>embspace API <small>{version}</small></h1>
<ul id="links">
{items}
</ul>
</body>
</html>
"""

# The docs pages. KEY_JS gets the schema with the API key (asked for on a 401, as the projector does: kept in
# sessionStorage under the same name, or given as #key=... in the address) and adds the key to every request.
_KEY_JS = """
const KEY = "embspace-key";
const hashKey = new URLSearchParams(location.hash.slice(1)).get("key");
if (hashKey) { sessionStorage.setItem(KEY, hashKey); history.replaceState(null, "", location.pathname); }
function withKey(headers) {
  const key = sessionStorage.getItem(KEY);
  if (key && !headers["Authorization"] && !headers["X-API-Key"]) headers["X-API-Key"] = key;
  return headers;
}
async function loadSchema(url) {
  for (;;) {
    const r = await fetch(url, {headers: withKey({})});
    if (r.status === 401) {
      const key = prompt("This server needs its API key:");
      if (key) { sessionStorage.setItem(KEY, key); continue; }
    }
    if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
    return r.json();
  }
}
function fail(e) {
  const p = document.createElement("pre");
  p.id = "docs-error"; p.textContent = String(e);
  document.body.prepend(p);
}
"""

_SWAGGER = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css"></head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
{key_js}
loadSchema({openapi}).then(spec => {{
  window.ui = SwaggerUIBundle({{
    spec, dom_id: "#swagger-ui", deepLinking: true, showExtensions: true, showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout",
    requestInterceptor: req => {{ req.headers = withKey(req.headers || {{}}); return req; }},
  }});
}}).catch(fail);
</script>
</body>
</html>
"""

_REDOC = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<style>body{{margin:0;padding:0}}</style></head>
<body>
<div id="redoc"></div>
<script src="{assets}/redoc.standalone.js"></script>
<script>
{key_js}
loadSchema({openapi}).then(spec => Redoc.init(spec, {{}}, document.getElementById("redoc"))).catch(fail);
</script>
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API docs unavailable</title></head>
<body><p>The API docs' files are not installed: <code>pip install 'embspace[serve]'</code> (it brings
<code>fastapi-offline</code>, which ships Swagger UI and ReDoc). The schema is at
<a href="{openapi}">{openapi}</a>.</p></body></html>
"""


def _page(request: Request, template: str, kind: str) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    openapi = f"{root}{request.app.openapi_url or '/openapi.json'}"
    if assets_dir() is None:
        return HTMLResponse(_MISSING.format(openapi=html.escape(openapi)), status_code=501)
    values: dict[str, Any] = {"title": html.escape(f"{request.app.title} API - {kind}"),
                              "assets": html.escape(f"{root}/docs/assets"),
                              "openapi": json.dumps(openapi).replace("<", "\\u003c"), "key_js": _KEY_JS}
    return HTMLResponse(template.format(**values), headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over the API's schema (every endpoint, with "Try it out")."""
    return _page(request, _SWAGGER, "Swagger UI")


@router.get("/redoc", include_in_schema=False)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over the API's schema (a reference to read)."""
    return _page(request, _REDOC, "ReDoc")


@router.get("/docs/assets/{name}", include_in_schema=False)
def docs_asset(name: str) -> FileResponse:
    """One of the docs pages' files (a fixed list; never a path a client chose)."""
    root = assets_dir()
    if name not in ASSETS or root is None:
        raise NotFoundError(f"no docs file {name!r}")
    return FileResponse(root / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})
