"""Summarise a py-spy ``raw`` profile (collapsed stacks): where the samples went.

``oms bench --profile DIR --profile-format raw`` writes one collapsed-stack file per
scenario (``thread (id): name;frame;frame;... count`` per line, as py-spy records it with
``--threads --function``). This prints the share of samples per thread, and the functions
with the most samples of their own (self) and with them on the stack (inclusive).

What it does not do: no flame graph (py-spy draws those itself), no merging of runs.

Run it: ``python -m oms.bench.profile FILE [--top N]``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ProfileSummary:
    samples: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    self_samples: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    def share(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0


def _function(frame: str) -> str:
    """``Core._report (oms/app/core.py:259)`` -> ``Core._report``."""
    return frame.split(" (", 1)[0]


def summarize(path: Path) -> ProfileSummary:
    summary = ProfileSummary()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        # quickfix's own threads have no Python name: py-spy calls them Dummy-N
        name = thread.split(": ", 1)[-1]
        summary.samples += count
        summary.threads["quickfix (Dummy-N)" if name.startswith("Dummy-") else name] += count
        if frames:
            summary.self_samples[_function(frames[-1])] += count
        for function in {_function(frame) for frame in frames}:
            summary.inclusive[function] += count
    return summary


def render(summary: ProfileSummary, top: int = 20) -> str:
    lines = [f"{summary.samples} samples", "", "threads:"]
    lines += [f"  {summary.share(c):6.1%}  {name}" for name, c in summary.threads.most_common()]
    lines += ["", "self:"]
    lines += [f"  {summary.share(c):6.1%}  {name}"
              for name, c in summary.self_samples.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {summary.share(c):6.1%}  {name}"
              for name, c in summary.inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m oms.bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="a py-spy raw (collapsed stacks) file")
    parser.add_argument("--top", type=int, default=20, help="functions to list")
    args = parser.parse_args(argv)
    print(render(summarize(args.file), args.top))


if __name__ == "__main__":
    main()
