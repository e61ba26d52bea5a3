"""The door (inference_service/admission.py) on its own, no models: admission by expected wait, the hard
byte cap, dropping a job whose client went away, and Retry-After from the expected wait."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from inference_service.admission import MIN_UNITS, Admission, Overloaded, work_units

MiB = 1024 * 1024


def door(max_wait_s: float = 1.0, max_bytes: int = 100 * MiB) -> Admission:
    """A door whose measured cost is 0.5 s per megapixel and whose average image is 0.2 megapixel."""
    admission = Admission(max_wait_s, max_bytes, detector_max_side=1000)
    admission.seed(seconds=0.1, units=0.2)
    return admission


def test_units_are_megapixels_the_detector_sees_with_a_floor() -> None:
    assert work_units(500, 400, 1000) == pytest.approx(0.2)
    assert work_units(4000, 3000, 1000) == pytest.approx(0.75)  # shrunk to 1000 x 750
    assert work_units(8, 8, 1000) == MIN_UNITS


def test_admits_while_the_expected_wait_is_under_the_bound_then_refuses() -> None:
    admission = door(max_wait_s=1.0)  # each unsized request counts 0.2 MP x 0.5 s = 0.1 s
    with ExitStack() as stack:
        for _ in range(11):  # the 11th arrives behind 10 x 0.1 s = 1.0 s: still admitted
            stack.enter_context(admission.admit())
        assert admission.expected_wait_s() == pytest.approx(1.1)
        with pytest.raises(Overloaded) as refused, admission.admit():
            pass
        assert refused.value.reason == "queue_wait" and refused.value.retry_after_s == 1
        assert admission.admitted == 11
    assert admission.admitted == 0 and admission.expected_wait_s() == 0


def test_queued_images_count_by_their_size_and_the_cost_follows_measurements() -> None:
    admission = door(max_wait_s=60)
    with admission.admit() as ticket:
        work = ticket.enqueue(2000, 2000)  # shrunk to 1000 x 1000: 1 MP
        assert admission.expected_wait_s() == pytest.approx(0.5)
        for seconds in (2.5, 2.5, 0.5):  # two slower than thought (2.5 s per MP), one as thought
            assert admission.start(work)
            admission.finish(work, seconds)
            work = ticket.enqueue(2000, 2000)
        assert admission.start(work)
        admission.finish(work, 9.0)  # one stall does not swing the median of 0.5, 2.5, 2.5, 0.5, 9
    assert admission.cost.seconds_per_unit == pytest.approx(2.5)
    assert admission.expected_wait_s() == 0


def test_retry_after_is_the_time_until_the_queue_has_room() -> None:
    admission = door(max_wait_s=1.0)
    with admission.admit() as ticket:
        for _ in range(7):
            ticket.enqueue(4000, 4000)  # 1 MP each: 3.5 s ahead of the next request
        with pytest.raises(Overloaded) as refused, admission.admit():
            pass
    assert refused.value.retry_after_s == 3  # ceil(3.5 - 1.0): then it would be admitted


def test_the_byte_cap_is_hard_but_one_request_alone_always_fits() -> None:
    admission = door(max_wait_s=60, max_bytes=10 * MiB)
    with admission.admit() as big:
        big.hold_upload(4 * MiB)
        with big.holding() as hold:
            hold.resize(40 * MiB)  # decoding alone: over the cap, still let through
            hold.resize(30 * MiB)  # decoded: only the array is left
            assert admission.held_bytes == 34 * MiB
            with admission.admit() as second, pytest.raises(Overloaded) as refused:
                second.hold_upload(MiB)
            assert refused.value.reason == "memory"
        assert admission.held_bytes == 4 * MiB  # the pixels are let go after the block
        with admission.admit() as third:
            third.hold_upload(5 * MiB)
            with pytest.raises(Overloaded):
                third.hold_upload(7 * MiB)  # streamed on past the cap
    assert admission.held_bytes == 0


def test_a_dropped_job_is_skipped_and_leaves_the_queue() -> None:
    admission = door(max_wait_s=60)
    with admission.admit() as first, admission.admit() as second:
        running, waiting = first.enqueue(1000, 1000), second.enqueue(1000, 1000)
        assert admission.start(running)
        assert not admission.drop(running)  # already computing: it finishes
        assert admission.drop(waiting)
        assert not admission.start(waiting)  # the inference thread skips it
        assert admission.dropped == 1
        admission.finish(running, 0.5)
        assert admission.expected_wait_s() == 0


def test_a_request_waits_for_memory_up_to_a_deadline() -> None:
    admission = door(max_wait_s=60, max_bytes=10 * MiB)

    async def scenario() -> None:
        with admission.admit() as first, admission.admit() as second:
            first.hold_upload(8 * MiB)
            with second.holding() as hold:
                with pytest.raises(Overloaded):  # nobody lets go: refused at the deadline
                    await hold.wait_for(5 * MiB, seconds=0.05)
                later = asyncio.get_running_loop().call_later(0.05, first.release)
                await hold.wait_for(5 * MiB, seconds=5)  # served once the first one is answered
                later.cancel()
                assert admission.held_bytes == 5 * MiB

    # A thread of its own: a session's browser tests may leave an event loop running on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()
    assert admission.held_bytes == 0


def test_refused_clients_get_return_slots_spread_at_the_drain_rate() -> None:
    """A herd refused together is told to come back one average job apart (0.2 MP x 0.5 s = 0.1 s here),
    from when the queue would have room, instead of all on the same second; X-Queue-Wait is the wait."""
    admission = door(max_wait_s=1.0)
    slots, waits = [], []
    with ExitStack() as stack:
        for _ in range(11):
            stack.enter_context(admission.admit())
        for _ in range(30):
            with pytest.raises(Overloaded) as refused, admission.admit():
                pass
            slots.append(refused.value.retry_after_s)
            waits.append(refused.value.expected_wait_s)
    assert waits == [pytest.approx(1.1)] * 30
    # slots at 0.1, 0.2, ..., 3.0 s after now: whole seconds 1, 1, ..., 2, ..., 3 (Retry-After rounds up)
    assert slots == sorted(slots) and slots[0] == 1 and slots[-1] == 3
    assert slots.count(1) == pytest.approx(10, abs=1) and slots.count(2) == pytest.approx(10, abs=1)
