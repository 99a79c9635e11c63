#!/usr/bin/env python3
"""Compare two checkouts of the OMS in alternating ``oms bench`` runs.

A change of a few percent does not show in single runs on a shared 2-core machine, whose
figures move by +-15% and drift within the hour. This script runs the benchmark of
checkout A and of checkout B in pairs, alternating which goes first (A B, B A, A B, ...)
so that a drift of the machine weighs on both, and prints every run, then per figure the
median of the pairs' B/A ratios and in how many pairs B was lower.

    git worktree add /tmp/base main             # A: the code before the change
    python scripts/bench_ab.py --a /tmp/base --b . --rate 1000 --pairs 4

On the 2-core benchmark machine CPU per order compares to ~1% in pairs of 10-second runs;
latency p99s need runs of 30 s or more (``--orders 30000`` at 1,000/s) to come within
~10%, and p50s stay loose (docs/perf/README.md, "an A/A comparison").

Each run is ``python <tree>/scripts/bench.py --no-baseline --json-only``: the broker, the
OMS and the client all run that tree's code. Every run's JSON line is appended to
``--out`` with the tree it measured. Nothing here judges the figures: a ratio inside the
spread of the pairs is noise; it exits non-zero only if a run failed.

Each side's ``bench.py`` runs in its own checkout's directory, so its children import that
checkout's ``oms`` (relative paths in ``--a-args``/``--b-args`` are relative to it).

``--b-patch PATCH`` makes B from A instead: A's committed HEAD in a temporary git worktree
with PATCH applied (``git apply``), removed afterwards. It measures a scratch change without
committing it anywhere, such as the journal bounds of docs/perf/bounds/:

    python scripts/bench_ab.py --a . --b-patch docs/perf/bounds/flush-only.patch --pairs 3

``--a-args``/``--b-args`` add arguments to one side's runs, so one checkout can be compared
with itself under two settings; ``--scenario relay`` compares the relay (the runs then
include the baseline). For instance the benchmark's own load client against the
independent one (``oms bench --client raw``), on the relay:

    python scripts/bench_ab.py --a . --b . --b-args="--client raw" --scenario relay
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from oms.bench.suite import figure  # noqa: E402

FIGURES = [  # (column, path into the scenario's result, format); lower is better for all
    ("ack p50 ms", ("ack_ms", "p50"), "{:.2f}"),
    ("ack p99 ms", ("ack_ms", "p99"), "{:.2f}"),
    ("ack p99.9 ms", ("ack_ms", "p99.9"), "{:.2f}"),
    ("internal p50 us", ("internal_us", "p50"), "{:,.0f}"),
    ("internal p99 us", ("internal_us", "p99"), "{:,.0f}"),
    ("internal p99.9 us", ("internal_us", "p99.9"), "{:,.0f}"),
    ("CPU us/order", ("cpu_us_per_order",), "{:,.0f}"),
    ("commits us/order", ("commit_cpu_us_per_order",), "{:,.0f}"),
]
THROUGHPUT = ("orders/s", ("orders_per_s",), "{:,.0f}")  # higher is better


def run_once(tree: Path, args: argparse.Namespace, extra: list[str] | None = None
             ) -> dict[str, Any] | None:
    """One ``bench.py`` run of ``tree`` (plus ``extra`` arguments): the result of
    ``args.scenario``, or None if it failed."""
    baseline = "--baseline" if args.scenario == "relay" else "--no-baseline"
    done = subprocess.run(
        [sys.executable, str(tree / "scripts" / "bench.py"), "--orders", str(args.orders),
         "--rate", str(args.rate), "--database", args.database, baseline, "--json-only",
         *(extra or [])],
        # in the tree itself: a child started with `python -m` imports the `oms` of its
        # working directory first, and a tree older than 7f600b2 starts its children in
        # ours (both sides then ran the same code)
        capture_output=True, text=True, check=False, cwd=tree)
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not line:
        print(f"{tree}: bench.py exited {done.returncode}; the end of what it said:",
              *done.stderr.strip().splitlines()[-8:], *done.stdout.strip().splitlines()[-3:],
              sep="\n  ", file=sys.stderr)
        return None
    document = json.loads(line)
    with args.out.open("a") as out:
        out.write(json.dumps({"tree": str(tree), "extra_args": extra or [], **document})
                  + "\n")
    result: dict[str, Any] = document["results"][args.scenario]
    return result


class PatchError(Exception):
    """The patched tree could not be made (not a git checkout, or the patch does not apply)."""


@contextlib.contextmanager
def patched_tree(base: Path, patch: Path) -> Iterator[Path]:
    """A temporary git worktree of ``base``'s committed HEAD with ``patch`` applied; the
    worktree is removed (and pruned from ``base``'s list) on leaving."""
    patch = patch.resolve()
    if not patch.is_file():
        raise PatchError(f"{patch}: no such patch file")

    def git(*args: str, cwd: Path = base) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=False)

    try:
        with tempfile.TemporaryDirectory(prefix="bench-ab-") as scratch:
            tree = Path(scratch) / "b"
            added = git("worktree", "add", "--detach", str(tree), "HEAD")
            if added.returncode != 0:
                raise PatchError(f"{base}: cannot make a worktree of its HEAD: "
                                 f"{added.stderr.strip()}")
            try:
                applied = git("apply", str(patch), cwd=tree)
                if applied.returncode != 0:
                    raise PatchError(f"{patch.name} does not apply to {base}'s HEAD: "
                                     f"{applied.stderr.strip()}")
                yield tree
            finally:
                git("worktree", "remove", "--force", str(tree))
    finally:
        # only if the remove failed: its folder is gone now, so git forgets it
        git("worktree", "prune")


