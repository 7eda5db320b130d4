"""deploy/ checked against the code (issue 15), so drift fails CI: probes, gunicorn flags, pinned
images and dependencies, the visibility timeout every comment quotes, and the environment the
templates set. Offline, like tests/test_deploy.py, whose helpers it reuses."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pipeline.observability import health
from pipeline.settings import _ENV_FIELDS, Settings
from tests.test_deploy import (COMPOSE, DEPLOY, K8S, ROOT, SYSTEMD, _argv, _celery_role, _compose, _credential_vars,
                               _docs, _env_file, _k8s_deployments, _k8s_objects)
from workers.config import VISIBILITY_TIMEOUT_S
from workers.schedule import build_schedule

PROBE = "python -m pipeline.observability.health alive"
DOCS = ROOT / "docs" / "deploy.md"
CONSTRAINTS = DEPLOY / "constraints.txt"


def _deploy_texts() -> dict[str, str]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and p.name not in (".env", "connections.toml", "secret.yaml")]
    return {str(p.relative_to(ROOT)): p.read_text() for p in [*files, DOCS, ROOT / "Procfile"]}


# --- probes ------------------------------------------------------------------------------------

def _probe_args(command: str) -> list[str]:
    """The arguments after ``python -m pipeline.observability.health`` in a probe command line."""
    match = re.search(r"python -m pipeline\.observability\.health ((?:alive|ready)[^>;|&\"']*)", command)
    assert match, f"not the heartbeat probe: {command!r}"
    return match[1].split()


def _worker_probes() -> dict[str, str]:
    probes = {"compose": " ".join(_argv(_compose()["x-worker"]["healthcheck"]["test"]))}
    for name, (doc, argv) in _k8s_deployments().items():
        if _celery_role(argv) == "worker":
            probes[f"k8s/{name}"] = " ".join(doc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]["command"])
    unit = (SYSTEMD / "loyalty-pipeline-probe@.service").read_text()
    probes["systemd"] = re.search(r"^ExecStart=(.*)$", unit, re.MULTILINE)[1]
    return probes


def test_no_deploy_file_uses_celery_inspect_ping() -> None:
    offenders = [name for name, text in _deploy_texts().items() if name != "docs/deploy.md"
                 and any(re.search(r"inspect\s+ping", line) for line in text.splitlines()
                         if not line.lstrip().startswith("#"))]
    assert offenders == []


def test_worker_probes_are_the_heartbeat_probe_with_a_max_age_above_the_heartbeat_interval(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    intervals = [e["schedule"].total_seconds() for e in build_schedule({}).values() if e["task"] == "lp.heartbeat"]
    assert intervals, "beat sends no heartbeat: the probes would fail every worker"
    for where, command in _worker_probes().items():
        assert PROBE in command, where
        args = [a.replace("$$HOSTNAME", "h").replace("$HOSTNAME", "h").replace("%i@%H", "deliver@h") for a in
                _probe_args(command)]
        # the probe's own CLI accepts exactly these arguments (against a Redis that does not answer: exit 1)
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
        assert health.main(args) == 1, where
        assert "redis does not answer" in capsys.readouterr().err, where
        max_age = float(args[args.index("--max-age") + 1])
        assert max_age >= 6 * max(intervals), f"{where}: --max-age {max_age} misses too few heartbeats"


def test_probe_node_names_match_the_worker_node_names() -> None:
    worker = (SYSTEMD / "loyalty-pipeline-worker@.service").read_text()
    assert re.search(r"^ExecStart=.* -n %i@%H$", worker, re.MULTILINE)
    assert "--worker %i@%H " in (SYSTEMD / "loyalty-pipeline-probe@.service").read_text()
    timer = (SYSTEMD / "loyalty-pipeline-probe@.timer").read_text()
    assert "OnUnitActiveSec=" in timer and "WantedBy=timers.target" in timer
    # compose and k8s probe celery@$HOSTNAME: their worker commands must keep Celery's default node name
    for name, svc in _compose()["services"].items():
        argv = _argv(svc.get("command"))
        if _celery_role(argv) == "worker":
            assert "-n" not in argv and "--hostname" not in argv, name


# --- gunicorn ----------------------------------------------------------------------------------

def test_every_gunicorn_runs_without_a_control_socket() -> None:
    commands = {"compose": _argv(_compose()["services"]["web"]["command"]),
                "k8s": _k8s_deployments()["web"][1],
                "systemd": re.search(r"^ExecStart=(.*)$", (SYSTEMD / "loyalty-pipeline-web.service").read_text(),
                                     re.MULTILINE)[1].split(),
                "Procfile": next(line for line in (ROOT / "Procfile").read_text().splitlines()
                                 if line.startswith("web:")).split()[1:]}
    for where, argv in commands.items():
        assert any(Path(a).name == "gunicorn" for a in argv), where
        # the flag, or the config module that sets it
        assert "--no-control-socket" in argv or "python:workers.gunicorn_conf" in argv, where
    conf = (ROOT / "workers" / "gunicorn_conf.py").read_text()
    assert re.search(r"^control_socket_disable = True", conf, re.MULTILINE)
    # the setting exists from gunicorn 25.1: the declared lower bound must have it
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (gunicorn,) = [Requirement(d) for d in deps if Requirement(d).name == "gunicorn"]
    assert not gunicorn.specifier.contains("25.0") and gunicorn.specifier.contains(metadata.version("gunicorn"))


# --- pinned images and dependencies ------------------------------------------------------------

def _images() -> dict[str, str]:
    out = {f"compose/{n}": s["image"] for n, s in _compose()["services"].items() if "image" in s}
    out["compose/x-pipeline"] = _compose()["x-pipeline"]["image"]
    for path, doc in _k8s_objects():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            out[f"k8s/{path.stem}/{c['name']}"] = c["image"]
    return out


def test_every_image_is_pinned_to_an_exact_version_or_digest() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for where, image in _images().items():
        name, _, tag = image.partition("@")[0].partition(":")
        if name == "loyalty-pipeline":  # our own image: the project's version
            assert tag in (version, f"${{LOYALTY_PIPELINE_TAG:-{version}}}"), f"{where}: {image}"
        else:
            assert "@sha256:" in image or re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{where}: {image} is not pinned"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base
    assert all(line.split()[1] in ("${PYTHON_IMAGE}",) for line in dockerfile.splitlines()
               if line.startswith("FROM ")), "every stage starts from the pinned base"


def _constraints() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            assert pinned, f"deploy/constraints.txt: {line!r} is not an exact pin"
            pins[Requirement(name).name.lower().replace("_", "-")] = pinned.strip()
    return pins


def _runtime_closure() -> set[str]:
    """The installed distributions the project needs at run time (no extras), transitively."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in metadata.requires("loyalty-pipeline") or []]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = req.name.lower().replace("_", "-")
        extras = req.extras
        if name in seen and not extras:
            continue
        seen.add(name)
        for sub in metadata.requires(req.name) or []:
            r = Requirement(sub)
            if r.marker is None or r.marker.evaluate({"extra": ""}) or any(
                    r.marker.evaluate({"extra": e}) for e in extras):
                todo.append(r)
    return seen


