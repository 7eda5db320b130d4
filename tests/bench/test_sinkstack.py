"""Sections 6-8 start workers from the Procfile's worker line as it stands (bench/sinkstack.py),
and bench/raw.py's two clients send the same requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.sinkproc import SinkProc
from bench.sinkstack import ROOT, option, procfile_worker, replace_option, worker_shape


def test_the_worker_line_is_read_from_the_procfile_with_its_pool_concurrency_and_queues(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "web: gunicorn x\nworker: celery -A workers.app worker -Q ingest,deliver.postscript "
        "--pool threads --concurrency=${WORKER_THREADS:-48} -O fair\n"
    )
    args = procfile_worker(procfile=procfile)
    assert args[:3] == ["celery", "-A", "workers.app"]
    shape = worker_shape(args)
    assert (shape["pool"], shape["concurrency"], shape["queues"]) == ("threads", 48, ["ingest", "deliver.postscript"])
    ingest_only = replace_option(args, ("-Q", "--queues"), "ingest")
    assert option(ingest_only, "-Q", "--queues") == "ingest" and ingest_only.count("-Q") == 1
    assert option(ingest_only, "--concurrency", "-c") == "48"


def test_the_repository_procfile_has_a_worker_line_the_bench_understands() -> None:
    shape = worker_shape(procfile_worker())
    assert shape["command"].startswith("celery ") and any(q.startswith("deliver.") for q in shape["queues"])
    assert shape["concurrency"] is None or shape["concurrency"] > 0


def test_raw_replays_with_httpx_and_http_client_alike(tmp_path: Path) -> None:
    reqs = tmp_path / "reqs.jsonl"
    body = json.dumps({"type": "Smile_Points_Earned", "email": "a@example.test", "external_id": "x"})
    with reqs.open("w") as f:
        for i in range(6):
            f.write(
                json.dumps(
                    {
                        "m": "POST",
                        "u": "/api/v2/events",
                        "b": body,
                        "h": {"authorization": f"Bearer sk_{i % 2}", "content-type": "application/json"},
                    }
                )
                + "\n"
            )
    with SinkProc(latency_ms=0, postscript_rate_per_s=0) as sink:
        for client in ("httpx", "http.client"):
            out = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "raw.py"), sink.base_url, str(reqs), "2", "--client", client],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            d = json.loads(out.stdout)
            assert (d["client"], d["n"], d["statuses"]) == (client, 6, {"202": 6})
        assert sink.stats()["totals"]["events"] == 12 and sink.stats()["totals"]["requests"] == 16  # + 4 warm-ups
