"""Property-based tests of the HTTP API against its own OpenAPI schema (schemathesis): whatever a client
sends — valid, boundary or malformed requests generated from the schema — the server never fails (no 5xx)
and answers as its schema says (schemathesis's checks). Twice: a server with an API key, and one without
(loopback clients only, Host allow-list and Origin check on: the server `embspace serve` starts by default)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from serve_testing import LOCAL, LOOPBACK, build_world, tiny_encoder

from embspace.serve import create_app

KEY = "schemathesis-test-key-0123456789"
EXAMPLES = 60  # per operation: ~27 operations -> well over 1,000 requests
#: Per operation on the server without a key: fewer (the default suite stays fast), still over 500 requests.
EXAMPLES_OPEN = 5
CALLS: list[int] = []
CALLS_OPEN: list[int] = []


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    root = tmp_path_factory.mktemp("schemathesis")
    app = create_app(build_world(root, tiny_encoder(root / "enc")), api_key=KEY)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"X-API-Key": KEY})
    # valid requests and malformed ones (wrong types, missing fields, out-of-range values)
    loaded.config.generation.update(modes=list(schemathesis.GenerationMode))
    _size_refusals_reject(loaded)
    return loaded


def _size_refusals_reject(loaded: schemathesis.BaseSchema) -> None:
    """A body too big for what the route takes is refused by its size before it is parsed (413: the server's
    body limit, or the encode limit on the routes that take only texts): a rejection of invalid data too,
    outside schemathesis's default list of rejecting statuses (its own advice for such a server)."""
    rejection = loaded.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]


schema = schemathesis.pytest.from_fixture("api_schema")


def _from_loopback(app: Any) -> Any:
    """``app`` reached from 127.0.0.1, as `embspace serve` without a key is by its local user (schemathesis's
    ASGI client says it is "testclient", which such a server refuses as a remote client)."""

    async def reached(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": LOOPBACK}
        await app(scope, receive, send)

    return reached


@pytest.fixture(scope="module")
def api_schema_open(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    root = tmp_path_factory.mktemp("schemathesis-open")
    app = _from_loopback(create_app(build_world(root, tiny_encoder(root / "enc"))))  # no key
    # addressed as http://127.0.0.1:8000 (the Host allow-list refuses schemathesis's default "testserver")
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Host": LOCAL.split("//")[1]})
    loaded.config.generation.update(modes=list(schemathesis.GenerationMode))
    _size_refusals_reject(loaded)
    return loaded


schema_open = schemathesis.pytest.from_fixture("api_schema_open")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_no_server_errors(case: schemathesis.Case) -> None:
    # every check (status codes, headers and bodies as the schema says, 405 with Allow, ...) but the one that
    # wants every schema-valid request accepted: a valid body may name an unknown key or encoder (404, 422)
    response = case.call_and_validate(headers={"X-API-Key": KEY},
                                      excluded_checks=[schemathesis.checks.positive_data_acceptance])
    CALLS.append(response.status_code)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"


def test_enough_requests_were_generated() -> None:
    if not CALLS:
        pytest.skip("run together with test_no_server_errors")
    print(f"schemathesis: {len(CALLS)} requests, statuses {sorted(set(CALLS))}")
    assert len(CALLS) >= 1000, len(CALLS)
    assert max(CALLS) < 500
    assert any(200 <= c < 300 for c in CALLS) and any(400 <= c < 500 for c in CALLS)


@schema_open.parametrize()
@settings(max_examples=EXAMPLES_OPEN, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@pytest.mark.filterwarnings("ignore")
def test_no_server_errors_without_a_key(case: schemathesis.Case) -> None:
    # the same checks as with a key, on the server without one, from a loopback client
    response = case.call_and_validate(base_url=LOCAL, excluded_checks=[schemathesis.checks.positive_data_acceptance])
    CALLS_OPEN.append(response.status_code)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"


def test_enough_requests_were_generated_without_a_key() -> None:
    if not CALLS_OPEN:
        pytest.skip("run together with test_no_server_errors_without_a_key")
    print(f"schemathesis without a key: {len(CALLS_OPEN)} requests, statuses {sorted(set(CALLS_OPEN))}")
    assert len(CALLS_OPEN) >= 500, len(CALLS_OPEN)
    assert max(CALLS_OPEN) < 500
    assert any(200 <= c < 300 for c in CALLS_OPEN) and any(400 <= c < 500 for c in CALLS_OPEN)
    assert CALLS_OPEN.count(403) + CALLS_OPEN.count(421) < len(CALLS_OPEN) // 2  # served, not refused wholesale