def test_the_image_installs_with_the_constraints_of_the_tested_virtualenv() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/constraints.txt /tmp/constraints.txt" in dockerfile
    assert re.search(r"pip install --constraint /tmp/constraints\.txt /tmp/wheels/\*\.whl", dockerfile)
    assert "!deploy/constraints.txt" in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "--constraint deploy/constraints.txt" in (ROOT / "scripts" / "test").read_text()
    pins = _constraints()
    missing = sorted(_runtime_closure() - set(pins))
    assert missing == [], f"runtime dependencies without a pin (run scripts/lock): {missing}"
    drift = {n: (pins[n], metadata.version(n)) for n in _runtime_closure() if Version(pins[n]) != Version(metadata.version(n))}
    assert drift == {}, f"deploy/constraints.txt differs from the tested virtualenv (run scripts/lock): {drift}"
    for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(dep)
        assert req.specifier.contains(pins[req.name.lower()]), f"{req.name}=={pins[req.name.lower()]} violates {dep}"


# --- the visibility timeout and the environment -------------------------------------------------

_DURATION = re.compile(r"visibility[ _]timeout[^.(\n]{0,20}[(`:= ]+(\d+)\s*(min|minutes|h|hours|s\b|seconds)")


def test_every_quoted_visibility_timeout_is_the_codes() -> None:
    units = {"min": 60, "minutes": 60, "h": 3600, "hours": 3600, "s": 1, "seconds": 1}
    quoted = {(name, m[0]): int(m[1]) * units[m[2]] for name, text in _deploy_texts().items()
              for m in _DURATION.finditer(text.replace("\n#", " ").replace("\n", " "))}
    assert quoted, "no file quotes the visibility timeout: the pattern no longer matches"
    wrong = {k: v for k, v in quoted.items() if v != VISIBILITY_TIMEOUT_S}
    assert wrong == {}, f"the code uses {VISIBILITY_TIMEOUT_S} s"


