"""Offline checks of the deployment files in deploy/ (no Docker engine, no cluster needed).

They catch the mistakes that cost the most in production: a queue no pool consumes, two beats,
a Redis that evicts or forgets, a grace period shorter than a batch, a secret in a file.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import parse_connections
from pipeline.settings import Settings
from workers.config import queue_names

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
#: The queues worker pools may consume: the app's, plus ``bulk`` (low-priority bulk syncs),
#: which is being added (if ``queue_names()`` already has it, the union is unchanged).
ALLOWED_QUEUES = frozenset(queue_names()) | {"bulk"}
#: Local inputs that deploy/.gitignore keeps out of git; they may hold real secrets.
LOCAL_ONLY = {DEPLOY / ".env", DEPLOY / "connections.toml", K8S / "secret.yaml"}
#: What a real secret looks like. The fake samples in test_secret_patterns_catch_samples prove
#: that each pattern can fire.
SECRET_PATTERNS = {
    "Stripe-style live key": re.compile(r"sk_live"),
    "Svix / Okendo webhook secret": re.compile(r"whsec_[A-Za-z0-9+/=_-]{20,}"),
    "public/private API key": re.compile(r"(?<![A-Za-z0-9])pk_[A-Za-z0-9]{20,}"),
    "private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])"),
}


# --- helpers ---------------------------------------------------------------------------------

def _yaml_files() -> list[Path]:
    return sorted(p for p in [*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")] if p not in LOCAL_ONLY)


def _docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _argv(command: Any) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _celery_role(argv: list[str]) -> str | None:
    """``worker`` / ``beat`` / ... for a ``celery`` command line, else None."""
    if not argv or Path(argv[0]).name != "celery":
        return None
    return next((tok for tok in argv[1:] if tok in {"worker", "beat", "flower", "inspect"}), None)


def _queues(argv: list[str]) -> list[str]:
    for i, tok in enumerate(argv):
        if tok in {"-Q", "--queues"}:
            return argv[i + 1].split(",")
        if tok.startswith(("-Q=", "--queues=")):
            return tok.split("=", 1)[1].split(",")
    raise AssertionError(f"worker command without -Q: {argv}")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _compose_roles() -> dict[str, tuple[str | None, list[str]]]:
    return {name: (_celery_role(argv := _argv(svc.get("command"))), argv)
            for name, svc in _compose()["services"].items()}


def _k8s_objects() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path not in LOCAL_ONLY:
            for doc in _docs(path):
                yield path, doc


def _k8s_deployments() -> dict[str, tuple[dict[str, Any], list[str]]]:
    out = {}
    for _, doc in _k8s_objects():
        if doc.get("kind") == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            out[doc["metadata"]["name"]] = (doc, _argv(container.get("command")) + _argv(container.get("args")))
    return out


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#") and "=" in line)
    return {k.strip(): v.strip().strip('"').strip("'") for k, v in pairs}


def _systemd_families() -> dict[str, list[str]]:
    return {p.stem.removeprefix("worker-"): _env_file(p)["QUEUES"].split(",")
            for p in sorted(SYSTEMD.glob("worker-*.env"))}


def _seconds(value: Any) -> float:
    """Compose durations ("150s", "2m30s") and plain numbers."""
    if isinstance(value, (int, float)):
        return float(value)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(value))
    assert parts, f"not a duration: {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _batch_bound_s() -> float:
    """Longest a delivery batch is expected to run: every delivery paced at the inline limit."""
    defaults = Settings()
    return defaults.delivery_batch_size * defaults.max_inline_wait_s


def _credential_vars() -> set[str]:
    text = (ROOT / "connections.example.toml").read_text()
    return set(re.findall(r'^\s*\w+_env\s*=\s*"([A-Z0-9_]+)"', text, re.MULTILINE))


def _assert_families(families: dict[str, list[str]], where: str) -> None:
    assert families, f"{where}: no worker found"
    for name, queues in families.items():
        unknown = set(queues) - ALLOWED_QUEUES
        assert not unknown, f"{where}: {name} consumes unknown queues {sorted(unknown)}"
    consumed = [q for queues in families.values() for q in queues]
    assert set(consumed) == ALLOWED_QUEUES, (
        f"{where}: queues nobody consumes: {sorted(ALLOWED_QUEUES - set(consumed))}")
    doubles = sorted({q for q in consumed if consumed.count(q) > 1})
    assert not doubles, f"{where}: queues consumed by more than one pool: {doubles}"


# --- every YAML parses -------------------------------------------------------------------------

@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    docs = _docs(path)
    assert docs and all(isinstance(d, dict) for d in docs)
    if path.parent == K8S:
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path.name
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == "loyalty-pipeline", (path.name, doc["metadata"]["name"])


def test_the_deployment_files_exist() -> None:
    expected = ["Dockerfile", "docker-compose.yml", ".env.example",
                "systemd/loyalty-pipeline-web.service", "systemd/loyalty-pipeline-worker@.service",
                "systemd/loyalty-pipeline-beat.service", "systemd/env.example",
                *(f"k8s/{n}.yaml" for n in ("namespace", "configmap", "secret.example", "redis", "web",
                                            "worker-ingest", "worker-deliver", "worker-bulk", "beat"))]
    assert [p for p in expected if not (DEPLOY / p).is_file()] == []
    assert (ROOT / "docs" / "deploy.md").is_file()


# --- compose ---------------------------------------------------------------------------------

def _beats_are_leased() -> bool:
    """Every beat runs the leased scheduler (workers/beat.py): one sends, the others stand by."""
    from workers.config import celery_config

    return celery_config(Settings.from_env({}))["beat_scheduler"] == "workers.beat:LeasedScheduler"


def test_compose_runs_one_leased_beat_on_its_one_host() -> None:
    beats = [name for name, (role, _) in _compose_roles().items() if role == "beat"]
    assert len(beats) == 1, beats
    assert _beats_are_leased()
    assert _compose()["services"][beats[0]]["deploy"]["replicas"] == 1  # one host: restart policy, no standby


def test_compose_redis_is_durable_and_never_evicts() -> None:
    redis = _compose()["services"]["redis"]
    command = " ".join(_argv(redis["command"]))
    assert "--appendonly yes" in command
    assert "--appendfsync everysec" in command
    assert "--maxmemory-policy noeviction" in command
    assert any(str(v).endswith(":/data") for v in redis["volumes"]), "Redis data must be on a volume"
    assert "redis-cli ping" in " ".join(_argv(redis["healthcheck"]["test"]))


def test_compose_workers_cover_every_queue_once() -> None:
    families = {name: _queues(argv) for name, (role, argv) in _compose_roles().items() if role == "worker"}
    assert set(families) == {"worker-ingest", "worker-deliver", "worker-bulk"}
    _assert_families(families, "docker-compose.yml")


def test_compose_pipeline_services_share_env_and_connections() -> None:
    services = _compose()["services"]
    pipeline = [n for n, (role, argv) in _compose_roles().items()
                if role in {"worker", "beat"} or (argv and argv[0] == "gunicorn")]
    assert {"web", "beat", "worker-ingest", "worker-deliver", "worker-bulk"} <= set(pipeline)
    for name in pipeline:
        svc = services[name]
        env_files = svc["env_file"] if isinstance(svc["env_file"], list) else [svc["env_file"]]
        assert ".env" in env_files, name
        mounts = [str(v) for v in svc["volumes"]]
        assert any("connections.toml:" in m and m.endswith(":ro") for m in mounts), (name, mounts)
        assert svc["environment"]["CONNECTIONS_FILE"] == "/etc/loyalty-pipeline/connections.toml"


def test_compose_web_serves_the_wsgi_app_on_8000() -> None:
    web = _compose()["services"]["web"]
    argv = _argv(web["command"])
    assert argv[0] == "gunicorn" and argv[-1] == "workers.web:application"
    assert argv[1:3] == ["-c", "python:workers.gunicorn_conf"]  # binds $PORT (tests/test_deploy_web.py)
    assert web["environment"]["PORT"] == "8000"
    assert "8000:8000" in [str(p) for p in web["ports"]]


def test_compose_flower_is_optional() -> None:
    flower = _compose()["services"]["flower"]
    assert flower["profiles"] == ["monitoring"] and flower["image"].startswith("mher/flower")
    assert _celery_role(_argv(flower["command"])) == "flower"


# --- worker command lines: Procfile options, grace periods ----------------------------------

def _all_worker_argvs() -> dict[str, list[str]]:
    out = {f"compose:{n}": argv for n, (role, argv) in _compose_roles().items() if role == "worker"}
    out |= {f"k8s:{n}": argv for n, (_, argv) in _k8s_deployments().items() if _celery_role(argv) == "worker"}
    unit = (SYSTEMD / "loyalty-pipeline-worker@.service").read_text()
    out["systemd:worker@"] = shlex.split(re.search(r"^ExecStart=(.+)$", unit, re.MULTILINE)[1])
    return out


def test_worker_commands_use_the_procfile_options() -> None:
    argvs = _all_worker_argvs()
    assert len(argvs) == 7  # 3 compose services, 3 k8s Deployments, 1 systemd template
    for where, argv in argvs.items():
        assert argv[1:4] == ["-A", "workers.app", "worker"], where
        assert "-O" in argv and argv[argv.index("-O") + 1] == "fair", where
        assert "--without-gossip" in argv, where
        # prefetch comes from workers/config.py (worker_prefetch_multiplier = 1), never overridden
        assert not any("prefetch" in tok for tok in argv), where
        # Celery's soft shutdown cancels running tasks, which the threads pool cannot do: with it,
        # Celery 5.7 raises NotImplementedError and still waits (celery/celery#10490).
        if any("soft_shutdown" in tok for tok in argv):
            assert argv[argv.index("--pool") + 1] != "threads", where


def test_grace_periods_outlast_a_delivery_batch() -> None:
    bound = _batch_bound_s()
    graces = {f"compose:{n}": _seconds(_compose()["services"][n]["stop_grace_period"])
              for n, (role, _) in _compose_roles().items() if role == "worker"}
    graces |= {f"k8s:{n}": float(doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
               for n, (doc, argv) in _k8s_deployments().items() if _celery_role(argv) == "worker"}
    unit = (SYSTEMD / "loyalty-pipeline-worker@.service").read_text()
    graces["systemd:worker@"] = float(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)[1])
    assert {k: v for k, v in graces.items() if v <= bound} == {}, f"grace must exceed {bound} s"
    assert len(set(graces.values())) == 1, f"keep the targets consistent: {graces}"


# --- Kubernetes ----------------------------------------------------------------------------------

def test_k8s_runs_a_beat_leader_and_a_standby_on_different_nodes() -> None:
    beats = [(doc, argv) for doc, argv in _k8s_deployments().values() if _celery_role(argv) == "beat"]
    assert len(beats) == 1
    doc, _ = beats[0]
    assert _beats_are_leased()
    assert doc["spec"]["replicas"] == 2
    spread = doc["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert spread["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] \
        == "kubernetes.io/hostname"
    hpa_targets = [d["spec"]["scaleTargetRef"]["name"] for _, d in _k8s_objects()
                   if d.get("kind") == "HorizontalPodAutoscaler"]
    assert doc["metadata"]["name"] not in hpa_targets


def test_k8s_workers_cover_every_queue_once() -> None:
    families = {n: _queues(argv) for n, (_, argv) in _k8s_deployments().items() if _celery_role(argv) == "worker"}
    assert set(families) == {"worker-ingest", "worker-deliver", "worker-bulk"}
    _assert_families(families, "deploy/k8s")


def test_k8s_worker_liveness_probes_its_own_node() -> None:
    for name, (doc, argv) in _k8s_deployments().items():
        if _celery_role(argv) != "worker":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        probe = " ".join(container["livenessProbe"]["exec"]["command"])
        assert "python -m pipeline.observability.health alive --worker celery@$HOSTNAME" in probe, name
        # the probe's node name is the default celery@<hostname>: a custom -n would break it
        assert "-n" not in argv and "--hostname" not in argv, name


def test_k8s_redis_is_durable_and_never_evicts() -> None:
    (sts,) = [d for _, d in _k8s_objects() if d.get("kind") == "StatefulSet"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    args = " ".join(_argv(container.get("command")) + _argv(container.get("args")))
    assert "--appendonly yes" in args and "--appendfsync everysec" in args
    assert "--maxmemory-policy noeviction" in args
    assert sts["spec"]["volumeClaimTemplates"], "Redis needs a persistent volume"


def test_k8s_web_probes_healthz() -> None:
    doc, argv = _k8s_deployments()["web"]
    assert argv[-1] == "workers.web:application"
    container = doc["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in _k8s_objects()}
    assert ("Service", "web") in kinds


def test_k8s_pipeline_pods_get_config_and_credentials() -> None:
    for name, (doc, argv) in _k8s_deployments().items():
        pod = doc["spec"]["template"]["spec"]
        container = pod["containers"][0]
        refs = {(next(iter(r)), next(iter(r.values()))["name"]) for r in container["envFrom"]}
        # the console sends nothing: it gets its sign-in token, not the merchants' credentials
        secret = "loyalty-pipeline-console" if name == "console" else "loyalty-pipeline-credentials"
        assert refs == {("configMapRef", "loyalty-pipeline-env"), ("secretRef", secret)}, name
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/loyalty-pipeline"]["readOnly"] is True, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name


# --- systemd -------------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", sorted(p.name for p in SYSTEMD.glob("*.service")
                                         if "Type=oneshot" not in p.read_text().splitlines()))
def test_systemd_units_restart_and_stop_gracefully(unit: str) -> None:
    text = (SYSTEMD / unit).read_text()
    lines = set(text.splitlines())
    assert "Restart=always" in lines
    assert "KillSignal=SIGTERM" in lines
    assert re.search(r"^TimeoutStopSec=\d+$", text, re.MULTILINE)
    assert "User=loyalty-pipeline" in lines and "WorkingDirectory=/opt/loyalty-pipeline" in lines
    assert "EnvironmentFile=/etc/loyalty-pipeline/env" in lines
    assert re.search(r"^ExecStart=/opt/loyalty-pipeline/\.venv/bin/", text, re.MULTILINE)


def test_systemd_worker_families_cover_every_queue_once() -> None:
    unit = (SYSTEMD / "loyalty-pipeline-worker@.service").read_text()
    assert "EnvironmentFile=/etc/loyalty-pipeline/worker-%i.env" in unit
    assert "-Q ${QUEUES}" in unit
    families = _systemd_families()
    assert set(families) == {"ingest", "deliver", "bulk"}
    _assert_families(families, "deploy/systemd")


# --- Dockerfile ----------------------------------------------------------------------------------

def test_dockerfile_runs_a_worker_as_non_root_without_dev_extras() -> None:
    text = "\n".join(line for line in (DEPLOY / "Dockerfile").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.MULTILINE)
    assert "PYTHONUNBUFFERED=1" in text
    assert "[dev]" not in text and ".[" not in text
    cmd = json.loads(re.search(r"^CMD (\[.*?\])\s*$", text.replace("\\\n", " "), re.MULTILINE | re.DOTALL)[1])
    assert _celery_role(cmd) == "worker"
    assert set(_queues(cmd)) <= ALLOWED_QUEUES


# --- configuration files and secrets -----------------------------------------------------------

def test_every_credential_variable_has_an_empty_slot_in_each_template() -> None:
    names = _credential_vars()
    assert names
    templates = {
        "deploy/.env.example": _env_file(DEPLOY / ".env.example"),
        "deploy/systemd/env.example": _env_file(SYSTEMD / "env.example"),
        "deploy/k8s/secret.example.yaml": _docs(K8S / "secret.example.yaml")[0]["stringData"],
    }
    for where, values in templates.items():
        assert names <= values.keys(), f"{where} lacks {sorted(names - values.keys())}"
        filled = sorted(n for n in names if values[n])
        assert filled == [], f"{where} must not carry credential values: {filled}"


def test_connections_configmap_is_a_valid_connections_file() -> None:
    (cm,) = [d for _, d in _k8s_objects() if d["kind"] == "ConfigMap" and d["metadata"]["name"] ==
             "loyalty-pipeline-connections"]
    text = cm["data"]["connections.toml"]
    env = {name: "user:secret" for name in re.findall(r'^\s*\w+_env\s*=\s*"([A-Z0-9_]+)"', text, re.MULTILINE)}
    env |= {name: "whsec_c2VjcmV0" for name in env if name.endswith("WEBHOOK_SECRET")}
    connections = parse_connections(tomllib.loads(text), source="configmap.yaml", env=env)
    assert connections
    secret_keys = _docs(K8S / "secret.example.yaml")[0]["stringData"].keys()
    assert set(env) <= secret_keys, f"Secret lacks {sorted(set(env) - secret_keys)}"


def _scanned_files() -> list[Path]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and p not in LOCAL_ONLY]
    return sorted([*files, ROOT / "docs" / "deploy.md"])


def test_no_file_contains_a_real_looking_secret() -> None:
    hits = [f"{path.relative_to(ROOT)}: {label}"
            for path in _scanned_files()
            for label, pattern in SECRET_PATTERNS.items()
            if pattern.search(path.read_text(errors="replace"))]
    assert hits == []


def test_secret_patterns_catch_samples() -> None:
    # built at run time, so that no scanner ever sees a secret-shaped literal in this file
    samples = {
        "Stripe-style live key": "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "Svix / Okendo webhook secret": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "public/private API key": "key = pk_" + "a1B2c3D4e5F6g7H8i9J0k1L2",
        "private key block": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "AWS access key id": "AKIA" + "IOSFODNN7EXAMPLE",
    }
    assert samples.keys() == SECRET_PATTERNS.keys()
    for label, sample in samples.items():
        assert SECRET_PATTERNS[label].search(sample), label
    assert not SECRET_PATTERNS["Svix / Okendo webhook secret"].search("the whsec_... secret")
