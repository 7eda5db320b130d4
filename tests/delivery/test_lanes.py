"""Lanes: a key's holders never exceed its lanes; other keys are not held up."""

from __future__ import annotations

import threading

import pytest

from pipeline.delivery.lanes import Lanes


def test_a_key_has_at_most_its_lanes_and_other_keys_go_on() -> None:
    lanes = Lanes(per_key=2)
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    lock, gate = threading.Lock(), threading.Barrier(3)  # two "a" holders and one "b" meet inside

    def work(key: str, meet: bool) -> None:
        with lanes.hold(key):
            with lock:
                inside[key] += 1
                most[key] = max(most[key], inside[key])
            if meet:
                gate.wait(timeout=5)
            with lock:
                inside[key] -= 1

    threads = [threading.Thread(target=work, args=(k, m)) for k, m in
               [("a", True), ("a", True), ("b", True), ("a", False), ("a", False)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert most == {"a": 2, "b": 1} and not gate.broken  # "b" was not held up by "a"'s full lanes


def test_a_lane_is_given_back_when_the_block_raises() -> None:
    lanes = Lanes(per_key=1)
    with pytest.raises(RuntimeError), lanes.hold("k"):
        raise RuntimeError("bug")
    with lanes.hold("k"):  # would block forever if the lane were kept
        pass
    with pytest.raises(ValueError):
        Lanes(per_key=0)
