"""``loyalty-pipeline simulate`` serves every simulator the demo uses, each on its port, printed at start."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys

import httpx

from sandbox.sim.klaviyo import REVISION
from sandbox.sim.okendo import API_VERSION as OKENDO_API_VERSION
from sandbox.simulate import ORDER, serve_simulators

#: A GET each simulator answers for its seeded account (paths from the simulators' routes).
PROBES = {"smile": "/customers", "postscript": "/api/v2/me", "okendo": "/reviews",
          "omneo": "/profiles", "rediem": "/api/v1/activities", "attentive": "/v1/me", "klaviyo": "/api/profiles"}
KLAVIYO_REVISION = {"revision": REVISION}


def _headers(name: str, authorization: str) -> dict[str, str]:
    if name == "okendo":  # printed as user:key for reading; on the wire it is HTTP Basic
        user, _, key = authorization.removeprefix("Basic ").partition(":")
        return {"authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode(), "okendo-api-version": OKENDO_API_VERSION}
    return {"authorization": authorization, **(KLAVIYO_REVISION if name == "klaviyo" else {})}


def test_serves_every_simulator_the_demo_uses_and_each_answers_its_printed_credential() -> None:
    from sandbox.demo import stack

    demo_sims = {name for name in dir(stack) if name.endswith("Simulator")}
    with serve_simulators(0, customers=5, transactions=20, members=3, events=10) as sims:
        assert [s.name for s in sims.served] == list(ORDER)
        assert {type(s.sim).__name__ for s in sims.served} == demo_sims
        assert len({s.sim.port for s in sims.served}) == len(ORDER)
        for s in sims.served:
            url = s.base_url + PROBES[s.name]
            assert httpx.get(url, headers=_headers(s.name, s.authorization)).status_code == 200, s.name
            assert httpx.get(url).status_code == 401, s.name
    for s in sims.served:  # all stopped on exit
        try:
            httpx.get(f"http://127.0.0.1:{s.sim.port}/", timeout=1)
        except httpx.ConnectError:
            continue
        raise AssertionError(f"{s.name} still serving")


def test_the_command_prints_one_line_per_simulator_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "from workers.cli import main; main()", "simulate", "--port", "0",
                             "--customers", "5", "--transactions", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not (line := proc.stdout.readline()).startswith("smile:"):
            assert line, proc.stderr.read()
            lines.append(line.split())
        assert [row[0] for row in lines] == list(ORDER)
        urls = {row[0]: row[1] for row in lines}
        assert httpx.get(urls["attentive"] + "/v1/me", headers={"authorization": " ".join(lines[5][2:])}).status_code == 200
        assert httpx.get(urls["klaviyo"] + "/api/profiles",
                         headers={"authorization": " ".join(lines[6][2:]), **KLAVIYO_REVISION}).status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_without_the_sandbox_package_the_cli_loads_and_the_demo_says_why_it_cannot_run() -> None:
    # the production image ships pipeline and workers only
    code = "import sys; sys.modules['sandbox'] = None; from workers.cli import main; main()"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    helped = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert helped.returncode == 0 and "simulate" in helped.stdout
    ran = subprocess.run([sys.executable, "-c", code, "demo"], capture_output=True, text=True, timeout=60, env=env)
    assert ran.returncode == 1 and "sandbox package" in ran.stderr and "production image" in ran.stderr
