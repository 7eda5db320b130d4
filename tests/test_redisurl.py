"""Redis URLs, plain and Sentinel: parsing, validation in Settings, the Celery broker settings, and a
real redis-py client built from each (a Sentinel client against a real redis-sentinel when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis
from kombu import Connection

from pipeline.errors import ConfigError
from sandbox.localredis import free_port
from pipeline.redisurl import broker_options, connect, parse_sentinel_url
from pipeline.settings import Settings
from workers.config import BROKER_SOCKET_TIMEOUT_S, VISIBILITY_TIMEOUT_S, celery_config


def test_comma_spelling_names_every_sentinel_the_primary_and_the_passwords() -> None:
    t = parse_sentinel_url("sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,[::1]/2"
                           "?master_name=lp-main&sentinel_password=sent1nel")
    assert t.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26379))
    assert (t.master_name, t.db, t.password, t.sentinel_password) == ("lp-main", 2, "s3cret", "sent1nel")
    assert t.primary_kwargs() == {"db": 2, "password": "s3cret"}
    assert t.sentinel_kwargs()["password"] == "sent1nel"
    assert "s3cret" not in repr(t) and "sent1nel" not in repr(t)


def test_celerys_semicolon_spelling_is_accepted() -> None:
    t = parse_sentinel_url("sentinel://h1:26379;sentinel://h2:26379;sentinel://h3/1?master_name=mymaster")
    assert t.sentinels == (("h1", 26379), ("h2", 26379), ("h3", 26379))
    assert (t.master_name, t.db) == ("mymaster", 1)


@pytest.mark.parametrize("url, problem", [
    ("sentinel://h1:26379", "master_name"),
    ("sentinel://h1:26379?master_name=m&mastername=x", "unknown sentinel URL parameter 'mastername'"),
    ("sentinel://h1:port?master_name=m", "not a number"),
    ("sentinel://h1/zero?master_name=m", "database number"),
    ("sentinel://h1?master_name=m;redis://h2", "every ';'-separated part"),
    ("sentinel://:pw@?master_name=m", "host is empty"),
])
def test_a_malformed_sentinel_url_stops_the_process_naming_the_variable(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"REDIS_URL": url})
    assert str(err.value).startswith("REDIS_URL: ") and problem in str(err.value)
    assert "pw" not in str(err.value)


def test_unknown_schemes_are_still_refused_without_showing_the_password() -> None:
    with pytest.raises(ConfigError, match="BROKER_URL: unsupported URL scheme 'http'") as err:
        Settings.from_env({"BROKER_URL": "http://user:hunter2@host/"})
    assert "hunter2" not in str(err.value)
    # a password in the query (a misspelt Sentinel scheme) is not shown either
    with pytest.raises(ConfigError, match="unsupported URL scheme 'redis\\+sentinel'") as err:
        Settings.from_env({"REDIS_URL": "redis+sentinel://h1:26379/0?master_name=lp&sentinel_password=sp-hunter3"})
    assert "hunter3" not in str(err.value)
    assert Settings.from_env({"BROKER_URL": "amqp://guest@rabbit//"}).broker_url.startswith("amqp://")


def test_a_sentinel_broker_becomes_kombus_sentinel_transport_with_the_visibility_timeout() -> None:
    url = "sentinel://:pw@h1:26379,h2:26380/3?master_name=lp&sentinel_password=sp"
    config = celery_config(Settings.from_env({"REDIS_URL": url}))
    assert config["broker_url"] == "sentinel://:pw@h1:26379/3;sentinel://:pw@h2:26380/3"
    options = config["broker_transport_options"]
    assert options["master_name"] == "lp" and options["sentinel_kwargs"]["password"] == "sp"
    assert options["visibility_timeout"] == VISIBILITY_TIMEOUT_S
    # kombu itself reads the spelling: every sentinel becomes an alternate, the db is the virtual host
    conn = Connection(config["broker_url"], transport_options=options)
    assert conn.transport_cls == "sentinel" and len(conn.alt) == 2 and conn.virtual_host == "3"
    assert celery_config(Settings.from_env({"REDIS_URL": "redis://r:6379/0"}))["broker_transport_options"] == {
        "visibility_timeout": VISIBILITY_TIMEOUT_S, "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S, "max_connections": 2048}  # REDIS_MAX_CONNECTIONS


@pytest.mark.redis
def test_broker_commands_time_out_but_outlast_kombus_blocking_read(redis_url: str) -> None:
    """A half-open broker fails a publish instead of holding it forever; the workers' BRPOP
    (answered by the server within kombu's ``brpop_timeout``) never hits the socket timeout."""
    config = celery_config(Settings.from_env({"REDIS_URL": redis_url}))
    with Connection(config["broker_url"], transport_options=config["broker_transport_options"]) as conn:
        channel = conn.default_channel
        kwargs = channel.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == BROKER_SOCKET_TIMEOUT_S
        assert BROKER_SOCKET_TIMEOUT_S > channel.brpop_timeout + 1  # margin for a loaded server
        queue = conn.SimpleQueue("lp-test-brpop")
        queue.put({"n": 1})
        assert queue.get(timeout=BROKER_SOCKET_TIMEOUT_S).payload == {"n": 1}
        queue.close()


def test_tls_reaches_both_the_state_client_and_the_broker() -> None:
    t = parse_sentinel_url("sentinel://h1/0?master_name=m&ssl=true&socket_timeout=2.5")
    assert t.primary_kwargs() == {"db": 0, "ssl": True, "socket_timeout": 2.5}
    assert broker_options("sentinel://h1/0?master_name=m&ssl=true")["broker_use_ssl"]["ssl_cert_reqs"] is not None
    assert "broker_use_ssl" not in broker_options("sentinel://h1/0?master_name=m")


def test_plain_urls_pass_through() -> None:
    assert broker_options("redis://r:6379/1") == {"broker_url": "redis://r:6379/1", "broker_transport_options": {}}
    client = connect("redis://127.0.0.1:1/4")
    assert client.connection_pool.connection_kwargs["db"] == 4


@pytest.mark.redis
def test_connect_reaches_the_primary_a_real_sentinel_names(tmp_path: Path) -> None:
    if shutil.which("redis-sentinel") is None:  # scripts/test installs it: in CI its absence is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs Debian's redis-sentinel")
    primary, sentinel = free_port(), free_port()
    procs = [subprocess.Popen(["redis-server", "--port", str(primary), "--bind", "127.0.0.1", "--save", "",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor lp 127.0.0.1 {primary} 1\n")
    procs.append(subprocess.Popen(["redis-sentinel", str(conf)], stdout=subprocess.DEVNULL))
    try:
        client = connect(f"sentinel://127.0.0.1:{sentinel}/5?master_name=lp")
        deadline = time.monotonic() + 20
        while True:
            try:
                client.set("lp:test:sentinel", "1")
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        direct = redis.Redis(port=primary, db=5)
        assert direct.get("lp:test:sentinel") == b"1"  # written to the primary, in the URL's db
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
