"""What ``embspace serve`` serves and how: :class:`ServeConfig`, whose validators are the serving safety rules.

The rules (an API key of at least :data:`MIN_API_KEY` characters; any address but loopback only with a key;
several worker processes only over read-only data; cross-origin browser calls only from the origins named,
and from any origin only with a key) belong to the library, so every way of starting a
server — the CLI, the demo, a worker process reading its configuration from the environment, a user's
own code — obeys the same ones. :func:`problems` words a refused configuration for the caller: the CLI
names its flags (``--api-key``), Python callers see the fields (``api_key``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._balance import SLOTS

__all__ = ["CONFIG_ENV", "DEFAULT_MAX_BODY", "DEFAULT_MAX_ENCODES", "DEFAULT_MAX_ENCODE_CHARS", "DEFAULT_MAX_PENDING",
           "MIN_API_KEY", "ServeConfig", "is_loopback", "problems"]

#: The largest request body accepted by default (bytes): 10,000 384-d vectors as JSON fit.
DEFAULT_MAX_BODY: Final = 64 * 1024 * 1024
#: Requests in flight at most (``/health`` and the public pages not counted); one more gets 503 ``busy``.
DEFAULT_MAX_PENDING: Final = 256
#: Characters of text one ``/encode`` or ``/v1/embeddings`` request may carry, all texts together.
DEFAULT_MAX_ENCODE_CHARS: Final = 1_000_000
#: Encodes running at once (each uses every core already); one more gets 503 ``busy``.
DEFAULT_MAX_ENCODES: Final = 4
#: The shortest API key accepted (characters).
MIN_API_KEY: Final = 16
#: The environment variable holding a :class:`ServeConfig` as JSON, for :func:`~embspace.serve.app_from_env`.
CONFIG_ENV: Final = "EMBSPACE_SERVE_CONFIG"

#: How a rule's message names each field, for Python callers (the CLI passes its flags to :func:`problems`).
FIELD_NAMES: Final[Mapping[str, str]] = {"api_key": "api_key", "host": "host", "readonly": "readonly=True",
                                         "workers": "workers", "max_body": "max_body",
                                         "cors_origins": "cors_origins", "allowed_hosts": "allowed_hosts"}
#: The rules' messages; ``{field}`` is replaced by the caller's name of that field.
_RULES: Final[Mapping[str, str]] = {
    "api_key_too_short": f"the API key is too short ({{length}} characters): use at least {MIN_API_KEY} (e.g. "
                         "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"`)",
    "public_without_key": "refusing to listen on {address} without an API key: anyone who can reach it could read "
                          "and change your collections. Give {api_key}, or listen on 127.0.0.1",
    "workers_need_readonly": "{workers_given} workers serve read-only data: add {readonly} (one process writes a "
                             "collection)",
    "bad_origin": "{cors_origins}: {origin!r} is not an origin: give scheme://host[:port] with no path, e.g. "
                  "http://localhost:3000 (or '*' for any origin, with an API key)",
    "bad_host": "{allowed_hosts}: {given_host!r} is not a host name: give a name or an address without scheme, port or "
                "path, e.g. myhost.local or 192.168.1.5",
    "any_origin_without_key": "{cors_origins} '*' would let every web page you visit call this server and read "
                              "your collections: give {api_key} too, or name the origins",
}
#: An origin as browsers send it: scheme://host[:port] (no path, no trailing slash).
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9_.-]+)$")
_ORIGIN = re.compile(r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _rule(name: str, **values: object) -> PydanticCustomError:
    message = _RULES[name].format_map({**FIELD_NAMES, **{k: str(v) for k, v in values.items()}})
    return PydanticCustomError(f"serve_{name}", message, {"rule": name, **values})


class ServeConfig(BaseModel):
    """What a server serves and how (passed to worker processes as JSON).

    Validation enforces the serving safety rules: ``api_key`` has at least :data:`MIN_API_KEY` characters;
    a ``host`` other than loopback needs an ``api_key``; ``workers`` > 1 needs ``readonly`` (a collection has
    one writing process); each of ``cors_origins`` is an origin (``scheme://host[:port]``), and ``"*"``
    (any origin) needs an ``api_key``; each of ``allowed_hosts`` is a host name or address (no scheme, port
    or path). A refused configuration raises :class:`pydantic.ValidationError`;
    :func:`problems` words it.

    Examples
    --------
    >>> ServeConfig(data_dir="data").host
    '127.0.0.1'
    >>> from pydantic import ValidationError
    >>> try:
    ...     ServeConfig(data_dir="data", host="0.0.0.0")
    ... except ValidationError as e:
    ...     print(problems(e)[0][:49])
    refusing to listen on 0.0.0.0 without an API key:
    """

    model_config = ConfigDict(extra="forbid")

    data_dir: str
    paths: list[str] = []
    encoder: str = "minilm"
    readonly: bool = False
    api_key: str | None = None
    max_body: int = Field(default=DEFAULT_MAX_BODY, ge=1, description="the largest request body, in bytes")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=SLOTS, description="server processes sharing the port")
    balance: str | None = None  # the workers' shared balance file (serve._balance), when there are several
    cors_origins: list[str] = Field(default=[], description="origins whose web pages may call the API from a "
                                    "browser (CORS); '*' for any (needs an API key); none by default")
    max_pending: int = Field(default=DEFAULT_MAX_PENDING, ge=1, description="requests in flight at most (/health "
                             "not counted); one more gets 503 busy with Retry-After")
    max_encode_chars: int = Field(default=DEFAULT_MAX_ENCODE_CHARS, ge=1, description="characters of text one "
                                  "/encode or /v1/embeddings request may carry (413 beyond)")
    max_encodes: int = Field(default=DEFAULT_MAX_ENCODES, ge=1, description="text encodes running at once; one "
                             "more gets 503 busy with Retry-After")
    allowed_hosts: list[str] = Field(default=[], description="names the server answers to (Host headers) besides "
                                     "the loopback names and its address; a request addressed to another name is "
                                     "refused (421), against DNS rebinding")

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        out = []
        for name in hosts:
            name = name.strip().lower().rstrip(".")
            if not name or not _HOST.match(name):
                raise _rule("bad_host", given_host=name)
            if name not in out:
                out.append(name)
        return out

    @field_validator("api_key")
    @classmethod
    def _long_enough(cls, key: str | None) -> str | None:
        if key is not None and len(key) < MIN_API_KEY:
            raise _rule("api_key_too_short", length=len(key))
        return key

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        out = []
        for origin in origins:
            origin = origin.strip().rstrip("/")
            if origin != "*" and not _ORIGIN.match(origin):
                raise _rule("bad_origin", origin=origin)
            if origin not in out:
                out.append(origin)
        return out

    @model_validator(mode="after")
    def _safe(self) -> ServeConfig:
        if not self.api_key and not is_loopback(self.host):
            raise _rule("public_without_key", address=self.host)
        if self.workers > 1 and not self.readonly:
            raise _rule("workers_need_readonly", workers_given=self.workers)
        if "*" in self.cors_origins and not self.api_key:
            raise _rule("any_origin_without_key")
        return self


def problems(error: ValidationError, names: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with a refused :class:`ServeConfig`, one sentence each, naming each field as ``names``
    does (e.g. ``{"api_key": "--api-key"}`` for a command line; the field names by default)."""
    spell = {**FIELD_NAMES, **(names or {})}
    out = []
    for err in error.errors():
        ctx = err.get("ctx") or {}
        rule = str(ctx.get("rule"))
        if rule in _RULES:
            out.append(_RULES[rule].format_map({**spell, **{k: str(v) for k, v in ctx.items()}}))
        else:
            field = ".".join(str(x) for x in err["loc"])
            out.append(f"{spell.get(field, field)}: {err['msg']}" if field else str(err["msg"]))
    return out
