"""One place per integration: every fact keyed by a provider or platform kind is read from its
spec (``PROVIDER_SPECS``, ``PLATFORM_SPECS``).

The last test registers a platform that does not exist by adding one entry (and its import) to
a copy of ``pipeline/destinations/registry.py``, in a fresh interpreter, and finds it in the CLI
choices, the Celery queues, the rate limits, the config kinds and the batch sizes: no other edit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click

from pipeline.config import PLATFORM_DEFAULTS, PROVIDER_DEFAULTS
from pipeline.destinations.registry import DESTINATIONS, PLATFORM_SPECS, platform_kinds
from pipeline.providers.registry import PROVIDER_SPECS, PROVIDERS, provider_kinds
from pipeline.ratelimit.limits import LIMITS, windows_for
from pipeline.ratelimit.window import SECOND_S, Window

ROOT = Path(__file__).resolve().parents[1]


def choices(group: click.Group, name: str) -> set[tuple[str, ...]]:
    """The choice lists of every ``--<name>`` option anywhere under ``group``."""
    found: set[tuple[str, ...]] = set()
    for command in group.commands.values():
        found |= {tuple(p.type.choices) for p in command.params if p.name == name and isinstance(p.type, click.Choice)}
        if isinstance(command, click.Group):
            found |= choices(command, name)
    return found


def test_every_kind_is_one_spec_matching_its_adapter() -> None:
    assert platform_kinds() == ("postscript", "attentive", "klaviyo")
    assert provider_kinds() == ("smile", "okendo", "rediem", "omneo")
    assert all(DESTINATIONS[s.kind] is s.destination and s.destination.kind == s.kind for s in PLATFORM_SPECS)
    assert all(PROVIDERS[s.kind] is s.provider and s.provider.kind == s.kind for s in PROVIDER_SPECS)
    assert set(PLATFORM_DEFAULTS) == set(platform_kinds()) and set(PROVIDER_DEFAULTS) == set(provider_kinds())
    assert set(LIMITS) == {*platform_kinds(), *provider_kinds()}


def test_cli_choices_and_queues_are_the_registered_kinds() -> None:
    from workers.cli import cli
    from workers.config import queue_names

    assert choices(cli, "platform") == {platform_kinds()}
    assert choices(cli, "provider") == {provider_kinds()}
    assert [q for q in queue_names() if q.startswith("deliver.")] == [f"deliver.{k}" for k in platform_kinds()]


def test_documented_limits_read_from_the_specs_are_unchanged() -> None:
    # 15 a second, spent in bursts of up to 6 (never more than 15 in any second: tests/ratelimit/test_burst.py)
    assert windows_for("postscript", "default") == (Window(15, SECOND_S, burst=6),)
    assert windows_for("klaviyo", "events") == (Window(350, 1.0), Window(3500, 60.0))
    assert windows_for("attentive", "identity") == (Window(10, 1.0),)
    assert windows_for("okendo", "default") == (Window(2, 1.0),)


FAKE_PLATFORM = '''
"""A platform that does not exist: adapter and spec in one module."""
from typing import ClassVar

from pipeline.destinations.encoding.base import Encoding
from pipeline.destinations.spec import PlatformSpec
from pipeline.ratelimit.window import SECOND_S, Window


class FakeDestination:
    kind: ClassVar[str] = "fakeplatform"

    @staticmethod
    def auth_headers(account):
        return {}


SPEC = PlatformSpec(
    kind="fakeplatform", destination=FakeDestination, base_url="https://api.fake.example", unknown_subscriber="skip",
    encoding=Encoding(event_name=str, event_path="/events", encode_event=lambda e, **_: {}, profile_path="POST /p",
                      encode_profile=lambda u: {}, rules="none"),
    limits={"default": (Window(7, SECOND_S),)}, batch_size=500)
'''

PROBE = '''
import importlib.util, json, sys
from pathlib import Path

import click

import pipeline.destinations

path = Path(pipeline.destinations.__file__).parent / "registry.py"
source = path.read_text()
head, tuple_open = "from __future__ import annotations\\n", "PLATFORM_SPECS: tuple[PlatformSpec, ...] = (\\n"
assert source.count(head) == 1 and source.count(tuple_open) == 1, "registry layout changed"
source = source.replace(head, head + "import fake_platform\\n")
source = source.replace(tuple_open, tuple_open + "    fake_platform.SPEC,\\n")
name = "pipeline.destinations.registry"
module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
sys.modules[name] = module
exec(compile(source, str(path), "exec"), module.__dict__)
pipeline.destinations.registry = module

from pipeline.config import parse_connections
from pipeline.destinations.registry import batch_size
from pipeline.ratelimit.limits import windows_for
from workers.cli import cli
from workers.config import queue_names


def choices(group):
    out = []
    for command in group.commands.values():
        out += [list(p.type.choices) for p in command.params
                if p.name == "platform" and isinstance(p.type, click.Choice)]
        if isinstance(command, click.Group):
            out += choices(command)
    return out


doc = {"merchants": {"m": {"provider": {"kind": "smile", "credential_env": "K"},
                           "platforms": [{"kind": "fakeplatform", "credential_env": "K"}]}}}
account = parse_connections(doc, source="probe", env={"K": "secret"})["m"].platforms[0]
print(json.dumps({"choices": choices(cli), "queues": queue_names(),
                  "windows": [[w.limit, w.period_s] for w in windows_for("fakeplatform", "default")],
                  "base_url": account.base_url, "policy": account.unknown_subscriber,
                  "batch": batch_size("fakeplatform", 100)}))
'''


def test_a_platform_registered_in_one_line_reaches_cli_queues_limits_and_config(tmp_path: Path) -> None:
    (tmp_path / "fake_platform.py").write_text(FAKE_PLATFORM)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["choices"] and all(c == ["fakeplatform", "postscript", "attentive", "klaviyo"] for c in seen["choices"])
    assert "deliver.fakeplatform" in seen["queues"]
    assert seen["windows"] == [[7, 1.0]]
    assert (seen["base_url"], seen["policy"], seen["batch"]) == ("https://api.fake.example", "skip", 500)
