"""CPU profile of the ingest path, no Celery worker: where a pulled record's CPU goes.

    .venv/bin/python bench/profile_ingest.py [--transactions 5000] [--customers 250] [--against main] [--cprofile]

Starts a private redis-server and a Smile simulator in a separate process (so the simulator's
CPU is not counted), seeds two Smile merchants like section 1 of bench/run.py (one connected to
Postscript, one to Klaviyo), and in a child process builds the workers' real ``Runtime``
(``workers.app.create_app``: its ``publish`` puts each batch in the due set and its message on
the Redis broker, as a worker does) and runs each merchant's incremental sync
(``Runtime.ingestor(...).sync()``). Prints, per merchant: CPU ms per record pulled, with the
hand-over to delivery (``publish``) and without it (an enqueue that drops the batches), and
Redis commands per record (Lua-internal ones included).

``--against REV`` exports ``git archive REV`` to a temporary directory and runs the same child
there too, against the same simulator and Redis, so before and after are side by side in one run.
``--cprofile`` adds the shares of the current tree's profiled CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SIM = """
import json, sys
sys.path.insert(0, {root!r})
from bench.simx import BenchPostscript
from sandbox.sim import SmileSimulator
from sandbox.sim.seed import seed_demo
smile = SmileSimulator(rate_per_s=None).start()
unused = BenchPostscript(rate_per_s=None)  # seed_demo fills a shop too; nothing is delivered here
keys = {{}}
for name, customers, transactions, seed in {accounts!r}:
    account = smile.add_account("smile_prof_" + name)
    seed_demo(account, unused.add_shop("sk_" + name), customers=customers, transactions=transactions, seed=seed)
    keys[name] = "smile_prof_" + name
