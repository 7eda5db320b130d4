from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_connections
from pipeline.errors import ConfigError
from pipeline.settings import Settings

GOOD = """
[merchants.acme.provider]
kind = "smile"
credential_env = "ACME_SMILE"
base_url = "http://127.0.0.1:9/v1"

[[merchants.acme.platforms]]
kind = "postscript"
credential_env = "ACME_PS"
unknown_subscriber = "skip"
"""
ENV = {"ACME_SMILE": "smile-secret-value", "ACME_PS": "sk_secret_value"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connections.toml"
    path.write_text(text)
    return path


def test_loads_a_valid_file_with_defaults(tmp_path: Path) -> None:
    conns = load_connections(write(tmp_path, GOOD), ENV)
    acme = conns["acme"]
    assert acme.provider.base_url == "http://127.0.0.1:9/v1"
    assert acme.provider.rate_per_s is None  # the documented limits apply (ratelimit/limits.py)
    assert acme.provider.credential.reveal() == "smile-secret-value"
    ps = acme.platform("postscript")
    assert ps.base_url == "https://api.postscript.io"
    assert ps.rate_per_s is None
    assert ps.unknown_subscriber == "skip"
    assert ps.rate_scale == 1.0 and acme.provider.rate_scale == 1.0


def test_rate_scale_is_read_and_checked(tmp_path: Path) -> None:
    text = GOOD.replace('kind = "postscript"', 'kind = "postscript"\nrate_scale = 4')
    assert load_connections(write(tmp_path, text), ENV)["acme"].platform("postscript").rate_scale == 4.0
    with pytest.raises(ConfigError, match=r"platforms\[0\]\.rate_scale.*greater than 0"):
        load_connections(write(tmp_path, GOOD.replace('kind = "postscript"', 'kind = "postscript"\nrate_scale = 0')), ENV)


def test_secrets_never_show_in_reprs(tmp_path: Path) -> None:
    conns = load_connections(write(tmp_path, GOOD), ENV)
    text = repr(conns) + str(conns["acme"].provider.credential)
    assert "smile-secret-value" not in text and "sk_secret_value" not in text


@pytest.mark.parametrize(("text", "env", "key", "fragment"), [
    (GOOD, {"ACME_SMILE": "x"}, "merchants.acme.platforms[0].credential_env", "ACME_PS is not set"),
    (GOOD.replace('kind = "smile"', 'kind = "smiley"'), ENV, "merchants.acme.provider.kind", "unknown kind 'smiley'"),
    (GOOD.replace("http://127.0.0.1:9/v1", "ftp://x"), ENV, "merchants.acme.provider.base_url", "http(s) URL"),
    (GOOD.replace('"skip"', '"maybe"'), ENV, "merchants.acme.platforms[0].unknown_subscriber", "must be one of"),
    (GOOD.replace('credential_env = "ACME_SMILE"', 'api_key = "inline"'), ENV, "merchants.acme.provider",
     "unknown key(s) api_key"),
    (GOOD + "\n[merchants.acme.extra]\n", ENV, "merchants.acme", "unknown key(s) extra"),
    ("[merchants]\n", ENV, "merchants", "declares no merchant"),
])
def test_errors_name_file_key_and_problem(tmp_path: Path, text: str, env: dict[str, str], key: str,
                                          fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_connections(path, env)
    message = str(info.value)
    assert str(path) in message and key in message and fragment in message


def test_malformed_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[merchants.acme\nkind=")
    with pytest.raises(ConfigError, match=r"connections.toml: not valid TOML: .*line 1"):
        load_connections(path, ENV)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_connections(tmp_path / "nope.toml", ENV)


def test_settings_from_env() -> None:
    s = Settings.from_env({"REDIS_URL": "redis://h:1/2", "DELIVERY_BATCH_SIZE": "50"})
    assert s.broker_url == "redis://h:1/2" and s.delivery_batch_size == 50
    with pytest.raises(ConfigError, match="DELIVERY_BATCH_SIZE: expected int, got 'many'"):
        Settings.from_env({"DELIVERY_BATCH_SIZE": "many"})
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env({"REDIS_URL": "http://nope"})


def test_web_timeouts_are_settings_checked_at_start() -> None:
    settings = Settings.from_env({"WEBHOOK_READ_TIMEOUT_S": "5", "METRICS_CACHE_S": "0"})
    assert (settings.webhook_read_timeout_s, settings.metrics_cache_s) == (5.0, 0.0)
    assert (Settings().webhook_read_timeout_s, Settings().metrics_cache_s) == (20.0, 10.0)
    with pytest.raises(ConfigError, match="WEBHOOK_READ_TIMEOUT_S: expected float, got 'soon'"):
        Settings.from_env({"WEBHOOK_READ_TIMEOUT_S": "soon"})
    with pytest.raises(ConfigError, match="WEBHOOK_READ_TIMEOUT_S: must be positive"):
        Settings.from_env({"WEBHOOK_READ_TIMEOUT_S": "0"})
