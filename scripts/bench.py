#!/usr/bin/env python3
"""``scripts/bench.py``: the same as ``oms bench`` (see ``oms bench --help``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from oms.cli.bench import bench  # noqa: E402

if __name__ == "__main__":
    bench()