print(json.dumps({{"url": smile.base_url + "/v1", "keys": keys}}), flush=True)
sys.stdin.read()
smile.stop()
"""

#: (merchant, platform) measured; "warm" runs first so imports and first-use costs are not counted.
MERCHANTS = (("warm", "postscript"), ("smile_ps", "postscript"), ("smile_kl", "klaviyo"))

#: cProfile shares: (label, file fragment, function name); cumulative time of the outermost match.
PARTS = (
    ("provider HTTP (get_json: request + JSON)", "pipeline/providers/base.py", "get_json"),
    ("validation (resources.decode)", "providers/resources.py", "decode"),
    ("  of which marshmallow Schema.load", "marshmallow/schema.py", "load"),
    ("  of which the fast loader", "schemas/fast.py", "load"),
    ("customer directory get", "state/directory.py", "get_many"),
    ("customer directory put", "state/directory.py", "put_many"),
    ("snapshots get", "state/snapshots.py", "get_many"),
    ("snapshots put", "state/snapshots.py", "put_many"),
    ("ledger which_exist (seen, per record)", "state/ledger.py", "which_exist"),
    ("ledger mark (seen, per record)", "state/ledger.py", "mark"),
    ("seen which_seen (per page)", "state/seen.py", "which_seen"),
    ("seen mark (per page)", "state/seen.py", "mark"),
    ("mapper (Mapper.map)", "transform/mapper.py", "map"),
    ("uuid5 (stable_id)", "pipeline/types.py", "stable_id"),
    ("publish (due set + broker message)", "tasks/deliver.py", "publish"),
    ("cursor checkpoints", "state/cursors.py", "put"),
    ("counters", "state/counters.py", "add"),
    ("parallel: keep a page + checkpoint (add_page)", "state/windows.py", "add_page"),
    ("parallel: page done", "state/windows.py", "page_done"),
    ("parallel: page body JSON dump", "pipeline/fanout.py", "fetch"),
    ("parallel: leases (acquire, release)", "state/leases.py", "acquire"),
    ("parallel: building the ingestor per task", "workers/wiring.py", "ingestor"),
    ("parallel: page jobs, all in (run_page)", "pipeline/jobs.py", "run_page"),
    ("  of which the hand-over itself (Ingestor.hand_over_raw)", "pipeline/ingest.py", "hand_over_raw"),
    ("parallel: stream jobs, all in (run_stream)", "pipeline/jobs.py", "run_stream"),
)


def child(args: argparse.Namespace) -> None:
    """Runs in the tree under test (its ``pipeline`` and ``workers`` first on sys.path)."""
    sys.path[:0] = [args.tree]
    os.environ["LOG_LEVEL"] = "WARNING"
    import cProfile
    import io
    import pstats
    import time
    from collections import Counter

    import redis

    import pipeline
    from pipeline.config import load_connections
    from pipeline.settings import Settings
    from workers.app import create_app
    from workers.current import runtime

    assert Path(pipeline.__file__).resolve().is_relative_to(Path(args.tree).resolve()), pipeline.__file__
    sim = json.loads(args.sim)
    toml = ""
    env = {}
    for merchant, platform in MERCHANTS:
        toml += (
            f'\n[merchants.{merchant}.provider]\nkind = "smile"\nbase_url = "{sim["url"]}"\n'
            f'credential_env = "{merchant.upper()}_SMILE"\nrate_per_s = 100000\n'
            f'\n[[merchants.{merchant}.platforms]]\nkind = "{platform}"\nbase_url = "http://127.0.0.1:9"\n'
            f'credential_env = "{merchant.upper()}_PLATFORM"\n'
        )
        env[f"{merchant.upper()}_SMILE"] = sim["keys"][merchant]
        env[f"{merchant.upper()}_PLATFORM"] = "pk_prof"
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "connections.toml"
    path.write_text(toml)
    url = args.redis.rsplit("/", 1)[0] + f"/{args.db}"
    r = redis.Redis.from_url(url)
    create_app(Settings(redis_url=url), load_connections(path, env))
    rt = runtime()
    modes: dict[str, Callable[[str], int]] = {}
    run = parallel_run(rt)
    if run is not None and args.parallel_first:
        modes["_parallel"] = run
    modes[""] = lambda m: rt.ingestor(m, rt.enqueue_for(m)).sync().pulled
    modes["_nopublish"] = lambda m: rt.ingestor(m, lambda platform, batch: None).sync().pulled
    if run is not None and not args.parallel_first:
        modes["_parallel"] = run
    out: dict[str, Any] = {"tree": args.label}
    for suffix, sync in modes.items():
        for merchant, _ in MERCHANTS:
            best: dict[str, Any] | None = None
            for _ in range(1 if merchant == "warm" else args.repeat):
                r.flushdb()
                calls0 = Counter({k: v["calls"] for k, v in r.info("commandstats").items()})
                c0 = time.process_time()
                n = sync(merchant)
                cpu = time.process_time() - c0
                calls = Counter({k: v["calls"] for k, v in r.info("commandstats").items()}) - calls0
                calls -= Counter({"cmdstat_info": 1, "cmdstat_flushdb": 1})
                got = {
                    "records": n,
                    "cpu_ms_per_record": round(cpu * 1000 / n, 4),
                    "redis_per_record": round(sum(calls.values()) / n, 3),
                    "redis_top": {k.removeprefix("cmdstat_"): round(v / n, 3) for k, v in calls.most_common(8)},
                }
                if best is None or got["cpu_ms_per_record"] < best["cpu_ms_per_record"]:
                    best = got
            if merchant != "warm":
                out[merchant + suffix] = best
    for suffix in [m for m in ("", "_parallel") if m in modes and args.cprofile]:
        r.flushdb()
        prof = cProfile.Profile(time.process_time)
        n = 0
        prof.enable()
        for merchant, _ in MERCHANTS[1:]:
            n += modes[suffix](merchant)
        prof.disable()
        stats = pstats.Stats(prof)
        total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
        shares = {}
        for label, fragment, name in PARTS:
            cum = max(
                (v[3] for k, v in stats.stats.items() if fragment in k[0] and k[2] == name),  # type: ignore[attr-defined]
                default=0.0,
            )
            if cum:
                shares[label] = round(cum / total, 3)
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        out["cprofile" + suffix] = {
            "records": n,
            "cpu_ms_per_record_profiled": round(total * 1000 / n, 4),
            "shares": shares,
            "top": text.getvalue().splitlines()[:40],
        }
    print("RESULT " + json.dumps(out), flush=True)


def parallel_run(rt: Any) -> Callable[[str], int] | None:
    """The parallel path of a merchant's sync (a run → its stream jobs → their page jobs, with the
    windows and leases), the jobs run one after the other here instead of as Celery tasks; with publish.
    None in a tree without parallel ingest."""
    try:
        from pipeline.jobs import run_page, run_stream, start_sync
    except ImportError:
        return None
    from pipeline.providers.registry import PROVIDERS

    cls = PROVIDERS["smile"]

    def sync(merchant: str) -> int:
        streams: list[str] = []
        pages: list[tuple[str, str, int]] = []
        pulled = 0

        def offer_stream(stream: str) -> bool:
            streams.append(stream)
            return True

        start_sync(
            merchant=merchant,
            provider="smile",
            streams=cls.streams,
            identity_streams=cls.identity_streams,
            interval_s=300,
            ledger=rt.ledger,
            credentials=rt.credentials,
            windows=rt.windows,
            clock=rt.clock,
            offer=offer_stream,
            scheduled=False,
        )
        common: dict[str, Any] = dict(
            merchant=merchant,
            ingestor=lambda: rt.ingestor(merchant, rt.enqueue_for(merchant)),
            windows=rt.windows,
            leases=rt.leases,
            credentials=rt.credentials,
            counters=rt.counters,
            clock=rt.clock,
            offer_stream=offer_stream,
            holder="prof",
        )
        while streams or pages:
            if streams:
                stream = streams.pop(0)

                def offer_page(window_id: str, index: int, stream: str = stream) -> bool:
                    pages.append((stream, window_id, index))
                    return True

                outcome = run_stream(stream=stream, scopes=rt.scopes, offer_page=offer_page, **common)
            else:
                stream, window_id, index = pages.pop(0)
                outcome = run_page(stream=stream, window_id=window_id, index=index, **common)
            pulled += outcome.report.pulled if outcome.report else 0
        return pulled

    return sync


def export(rev: str, into: str) -> str:
    """``git archive rev`` unpacked under ``into``; the tree's path."""
    tar = Path(into) / "tree.tar"
    subprocess.run(["git", "archive", "-o", str(tar), rev], cwd=ROOT, check=True)
    tree = Path(into) / "tree"
    tree.mkdir()
    with tarfile.open(tar) as t:
        t.extractall(tree, filter="data")
    return str(tree)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transactions", type=int, default=5000, help="per merchant (bench/run.py full size: 5000)")
    ap.add_argument("--customers", type=int, default=250, help="per merchant (bench/run.py full size: 250)")
    ap.add_argument("--against", help="a git revision to measure side by side (e.g. main)")
    ap.add_argument("--cprofile", action="store_true", help="shares of the profiled CPU time (current tree)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the least CPU is reported (default 3)")
    ap.add_argument("--parallel-first", action="store_true", help="measure the parallel path first (order effects)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument("--label", help=argparse.SUPPRESS)
    ap.add_argument("--redis", help=argparse.SUPPRESS)
    ap.add_argument("--db", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--sim", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    sys.path[:0] = [str(ROOT)]
    from sandbox.localredis import start_redis_server

    accounts = [
        ("warm", 40, 600, 99),
        ("smile_ps", args.customers, args.transactions, 11),
        ("smile_kl", args.customers, args.transactions, 12),
    ]
    local = start_redis_server()
    sim = subprocess.Popen(
        [sys.executable, "-c", SIM.format(root=str(ROOT), accounts=accounts)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    tmp = tempfile.TemporaryDirectory(prefix="lp-profile-ingest-")
    try:
        assert sim.stdout is not None
        sim_info = sim.stdout.readline().strip()
        trees = [("current", str(ROOT))]
        if args.against:
            trees.insert(0, (args.against, export(args.against, tmp.name)))
        results = []
        for i, (label, tree) in enumerate(trees):
            cmd = [
                sys.executable,
                str(ROOT / "bench" / "profile_ingest.py"),
                "--child",
                "--tree",
                tree,
                "--label",
                label,
                "--redis",
                local.url,
                "--db",
                str(2 * i + 1),
                "--sim",
                sim_info,
                "--repeat",
                str(args.repeat),
                *(["--parallel-first"] if args.parallel_first else []),
            ]
            if args.cprofile and label == "current":
                cmd.append("--cprofile")
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, timeout=900)
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if done.returncode or line is None:
                raise RuntimeError(f"{label}: child failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            results.append(json.loads(line.removeprefix("RESULT ")))
        report(results)
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(10)
        local.stop()
        tmp.cleanup()


def _cell(result: dict[str, Any], key: str, field: str, digits: int) -> str:
    return f"{result[key][field]:>22.{digits}f}" if key in result else f"{'-':>22}"


def report(results: list[dict[str, Any]]) -> None:
    rows = [
        ("smile_ps", "Smile → Postscript, with publish"),
        ("smile_kl", "Smile → Klaviyo, with publish"),
        ("smile_ps_nopublish", "Smile → Postscript, ingest only"),
        ("smile_kl_nopublish", "Smile → Klaviyo, ingest only"),
    ]
    rows += [
        ("smile_ps_parallel", "Smile → Postscript, parallel path *"),
        ("smile_kl_parallel", "Smile → Klaviyo, parallel path *"),
    ]
    head = "".join(f"{r['tree']:>22}" for r in results)
    first = results[0][rows[0][0]]
    print(f"records per merchant: {first['records']} pulled; CPU: the least of --repeat runs")
    print(f"\nCPU ms per record pulled{'':22}{head}")
    for key, label in rows:
        print(f"  {label:44}" + "".join(_cell(r, key, "cpu_ms_per_record", 3) for r in results))
    print(f"\nRedis commands per record (Lua-internal included){head}")
    for key, label in rows:
        print(f"  {label:44}" + "".join(_cell(r, key, "redis_per_record", 2) for r in results))
    print(
        "  * a sync run's stream and page jobs (windows, leases, page bodies in Redis), run inline, not as Celery tasks"
    )
    for r in results:
        for key in ("smile_kl", "smile_kl_parallel"):
            if key in r:
                print(f"\n{r['tree']}: Redis commands per record, {key}: {r[key]['redis_top']}")
    for r in results:
        for key in ("cprofile", "cprofile_parallel"):
            if key not in r:
                continue
            c = r[key]
            print(
                f"\n{r['tree']}, {key}: shares of the profiled CPU time ({c['cpu_ms_per_record_profiled']:.3f} ms per "
                f"record under cProfile, which inflates it; the shares are what matters):"
            )
            for label, share in c["shares"].items():
                print(f"  {share:6.1%}  {label}")
            print("\n".join(c["top"]))


if __name__ == "__main__":
    main()
