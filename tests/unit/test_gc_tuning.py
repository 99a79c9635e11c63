"""The server's garbage-collector settings (oms.bootstrap.tune_gc), in a process of its own:
they change the interpreter's global state, which the rest of the suite must not inherit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import gc
    from oms.bootstrap import YOUNG_GENERATION_THRESHOLD, gc_pauses_ns, tune_gc

    tune_gc()
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
    timed = len(gc_pauses_ns)
    frozen_at_start = gc.get_freeze_count()
    survivors = [[n] for n in range(50_000)]        # long-lived, like the day's orders
    gc.collect(1)                                  # what the allocator triggers by itself
    assert gc.get_freeze_count() >= frozen_at_start + 50_000, gc.get_freeze_count()
    assert len(gc.get_objects(generation=2)) < 1_000, len(gc.get_objects(generation=2))

    class Node:
        pass
    a, b = Node(), Node()
    a.other, b.other = b, a                        # a cycle that dies young
    del a, b
    assert gc.collect(0) >= 2                      # still found by the young collection
    assert len(gc_pauses_ns) >= timed + 2          # every collection is timed ...
    assert all(0 < pause < 10**10 for pause in gc_pauses_ns)  # ... in ns, start to stop
    print("ok", len(survivors))
""")


def test_survivors_of_a_middle_collection_are_frozen_and_young_cycles_still_collected():
    # Arrange / Act
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60)

    # Assert
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 50000"
