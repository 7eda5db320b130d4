"""A real Redis Sentinel setup on loopback for the failover chaos test: one primary, one replica, three
sentinels (Debian's ``redis-sentinel``), each on a free port, in one temporary directory.

Settings follow docs/deploy.md "Redis Sentinel": AOF ``everysec`` and ``noeviction`` on both data
nodes, quorum 2 of 3 sentinels. ``down-after-milliseconds`` is 1 s so the test stays short
(production: 5 s or more, see the docs).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from sandbox.localredis import free_port

MASTER = "lp-chaos"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 10_000


def have_binaries() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-sentinel") is not None


class SentinelSetup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_ports = {"a": free_port(), "b": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"sentinel://{hosts}/0?master_name={MASTER}"

    def _start(self, name: str, args: list[str]) -> None:
        log = self.root / f"{name}.log"
        self.processes[name] = subprocess.Popen(args + ["--logfile", str(log)], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)

    def _data_node(self, name: str, replica_of: int | None) -> None:
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        args = ["redis-server", "--port", str(self.data_ports[name]), "--bind", "127.0.0.1", "--dir", str(directory),
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
                "--daemonize", "no"]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._start(name, args)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._data_node("a", None)
        self._wait(lambda: redis.Redis(port=self.data_ports["a"]).ping(), "primary answers")
        self._data_node("b", self.data_ports["a"])
        self._wait(lambda: redis.Redis(port=self.data_ports["b"]).info("replication")["master_link_status"] == "up",
                   "replica in sync")
        for i, port in enumerate(self.sentinel_ports):
            conf = self.root / f"sentinel-{i}.conf"  # sentinels rewrite their config file: one each
            conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                            f"sentinel monitor {MASTER} 127.0.0.1 {self.data_ports['a']} 2\n"
                            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                            f"sentinel parallel-syncs {MASTER} 1\n")
            self._start(f"sentinel-{i}", ["redis-sentinel", str(conf)])
        # every sentinel sees the replica and the two other sentinels: a failover can be agreed on
        self._wait(lambda: all(self._sentinel_view(p) == (1, 2) for p in self.sentinel_ports), "sentinels agree")

    def _sentinel_view(self, port: int) -> tuple[int, int]:
        master = redis.Redis(port=port, decode_responses=True).execute_command("SENTINEL", "MASTER", MASTER)
        fields = dict(zip(master[::2], master[1::2], strict=False)) if isinstance(master, list) else master
        return int(fields["num-slaves"]), int(fields["num-other-sentinels"])

    def primary_port(self) -> int:
        """The port of the primary the sentinels name now."""
        host, port = redis.Redis(port=self.sentinel_ports[0]).execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return int(port)

    def primary_url(self) -> str:
        return f"redis://127.0.0.1:{self.primary_port()}/0"

    def kill_primary(self) -> str:
        """SIGKILL the current primary (no AOF flush, no goodbye to its replica); returns its name."""
        port = self.primary_port()
        name = next(n for n, p in self.data_ports.items() if p == port)
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(10)
        return name

    def promoted(self, old_port: int) -> bool:
        """Every sentinel names another primary, and that one answers as a primary."""
        try:
            ports = {int(redis.Redis(port=p).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)[1])
                     for p in self.sentinel_ports}
            if len(ports) != 1 or old_port in ports:
                return False
            return redis.Redis(port=ports.pop()).info("replication")["role"] == "master"
        except (redis.RedisError, OSError):
            return False

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    @staticmethod
    def _wait(check: object, what: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if check():  # type: ignore[operator]
                    return
            except (redis.RedisError, OSError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sentinel setup: timed out waiting until {what}")
            time.sleep(0.1)
