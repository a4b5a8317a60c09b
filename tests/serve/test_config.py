"""ServeConfig: the serving safety rules are its validators, worded for Python and for the command line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from embspace.serve import ServeConfig
from embspace.serve.config import CONFIG_ENV, MIN_API_KEY, is_loopback, problems

KEY = "k" * MIN_API_KEY


def refused(**kwargs: object) -> list[str]:
    with pytest.raises(ValidationError) as info:
        ServeConfig(data_dir="data", **kwargs)  # type: ignore[arg-type]
    return problems(info.value)


def test_defaults_serve_loopback_in_one_process() -> None:
    cfg = ServeConfig(data_dir="data")
    assert (cfg.host, cfg.port, cfg.workers, cfg.readonly, cfg.api_key) == ("127.0.0.1", 8000, 1, False, None)
    assert ServeConfig.model_validate_json(cfg.model_dump_json()) == cfg  # how workers receive it ($CONFIG_ENV)
    assert CONFIG_ENV == "EMBSPACE_SERVE_CONFIG"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost"])
def test_loopback_needs_no_key(host: str) -> None:
    assert is_loopback(host)
    assert ServeConfig(data_dir="data", host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_any_other_address_needs_a_key(host: str) -> None:
    assert not is_loopback(host)
    (message,) = refused(host=host)
    assert message.startswith(f"refusing to listen on {host} without an API key") and "api_key" in message
    assert ServeConfig(data_dir="data", host=host, api_key=KEY).api_key == KEY


def test_the_api_key_has_at_least_16_characters() -> None:
    (message,) = refused(api_key=KEY[:-1])
    assert f"too short ({MIN_API_KEY - 1} characters)" in message and f"at least {MIN_API_KEY}" in message
    assert ServeConfig(data_dir="data", api_key=KEY).api_key == KEY
    (message,) = refused(host="0.0.0.0", api_key="short")  # a short key is no key for a public address either
    assert "too short" in message


def test_several_workers_serve_read_only_data() -> None:
    (message,) = refused(workers=2)
    assert message == "2 workers serve read-only data: add readonly=True (one process writes a collection)"
    assert ServeConfig(data_dir="data", workers=2, readonly=True).workers == 2
    assert refused(workers=0) == ["workers: Input should be greater than or equal to 1"]
    assert refused(workers=65, readonly=True) == ["workers: Input should be less than or equal to 64"]


def test_limits_and_unknown_fields_are_refused() -> None:
    assert refused(max_body=0) == ["max_body: Input should be greater than or equal to 1"]
    assert refused(port=70000) == ["port: Input should be less than or equal to 65535"]
    assert refused(apikey=KEY) == ["apikey: Extra inputs are not permitted"]


def test_problems_name_fields_as_the_caller_does() -> None:
    flags = {"api_key": "--api-key", "readonly": "--readonly", "workers": "--workers"}
    with pytest.raises(ValidationError) as info:
        ServeConfig(data_dir="data", host="0.0.0.0")
    assert problems(info.value, flags)[0].endswith("Give --api-key, or listen on 127.0.0.1")
    with pytest.raises(ValidationError) as info:
        ServeConfig(data_dir="data", workers=3)
    assert problems(info.value, flags) == ["3 workers serve read-only data: add --readonly (one process writes a "
                                           "collection)"]
    with pytest.raises(ValidationError) as info:
        ServeConfig(data_dir="data", workers=0)
    assert problems(info.value, flags) == ["--workers: Input should be greater than or equal to 1"]
