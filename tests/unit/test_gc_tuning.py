"""The server's garbage-collector policy (oms.gc_policy.IdleCollector), in a process of its
own: it changes the interpreter's global state, which the rest of the suite must not inherit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import gc, weakref
    from oms.gc_policy import IdleCollector, gc_pauses_ns, take_over, waiting_objects

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a

    def nodes():
        return sum(isinstance(o, Node) for o in gc.get_objects())

    work = [0]
    take_over()                                    # what start() does before its thread
    assert not gc.isenabled()
    collector = IdleCollector(lambda: work[0], idle_s=1, deep_idle_s=60, cap=50_000)
    frozen_at_start = gc.get_freeze_count()
    timed = len(gc_pauses_ns)

    # busy: nothing is collected, however much is allocated, until the cap
    survivors = [[n] for n in range(30_000)]       # long-lived, like the day's orders
    garbage = cycle()
    del garbage                                    # a cycle that dies young
    collector.step(idle_for=0.5)
    assert len(gc_pauses_ns) == timed, "a collection ran under load"
    assert waiting_objects() >= 30_000 and nodes() == 2

    # idle: one collection frees the cycle and freezes the survivors
    collector.step(idle_for=1.0)
    assert collector.idle_collections == 1
    assert len(gc_pauses_ns) == timed + 1          # timed ...
    assert all(0 < pause < 10**10 for pause in gc_pauses_ns)  # ... in ns
    assert nodes() == 0, "the young cycle lived"
    assert gc.get_freeze_count() >= frozen_at_start + 30_000
    assert waiting_objects() < 1_000
    collector.step(idle_for=30.0)                  # still idle: nothing more to do
    assert collector.idle_collections == 1 and len(gc_pauses_ns) == timed + 1

    # load that never pauses: past the cap, frozen without a walk (a cycle with them)
    collector.step(idle_for=0.0)
    more = [[n] for n in range(60_000)]
    frozen_cycle = cycle()
    alive = weakref.ref(frozen_cycle)
    collector.step(idle_for=0.0)
    assert collector.freezes_under_load == 1
    assert len(gc_pauses_ns) == timed + 1, "the cap walked the objects"
    assert waiting_objects() < 1_000
    del frozen_cycle                               # dies frozen: no collection sees it ...
    collector.step(idle_for=1.0)
    assert collector.idle_collections == 2
    assert gc.collect() == 0 and alive() is not None  # ... not even a full one ...

    # ... until a long quiet spell: everything collected once, the frozen cycle freed
    collector.step(idle_for=59.0)
    assert collector.deep_collections == 0
    collector.step(idle_for=60.0)
    collector.step(idle_for=120.0)
    assert collector.deep_collections == 1 and alive() is None
    assert len(gc_pauses_ns) == timed + 4          # young, young, the test's full, deep
    assert gc.get_freeze_count() >= 90_000         # the survivors frozen again
    assert not gc.isenabled()
    print("ok", len(survivors) + len(more))
""")

THREAD_SCRIPT = textwrap.dedent("""
    import gc, time
    from oms.gc_policy import IdleCollector

    work = [0]
    collector = IdleCollector(lambda: work[0], idle_s=0.2, poll_s=0.02).start()
    kept = [[n] for n in range(10_000)]
    frozen = gc.get_freeze_count()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:             # busy for 0.5 s: no collection
        work[0] += 1
        time.sleep(0.01)
    assert collector.idle_collections == 0, collector.idle_collections
    time.sleep(1.0)                                # idle: collected and frozen by the thread
    collector.stop()
    assert collector.idle_collections == 1, collector.idle_collections
    assert gc.get_freeze_count() >= frozen + 10_000
    print("ok", len(kept))
""")


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)


def test_no_collection_under_load_one_when_idle_a_freeze_past_the_cap_and_a_deep_one():
    # Arrange / Act
    done = _run(SCRIPT)

    # Assert
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 90000"


def test_the_collector_thread_collects_only_once_the_work_counter_stops():
    # Arrange / Act
    done = _run(THREAD_SCRIPT)

    # Assert
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 10000"
