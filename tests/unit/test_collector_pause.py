"""The collector pause around an apply: off while held, back on after, never left off."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from control_plane.collector_pause import CollectorPause


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_held_turns_the_collector_off_until_the_last_holder_leaves() -> None:
    pause = CollectorPause()
    with pause.held():
        assert not gc.isenabled()
        with pause.held():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the outer apply still runs"
    assert gc.isenabled()


def test_an_error_inside_resumes_it() -> None:
    pause = CollectorPause()
    with pytest.raises(RuntimeError), pause.held():
        raise RuntimeError("the apply failed")
    assert gc.isenabled()


def test_a_long_hold_is_ended_by_the_timer() -> None:
    pause = CollectorPause(max_pause_s=0.05)
    with pause.held():
        deadline = time.monotonic() + 5
        while not gc.isenabled():
            assert time.monotonic() < deadline, "the timer did not resume the collector"
            time.sleep(0.01)
    assert gc.isenabled()


def test_a_collector_turned_off_elsewhere_stays_off() -> None:
    gc.disable()
    with CollectorPause().held():
        pass
    assert not gc.isenabled()
