"""Two "hosts" for workers on one machine: Linux network namespaces, each joined to the real host by
a veth pair (``ip netns``, ``ip link``; root only), for tests/chaos/test_partitioned_host.py.

The real host keeps Redis, the simulators, web and beat. It answers the namespaces on one service
address (``SERVICE_IP``, added to the machine's loopback interface while the test runs, so it stays
up whichever veth goes down; no ``dummy`` kernel module needed).
Redis listens there itself; the simulators bind loopback only, so a :class:`Relay` forwards each
simulator port from the service address to loopback, counting bytes by source host. Cutting a host
off is ``ip link set <its veth, host side> down``: its processes keep running but reach nothing,
as on a machine whose network failed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SUBNET = "10.213"
SERVICE_IP = f"{SUBNET}.0.1"


def can_run() -> str | None:
    """Why the namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip (scripts/test installs it)"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Hosts:
    """``names`` namespaces ``lp<pid><name>``, host ``i`` at ``10.213.<i+1>.2``."""

    def __init__(self, names: Iterable[str]) -> None:
        tag = f"{os.getpid() % 100000}"
        self.names = list(names)
        self.netns = {n: f"lp{tag}{n}" for n in self.names}
        self.veth = {n: f"lpv{tag}{n}" for n in self.names}  # host side; the namespace side ends in "p"
        self.address = {n: f"{SUBNET}.{i + 1}.2" for i, n in enumerate(self.names)}

    def create(self) -> None:
        _ip("addr", "replace", f"{SERVICE_IP}/32", "dev", "lo")
        for i, name in enumerate(self.names):
            ns, host_end, ns_end = self.netns[name], self.veth[name], self.veth[name] + "p"
            _ip("netns", "add", ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", ns)
            _ip("addr", "add", f"{SUBNET}.{i + 1}.1/24", "dev", host_end)
            _ip("link", "set", host_end, "up")
            for args in (("link", "set", "lo", "up"), ("addr", "add", f"{self.address[name]}/24", "dev", ns_end),
                         ("link", "set", ns_end, "up"), ("route", "add", "default", "via", f"{SUBNET}.{i + 1}.1")):
                _ip("-n", ns, *args)

    def reachable(self, name: str, port: int) -> bool:
        """Whether a process in ``name`` can open a TCP connection to the service address."""
        probe = (f"import socket; socket.create_connection(('{SERVICE_IP}', {port}), timeout=2).close()")
        done = subprocess.run(["ip", "netns", "exec", self.netns[name], "python3", "-c", probe],
                              capture_output=True, timeout=10)
        return done.returncode == 0

    def spawn(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside host ``name`` (in a session of its own, for killpg)."""
        return subprocess.Popen(["ip", "netns", "exec", self.netns[name], *argv], env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    def cut(self, name: str) -> None:
        """Link down: host ``name`` reaches nothing and nothing reaches it."""
        _ip("link", "set", self.veth[name], "down")

    def remove(self) -> None:
        for name in self.names:
            _ip("netns", "del", self.netns[name], check=False)  # its veth end goes with it, and the pair
            _ip("link", "del", self.veth[name], check=False)
        _ip("addr", "del", f"{SERVICE_IP}/32", "dev", "lo", check=False)


class Relay:
    """Forwards ``SERVICE_IP:port`` to ``127.0.0.1:port`` for each port, counting bytes sent by each
    source address (which host talked to which simulator)."""

    def __init__(self, ports: Iterable[int]) -> None:
        self.sent: Counter[tuple[str, int]] = Counter()  # (source ip, port) -> bytes towards the simulator
        self._lock = threading.Lock()
        self._listeners: list[socket.socket] = []
        for port in ports:
            listener = socket.create_server((SERVICE_IP, port), backlog=128)
            self._listeners.append(listener)
            threading.Thread(target=self._accept, args=(listener, port), daemon=True).start()

    def _accept(self, listener: socket.socket, port: int) -> None:
        while True:
            try:
                client, (source, _) = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            threading.Thread(target=self._pipe, args=(client, upstream, (source, port)), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: tuple[str, int] | None) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                if count is not None:
                    with self._lock:
                        self.sent[count] += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def bytes_from(self, source: str, port: int) -> int:
        with self._lock:
            return self.sent[(source, port)]

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