def pair_order(index: int) -> tuple[str, str]:
    """Which checkout runs first in pair ``index`` (0-based): A B, then B A, and so on."""
    return ("a", "b") if index % 2 == 0 else ("b", "a")


def summarize(pairs: list[dict[str, dict[str, Any]]]) -> list[tuple[str, str, str, str]]:
    """Per figure: (figure, median B/A, the range of B/A, pairs where B was better)."""
    rows = []
    for name, path, _ in [THROUGHPUT, *FIGURES]:
        ratios, better = [], 0
        for pair in pairs:
            a, b = figure(pair["a"], path), figure(pair["b"], path)
            if a is None or b is None or a == 0:
                continue
            ratios.append(b / a)
            better += (b > a) if name == THROUGHPUT[0] else (b < a)
        if ratios:
            rows.append((name, f"{statistics.median(ratios):.3f}",
                         f"{min(ratios):.3f}-{max(ratios):.3f}", f"{better} of {len(ratios)}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=Path, required=True, help="checkout A (the reference)")
    parser.add_argument("--b", type=Path, default=None,
                        help="checkout B (the change; default: the current directory)")
    parser.add_argument("--b-patch", type=Path, default=None,
                        help="B is A's committed HEAD with this patch applied (instead of --b)")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1000.0, help="orders/s; 0 = max rate")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--a-args", default="", help="more bench.py arguments for A's runs")
    parser.add_argument("--b-args", default="", help="more bench.py arguments for B's runs")
    parser.add_argument("--scenario", default=None,
                        help="the scenario compared: oms-<database> (the default) or relay")
    parser.add_argument("--out", type=Path, default=Path("bench-ab.jsonl"))
    args = parser.parse_args(argv)
    args.scenario = args.scenario or f"oms-{args.database}"
    if args.scenario not in ("relay", f"oms-{args.database}"):
        parser.error(f"--scenario must be relay or oms-{args.database}")
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    if args.b is not None and args.b_patch is not None:
        parser.error("--b and --b-patch name B twice: give one")
    trees = {"a": args.a.resolve()}
    if args.b_patch is None:
        trees["b"] = (args.b or Path(".")).resolve()
    for key, tree in trees.items():
        if not (tree / "scripts" / "bench.py").is_file():
            parser.error(f"--{key} {tree}: not a checkout of the OMS (no scripts/bench.py)")
    if args.b_patch is None:
        return compare(args, trees)
    changed = subprocess.run(["git", "status", "--porcelain", "--", "oms", "scripts"],
                             cwd=trees["a"], capture_output=True, text=True, check=False)
    if changed.stdout.strip():
        print(f"warning: {trees['a']} has uncommitted changes under oms/ or scripts/: A runs "
              "them, B (made from its HEAD) does not", file=sys.stderr)
    try:
        with patched_tree(trees["a"], args.b_patch) as tree:
            print(f"B: {trees['a']}'s HEAD with {args.b_patch} applied", file=sys.stderr)
            return compare(args, {"a": trees["a"], "b": tree})
    except PatchError as exc:
        parser.error(str(exc))


def compare(args: argparse.Namespace, trees: dict[str, Path]) -> int:
    """Run the pairs, print every run and the summary; 1 if a run failed."""
    extra = {"a": shlex.split(args.a_args), "b": shlex.split(args.b_args)}
    header = ["pair", "tree", THROUGHPUT[0], *[name for name, _, _ in FIGURES]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    pairs: list[dict[str, dict[str, Any]]] = []
    failed = False
    for index in range(args.pairs):
        pair: dict[str, dict[str, Any]] = {}
        for key in pair_order(index):
            print(f"pair {index + 1} of {args.pairs}: {key.upper()} ({trees[key]}"
                  f"{' ' + shlex.join(extra[key]) if extra[key] else ''})",
                  file=sys.stderr, flush=True)
            result = run_once(trees[key], args, extra[key])
            if result is None:
                print(f"pair {index + 1}: the run of {key.upper()} failed", file=sys.stderr)
                failed = True
                continue
            pair[key] = result
            cells = []
            for _, path, form in [THROUGHPUT, *FIGURES]:
                value = figure(result, path)
                cells.append("-" if value is None else form.format(value))
            print("| " + " | ".join([str(index + 1), key.upper(), *cells]) + " |", flush=True)
        if len(pair) == 2:
            pairs.append(pair)

    print()
    print("| figure | B/A median | B/A range | B better in |")
    print("|---|---|---|---|")
    for row in summarize(pairs):
        print("| " + " | ".join(row) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
