"""Property-based tests of the HTTP API against its own OpenAPI schema (schemathesis): whatever a client
sends — valid, boundary or malformed requests generated from the schema — the server never fails (no 5xx)
and answers as its schema says (schemathesis's checks)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from serve_testing import build_world, tiny_encoder

from embspace.serve import create_app

KEY = "schemathesis-test-key-0123456789"
EXAMPLES = 60  # per operation: ~27 operations -> well over 1,000 requests
CALLS: list[int] = []


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    root = tmp_path_factory.mktemp("schemathesis")
    app = create_app(build_world(root, tiny_encoder(root / "enc")), api_key=KEY)
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"X-API-Key": KEY})
    # valid requests and malformed ones (wrong types, missing fields, out-of-range values)
    loaded.config.generation.update(modes=list(schemathesis.GenerationMode))
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


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
