"""The server process's garbage collector (#3): no collection while orders flow.

Each order allocates a few hundred short-lived objects, freed by reference counting, and
keeps ~10 alive for the day (the ``Order``, its fills, their tuples). CPython's automatic
collections walk those survivors: at 1,000 orders/s the server ran a few young collections
per 10,000 orders, each a stall of milliseconds, and every one of them found nothing to
free (``collected`` 0; docs/perf/README.md, "The garbage collector policy"). Each stalls
every thread, and at that load the core is busy 90-95% of
the time, so a stall becomes a queue that takes far longer than itself to drain.

So in the server the automatic collector is off (``gc.disable``). What start-up loaded is
frozen (``gc.freeze``: moved where no collection looks, O(1)). ``IdleCollector``, a thread
of its own, runs the collections instead:

- when the OMS has been idle for ``idle_s`` (its work counter unchanged), a collection of
  what was allocated since the last one (the only objects not frozen), then a freeze of its
  survivors: each object of the day is walked once, in a quiet moment, and any reference
  cycle made meanwhile is freed then;
- under load that never pauses, once ``cap`` objects are waiting it freezes them without
  walking them (O(1)), so no collection ever grows past the walk of ``cap`` objects;
- when the OMS has been idle for ``deep_idle_s`` (a quiet minute, the night), one
  collection of everything, frozen objects included: a reference cycle that was frozen
  (under load, or alive at a freeze and dropped later) is freed then. The order path makes
  none (see above), so until then this is a rare leak, not the day's memory.

Every collection is timed (``gc_pauses_ns``: GET /stats ``gc_pause_us``).
This module does not decide what "busy" means: the caller hands it a counter.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0  # no work for this long: collect what is waiting
# no work for this long: collect everything, the day's orders included (tens of ms with
# 100,000 orders in memory), once per idle period
DEEP_IDLE_SECONDS = 60.0
# objects allocated and still alive since the last collection, beyond which they are frozen
# without a walk (~20,000 orders, whose walk would stall every thread for tens of ms)
FREEZE_CAP = 200_000
POLL_SECONDS = 0.25

# the collector's pauses in this process (ns), from the callback below: GET /stats
gc_pauses_ns: deque[int] = deque(maxlen=100_000)
_gc_started_ns = [0]


def _time_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started_ns[0] = time.perf_counter_ns()
    else:
        gc_pauses_ns.append(time.perf_counter_ns() - _gc_started_ns[0])


def waiting_objects() -> int:
    """Objects allocated (and still alive) since the last collection or freeze: the young
    generation's count; with the automatic collector off, the older two stay empty."""
    return gc.get_count()[0]


def take_over() -> None:
    """Time every collection, collect and freeze what exists, turn the automatic
    collector off."""
    if _time_collection not in gc.callbacks:
        gc.callbacks.append(_time_collection)
    gc.collect()
    gc.freeze()
    gc.disable()


class IdleCollector:
    """Collects garbage when the OMS is idle, freezes it when it never is (module doc).

    ``work_done`` is any counter that moves while the OMS works (the core's commands)."""

    def __init__(self, work_done: Callable[[], int], *, idle_s: float = IDLE_SECONDS,
                 deep_idle_s: float = DEEP_IDLE_SECONDS, cap: int = FREEZE_CAP,
                 poll_s: float = POLL_SECONDS) -> None:
        self.work_done = work_done
        self.idle_s = idle_s
        self.deep_idle_s = deep_idle_s
        self.cap = cap
        self.poll_s = poll_s
        self.idle_collections = 0
        self.deep_collections = 0
        self.freezes_under_load = 0
        self._done_this_idle = 0  # 0 nothing yet, 1 the young collection, 2 the deep one too
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IdleCollector:
        """Take the collector over (``take_over``) and start watching."""
        take_over()
        self._thread = threading.Thread(target=self._run, name="oms-gc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the automatic collector stays off: the process is ending)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        last_work = self.work_done()
        last_change = time.monotonic()
        while not self._stop.wait(self.poll_s):
            work, now = self.work_done(), time.monotonic()
            if work != last_work:
                last_work, last_change = work, now
            self.step(idle_for=now - last_change)

    def step(self, *, idle_for: float) -> None:
        """One look, ``idle_for`` seconds after the OMS last worked: once per idle period a
        collection of what is waiting, and after ``deep_idle_s`` one of everything
        (frozen objects included, so a cycle frozen under load is freed too); under load,
        a freeze once ``cap`` objects wait."""
        if idle_for < self.idle_s:
            self._done_this_idle = 0
            waiting = waiting_objects()
            if waiting >= self.cap:
                gc.freeze()
                self.freezes_under_load += 1
                log.info("gc: froze %d objects without a collection (no idle moment)",
                         waiting)
        elif self._done_this_idle == 0:
            self._done_this_idle = 1
            gc.collect()
            gc.freeze()
            self.idle_collections += 1
        elif self._done_this_idle == 1 and idle_for >= self.deep_idle_s:
            self._done_this_idle = 2
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.deep_collections += 1
