"""Admission by expected wait: let a request in while the work queued ahead of it would be done within
`max_queue_wait_s`, and while the uploads held in memory stay under `max_queued_bytes`.

Counting requests treats a portrait and a crowd photo alike: the count either refuses work that would be
answered in a second or admits work nobody waits for. So each queued image is counted in work units
(megapixels as the detector sees them, at least `MIN_UNITS`), and the inference thread's measured seconds
per unit, a moving median, turns the units ahead into seconds. A request still uploading or decoding
counts as an average image until its size is known.

Memory is bounded separately and hard: every admitted request holds its upload bytes (the declared
Content-Length at once, streamed bytes as they arrive), what decoding takes while it decodes, then its array.
A reservation past the cap is refused, except for a request that would hold memory alone, so one
upload within the per-file limits always gets through.

A refusal is decided before a byte of the body is read, and it spreads the herd: each refused request is
given the next free return slot, one average job's compute time after the previous one and no earlier than
the queue would have room for it, so clients refused together come back about as fast as the inference
thread drains the queue instead of all on the same second (`Retry-After`; docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIN_UNITS = 0.1  # a tiny image still costs a pass through both networks: counted as 0.1 megapixel
WINDOW = 16  # images the cost is taken over
ROOM_POLL_S = 0.02  # how often a request waiting for memory looks again
MAX_RETRY_AFTER_S = 60.0  # the return schedule never sends a client further away than this


class Overloaded(RuntimeError):
    """Admitting the request would break the wait bound (`queue_wait`) or the memory cap (`memory`)."""

    def __init__(self, reason: str, retry_after_s: float, detail: str, expected_wait_s: float = 0.0):
        super().__init__(detail)
        self.reason = reason
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        self.expected_wait_s = expected_wait_s  # what a request arriving now would wait (X-Queue-Wait)


class ClientGone(RuntimeError):
    """The client disconnected before its image was computed; the job was dropped."""


def work_units(height: int, width: int, detector_max_side: int) -> float:
    """Megapixels of the copy the detector sees (shrunk to `max_side`), at least MIN_UNITS."""
    scale = min(1.0, detector_max_side / max(height, width, 1))
    return max(MIN_UNITS, height * width * scale * scale / 1e6)


class CostModel:
    """The inference thread's seconds per unit, a moving median over the last WINDOW images (a stall of a
    few images, such as a burst's decoding beside them, does not swing it; a lasting change moves it within
    half a window), and the mean units of those images."""

    def __init__(self, seconds_per_unit: float = 0.3, units_per_job: float = 0.5):
        self._costs: deque[float] = deque([seconds_per_unit], maxlen=WINDOW)
        self._units: deque[float] = deque([units_per_job], maxlen=WINDOW)
        self.seconds_per_unit, self.units_per_job = seconds_per_unit, units_per_job

    def observe(self, seconds: float, units: float) -> None:
        self._costs.append(seconds / units)
        self._units.append(units)
        self.seconds_per_unit = statistics.median(self._costs)
        self.units_per_job = statistics.fmean(self._units)


@dataclass
class Work:
    """One image in the inference queue: its units and where it is (queued, running, done, dropped)."""

    units: float
    state: str = "queued"

    @property
    def micro(self) -> int:
        """The units in millionths: the ledger adds whole numbers, so an empty queue sums to exactly 0."""
        return round(self.units * 1e6)


class Admission:
    """The door and the ledger of what is queued; shared by the event loop and the inference thread."""

    def __init__(self, max_wait_s: float, max_bytes: int, detector_max_side: int):
        self.max_wait_s, self.max_bytes, self.detector_max_side = max_wait_s, max_bytes, detector_max_side
        self.cost = CostModel()
        self.admitted = 0  # requests let in and not yet answered
        self.dropped = 0  # jobs dropped because their client went away
        self._unsized = 0  # admitted requests with no image in the queue yet (uploading, decoding)
        self._queued_micro = 0  # units of the images queued and not started, in millionths
        self._running: tuple[float, float] | None = None  # (units, perf_counter at start)
        self._held_bytes = 0
        self._next_return = 0.0  # time.monotonic() of the next free return slot of a refused client
        self._lock = threading.Lock()

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    def seed(self, seconds: float, units: float) -> None:
        """Start the cost from a measured pass (the warm-up), not a guess."""
        with self._lock:
            self.cost = CostModel(seconds_per_unit=seconds / units, units_per_job=units)

    def expected_wait_s(self) -> float:
        """Seconds until the inference thread would start on a request arriving now."""
        with self._lock:
            return self._expected_wait()

    def _expected_wait(self) -> float:
        cost = self.cost
        ahead = self._queued_micro / 1e6 + self._unsized * cost.units_per_job
        running = 0.0
        if self._running is not None:
            units, started = self._running
            running = max(0.0, units * cost.seconds_per_unit - (time.perf_counter() - started))
        return running + ahead * cost.seconds_per_unit

    def _return_slot(self, deficit_s: float) -> float:
        """Seconds until a refused client should come back (lock held): the next free slot, no earlier than
        `deficit_s` (when the queue would have room); the slot after it is one average job later."""
        now = time.monotonic()
        slot = max(now + deficit_s, self._next_return)
        self._next_return = slot + self.cost.seconds_per_unit * self.cost.units_per_job
        return min(slot - now, MAX_RETRY_AFTER_S)

    @contextmanager
    def admit(self) -> Iterator[Ticket]:
        """Let one request in, or raise `Overloaded`; what it holds is released when the block ends."""
        with self._lock:
            wait = self._expected_wait()
            if wait > self.max_wait_s:
                raise Overloaded(
                    "queue_wait",
                    self._return_slot(wait - self.max_wait_s),
                    f"expected wait {wait:.1f} s is over max_queue_wait_s {self.max_wait_s:g} s",
                    wait,
                )
            self.admitted += 1
            self._unsized += 1
        ticket = Ticket(self)
        try:
            yield ticket
        finally:
            ticket.release()

    def reserve(self, ticket: Ticket, extra: int) -> None:
        """Add `extra` bytes to what `ticket` holds, or raise `Overloaded` past the cap."""
        if not self.try_reserve(ticket, extra):
            wait = self.expected_wait_s()
            raise Overloaded(
                "memory",
                wait,
                f"queued uploads hold {self._held_bytes:,} bytes; max_queued_bytes is {self.max_bytes:,}",
                wait,
            )

    def try_reserve(self, ticket: Ticket, extra: int) -> bool:
        """Add `extra` bytes to what `ticket` holds if they fit under the cap (or it would be alone)."""
        with self._lock:
            alone = self._held_bytes == ticket.held
            if not alone and self._held_bytes + extra > self.max_bytes:
                return False
            self._held_bytes += extra
            ticket.held += extra
            return True

    def enqueue(self, ticket: Ticket, units: float) -> Work:
        with self._lock:
            if not ticket.sized:
                ticket.sized = True
                self._unsized -= 1
            work = Work(units)
            self._queued_micro += work.micro
        return work

    def start(self, work: Work) -> bool:
        """The inference thread takes `work`; False when its client went away (skip it)."""
        with self._lock:
            if not self._leave_queue(work, "running"):
                return False
            self._running = (work.units, time.perf_counter())
            return True

    def finish(self, work: Work, seconds: float) -> None:
        with self._lock:
            work.state = "done"
            self._running = None
            self.cost.observe(seconds, work.units)

    def drop(self, work: Work) -> bool:
        """Take `work` out of the queue if it has not started; True when it will never be computed."""
        with self._lock:
            dropped = self._leave_queue(work, "dropped")
            self.dropped += dropped
            return dropped

    def _leave_queue(self, work: Work, state: str) -> bool:
        """Move queued `work` to `state` (lock held); False when it had already left the queue."""
        if work.state != "queued":
            return False
        work.state = state
        self._queued_micro -= work.micro
        return True

    def release(self, ticket: Ticket) -> None:
        """The request is answered: let go of its bytes and its place at the door."""
        with self._lock:
            self.admitted -= 1
            self._held_bytes -= ticket.held
            ticket.held = 0
            if not ticket.sized:
                ticket.sized = True
                self._unsized -= 1


class Ticket:
    """One admitted request: the bytes it holds and whether its image has reached the queue."""

    def __init__(self, admission: Admission):
        self.admission = admission
        self.held = 0
        self.upload_held = 0
        self.sized = False

    def hold_upload(self, received: int) -> None:
        """The upload has reached `received` bytes (or declared them): hold at least that many."""
        if received > self.upload_held:
            self.admission.reserve(self, received - self.upload_held)
            self.upload_held = received

    @contextmanager
    def holding(self) -> Iterator[Hold]:
        """What one image holds, for the block: a batch lets go of each image in turn."""
        hold = Hold(self)
        try:
            yield hold
        finally:
            hold.resize(0)

    def enqueue(self, height: int, width: int) -> Work:
        admission = self.admission
        return admission.enqueue(self, work_units(height, width, admission.detector_max_side))

    def release(self) -> None:
        self.admission.release(self)


@dataclass
class Hold:
    """Bytes one image holds: what decoding takes while it decodes, then the decoded array alone."""

    ticket: Ticket
    nbytes: int = 0

    def resize(self, nbytes: int) -> None:
        """Hold `nbytes` from now on; growing past the cap raises `Overloaded`, shrinking never does."""
        self.ticket.admission.reserve(self.ticket, nbytes - self.nbytes)
        self.nbytes = nbytes

    async def wait_for(self, nbytes: int, seconds: float) -> None:
        """Hold `nbytes`, waiting up to `seconds` for room as other images are answered; then `Overloaded`.
        A burst of large files is so served a few at a time instead of refused."""
        admission, deadline = self.ticket.admission, time.monotonic() + seconds
        while not admission.try_reserve(self.ticket, nbytes - self.nbytes):
            if time.monotonic() >= deadline:
                self.resize(nbytes)  # room at the last moment, or Overloaded
                return
            await asyncio.sleep(ROOM_POLL_S)
        self.nbytes = nbytes
