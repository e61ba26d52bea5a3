"""The inference thread keeps the cores: decode threads run nicer than it."""

from __future__ import annotations

import os
import threading

from inference_service.worker import below_inference


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_work_below_inference_runs_on_a_nicer_thread_and_leaves_others_alone() -> None:
    seen: list[int] = []
    work = below_inference(lambda value: seen.append(_niceness()) or value * 2, niceness=10)
    here = _niceness()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(work(21)))
    thread.start()
    thread.join()
    assert result == [42] and seen == [min(19, here + 10)]
    assert _niceness() == here  # the caller's thread is not touched


def test_niceness_zero_changes_nothing() -> None:
    here = _niceness()
    assert below_inference(_niceness, niceness=0)() == here