def _known_variables() -> set[str]:
    """Every environment variable the code reads: Settings', and any ``env.get("X")`` at the edges."""
    names = {var for _, var, _ in _ENV_FIELDS}
    for path in [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]:
        names |= set(re.findall(r"""(?:env|environ)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""", path.read_text()))
    proxies = {f"{scheme}_PROXY" for scheme in ("HTTP", "HTTPS", "ALL", "NO")}  # pipeline/http/proxy.py
    return names | proxies | {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def _template_envs() -> dict[str, dict[str, str]]:
    configmap = next(d for _, d in _k8s_objects() if d.get("metadata", {}).get("name") == "loyalty-pipeline-env")
    text = (K8S / "configmap.yaml").read_text()
    hinted = dict(re.findall(r'^\s*#\s*([A-Z][A-Z0-9_]+):\s*"?([^"\s#]+)"?', text, re.MULTILINE))
    compose_env = {k: re.sub(r"\$\{\w+:-(.*)\}", r"\1", str(v)) for k, v in _compose()["x-pipeline"]["environment"].items()}
    return {".env.example": _env_file(DEPLOY / ".env.example"), "systemd/env.example": _env_file(SYSTEMD / "env.example"),
            "k8s configmap": {k: str(v) for k, v in configmap["data"].items()}, "k8s configmap (commented)": hinted,
            "compose environment": compose_env}


def test_templates_set_only_variables_the_code_reads_with_values_it_accepts() -> None:
    known = _known_variables() | _credential_vars()
    for where, env in _template_envs().items():
        unknown = sorted(set(env) - known)
        assert unknown == [], f"{where} sets variables no code reads: {unknown}"
        settings = Settings.from_env({k: v for k, v in env.items() if v})  # raises ConfigError on a bad value
        defaults = Settings()
        for field, var, _ in _ENV_FIELDS:
            if where == "k8s configmap (commented)" and var in env and not var.endswith("_URL"):  # "defaults shown"
                assert getattr(settings, field) == getattr(defaults, field), f"{where}: {var}"


def test_commented_examples_in_the_env_templates_are_valid_settings() -> None:
    examples = 0
    for path in (DEPLOY / ".env.example", SYSTEMD / "env.example"):
        for var, value in re.findall(r"^#\s*([A-Z][A-Z0-9_]+)=(\S+)$", path.read_text(), re.MULTILINE):
            if var in {v for _, v, _ in _ENV_FIELDS}:
                Settings.from_env({var: value})  # raises ConfigError naming the variable
                examples += 1
    assert examples >= 2


def test_the_docs_document_every_settings_variable() -> None:
    text = DOCS.read_text() + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))) + (ROOT / "README.md").read_text()
    assert [var for _, var, _ in _ENV_FIELDS if var not in text] == []


def test_sentinel_urls_are_accepted_where_the_templates_put_redis_urls() -> None:
    url = "sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/0?master_name=lp-main"
    assert Settings.from_env({"REDIS_URL": url}).broker_url == url
    assert "master_name" in DOCS.read_text() and "sentinel://" in DOCS.read_text()
