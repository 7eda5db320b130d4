"""The web process is deployed the same way everywhere (issue 12, issue 15): gunicorn with
``workers/gunicorn_conf.py`` (gevent, two listeners), and the operational port (/metrics, /readyz)
never reachable from the public side: loopback, or a pod port in no Service."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from workers.listeners import listeners

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
WEB_ARGV = ["gunicorn", "-c", "python:workers.gunicorn_conf", "workers.web:application"]
DEFAULT = listeners({})


def _web_argvs() -> dict[str, list[str]]:
    procfile = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in (ROOT / "Procfile").read_text().splitlines()
                if ":" in line}
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["web"]
    k8s = next(d for d in yaml.safe_load_all((DEPLOY / "k8s" / "web.yaml").read_text()) if d["kind"] == "Deployment")
    unit = (DEPLOY / "systemd" / "loyalty-pipeline-web.service").read_text()
    exec_start = shlex.split(re.search(r"^ExecStart=(.+)$", unit, re.MULTILINE)[1])
    return {"Procfile": shlex.split(procfile["web"]), "compose": compose["command"],
            "k8s": k8s["spec"]["template"]["spec"]["containers"][0]["args"],
            "systemd": [Path(exec_start[0]).name, *exec_start[1:]]}


def test_every_deployment_runs_the_web_process_with_the_shared_settings() -> None:
    assert {where: argv for where, argv in _web_argvs().items() if argv != WEB_ARGV} == {}


def test_the_shared_settings_use_gevent_and_bind_both_listeners() -> None:
    text = (ROOT / "workers" / "gunicorn_conf.py").read_text()
    assert re.search(r'^worker_class = "gevent"$', text, re.MULTILINE)
    assert re.search(r"^preload_app = True$", text, re.MULTILINE)
    assert re.search(r"^bind = _listen.binds$", text, re.MULTILINE)
    assert DEFAULT.binds == ["0.0.0.0:8000", "127.0.0.1:9180"]  # operational: loopback unless told otherwise


def test_compose_publishes_the_ops_port_on_loopback_only() -> None:
    web = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["web"]
    env: dict[str, Any] = web["environment"]
    ops = str(env["OPS_PORT"])
    published = [str(p) for p in web["ports"]]
    assert [p for p in published if p.endswith(f":{ops}")] == [f"127.0.0.1:{ops}:{ops}"]
    assert f"{env['PORT']}:{env['PORT']}" in published
    assert "CONNECTIONS_FILE" in env and "REDIS_URL" in env  # the service's own map replaces the anchor's


def test_k8s_exposes_only_the_public_port_through_its_service() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "web.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert ports == {"http": int(env["PORT"]), "ops": int(env["OPS_PORT"])}
    service = next(d for d in docs if d["kind"] == "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == env["OPS_PORT"]


def test_k8s_lets_only_prometheus_reach_the_ops_port() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "web.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    rules = {p["port"]: rule.get("from") for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert set(rules) == {"http", "ops"}
    assert rules["http"] is None  # webhooks: from anywhere
    assert rules["ops"] and all("namespaceSelector" in peer or "podSelector" in peer for peer in rules["ops"])


def test_systemd_lets_the_web_process_hold_all_its_connections_open() -> None:
    conf = (ROOT / "workers" / "gunicorn_conf.py").read_text()  # not imported: it monkey-patches on import
    connections = int(re.search(r"^worker_connections = (\d+)", conf, re.MULTILINE)[1])
    unit = (DEPLOY / "systemd" / "loyalty-pipeline-web.service").read_text()
    limit = re.search(r"^LimitNOFILE=(\d+)$", unit, re.MULTILINE)
    assert limit is not None, "systemd's soft default of 1024 files is below worker_connections plus Redis sockets"
    assert int(limit[1]) >= 2 * connections


def test_systemd_keeps_both_listeners_on_loopback() -> None:
    unit = (DEPLOY / "systemd" / "loyalty-pipeline-web.service").read_text()
    env = dict(kv.split("=", 1) for line in re.findall(r"^Environment=(.+)$", unit, re.MULTILINE)
               for kv in shlex.split(line))
    assert env["WEB_HOST"] == "127.0.0.1" and "OPS_HOST" not in env  # default: 127.0.0.1


def test_listener_settings_are_checked_at_start() -> None:
    import pytest

    with pytest.raises(ValueError, match="OPS_PORT must differ from PORT"):
        listeners({"PORT": "8000", "OPS_PORT": "8000"})
    with pytest.raises(ValueError, match="OPS_PORT: expected a port number"):
        listeners({"OPS_PORT": "metrics"})
    assert listeners({"OPS_HOST": "0.0.0.0", "OPS_PORT": "9999"}).binds[1] == "0.0.0.0:9999"
