"""``oms bench`` end to end on a small run: the relay baseline and the OMS on SQLite.

It starts real processes (broker simulator, relay, ``oms serve``, load clients) on free
loopback ports. It checks that the JSON line is there, complete and positive, and that every
order completed; it never asserts on speed (#3: no test asserts on time).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from oms.bench.profile import summarize
from oms.bench.suite import stages_table
from oms.cli.bench import bench
from oms.localproc import free_port

FIGURES = ("orders_per_s", "cpu_us_per_order", "elapsed_s")
PERCENTILES = ("p50", "p90", "p99", "p99.9", "max")


@pytest.mark.slow
@pytest.mark.parametrize("client", ["sim", "raw"])
def test_bench_small_run_reports_every_figure_for_relay_and_oms_on_sqlite(
        client: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: the benchmark's own load client, or the independent one (oms.bench.rawclient);
    # run from a directory with an `oms` of its own, as from another checkout: a child that
    # imported it (`python -m` looks in the working directory first) would fail
    decoy = tmp_path / "oms"
    decoy.mkdir()
    (decoy / "__init__.py").write_text(
        'raise SystemExit("imported the oms of the working directory")\n')
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    # Act (with --keep, the directories are named in the JSON)
    result = runner.invoke(bench, ["--orders", "300", "--rate", "0", "--warmup", "50",
                                   "--database", "sqlite", "--client", client, "--keep",
                                   "--json-only"])

    # Assert
    assert result.exit_code == 0, result.output
    document = json.loads(result.output.strip().splitlines()[-1])
    kept = [Path(row.pop("kept_dir")) for row in document["results"].values()]
    for folder in kept:
        assert (folder / "system.log").is_file()
        shutil.rmtree(folder)
    assert document["all_completed"] is True
    assert document["params"]["client"] == client
    assert {row["client"] for row in document["results"].values()} == {client}
    assert document["machine"]["nproc"] >= 1 and document["machine"]["quickfix"]
    readings = document["machine"]["calibration"]
    assert readings["python_loop_ms"] > 0 and readings["fdatasync_ms_p50"] > 0
    assert document["params"]["orders"] == 300
    assert set(document["results"]) == {"relay", "oms-sqlite"}
    for name, row in document["results"].items():
        assert row["completed"] == row["filled"] == 300, name
        assert row["protocol_errors"] == 0, name
        for key in FIGURES:
            assert row[key] > 0, (name, key)
        for series in ("ack_ms", "fill_ms", "internal_us"):
            assert row[series]["count"] >= 300, (name, series)
            for pct in PERCENTILES:
                assert row[series][pct] > 0, (name, series, pct)
    assert document["results"]["oms-sqlite"]["ratio_vs_relay"]["orders_per_s"] > 0
    for name, row in document["results"].items():
        # the client's own run, and the machine's CPUs the three processes kept busy
        assert 0 < row["client_run_cpu_us_per_order"] <= row["client_cpu_us_per_order"], name
        # (a unit slip would be 1,000x off; the OMS's and broker's CPU also counts the
        # client's start-up, which weighs in a run this short)
        assert 0 < row["cpus_busy"] < 4 * document["machine"]["nproc"], name
    oms_row = document["results"]["oms-sqlite"]
    assert oms_row["queue_wait_us"]["count"] == 300  # one per measured NewOrderSingle
    assert oms_row["checks_us"]["count"] == 300  # and its pre-trade checks
    assert 0 < oms_row["checks_us"]["p50"] <= oms_row["checks_us"]["max"]
    for stage in ("batch_us", "commit_us", "send_us"):
        assert oms_row[stage]["count"] > 0 and oms_row[stage]["p50"] > 0, stage
    # the journal over the measured run alone (commits counts from the server's start), and
    # its CPU a part of the OMS's (a unit slip would put it outside)
    assert 0 < oms_row["measured_commits"] <= oms_row["commits"]
    assert 0 < oms_row["commit_cpu_us_per_order"] < oms_row["cpu_us_per_order"]
    assert oms_row["gc_pause_us"]["count"] >= 0  # the server's collections, timed
    stages = stages_table(document)  # the OMS rows only: the relay has no stages
    assert stages is not None and stages.row_count == 1


def test_profile_summary_counts_self_and_inclusive_samples_per_function(tmp_path: Path) -> None:
    # Arrange: two stacks as py-spy --threads --function writes them
    raw = tmp_path / "oms.txt"
    raw.write_text(
        "thread (1): oms-core;Core._run (oms/app/core.py:160);"
        "Core._report (oms/app/core.py:259) 3\n"
        "thread (2): Dummy-1;OmsApplication.fromApp (oms/fix/app.py:99) 1\n"
    )

    # Act
    summary = summarize(raw)

    # Assert
    assert summary.samples == 4
    assert summary.threads == {"oms-core": 3, "quickfix (Dummy-N)": 1}
    assert summary.self_samples["Core._report"] == 3
    assert summary.inclusive["Core._run"] == 3
    assert summary.share(summary.inclusive["OmsApplication.fromApp"]) == 0.25


@pytest.mark.slow
def test_the_sweep_script_prints_the_range_of_each_figure_and_keeps_every_run(
        tmp_path: Path) -> None:
    # Arrange
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "bench_sweep.py"
    out = tmp_path / "sweep.jsonl"

    # Act
    done = subprocess.run([sys.executable, str(script), "--loads", "0:2", "--orders", "100",
                           "--database", "sqlite", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)

    # Assert
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(runs) == 2 and all(run["all_completed"] for run in runs)
    rows = {line.split("|")[2].strip(): line for line in done.stdout.splitlines()
            if line.startswith("| max rate")}
    assert set(rows) == {"relay", "oms-sqlite"}
    speeds = sorted(run["results"]["oms-sqlite"]["orders_per_s"] for run in runs)
    low, high = (f"{value:,.0f}" for value in speeds)
    assert (low if low == high else f"{low}-{high}") in rows["oms-sqlite"]


def _script(name: str) -> ModuleType:
    """A script of scripts/ imported as a module (they are not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_journal_script_splits_a_commit_into_its_parts_at_full_and_normal(
        capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: a real SQLite file, the journal's own rows and statements
    journal = _script("bench_journal")

    # Act
    journal.print_phases(1024, orders=30, preload=5)

    # Assert: a row per part with a figure per mode, and the sync's share (no judgement
    # of the figures: on a tmpfs an fdatasync costs nothing)
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[-2:] for line in lines[2:-1]}
    assert len(rows) == len(journal.PHASES)
    assert all(float(value) > 0 for values in rows.values() for value in values)
    assert lines[-1].startswith("the fdatasync at COMMIT (FULL - NORMAL): ")


@pytest.mark.parametrize("batch", [1, 7])
def test_the_path_script_runs_the_orders_through_the_real_journal_and_checks_it(
        batch: int, capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: the OMS's own translators, core and journal, a real SQLite file; a group
    # size that does not divide the orders, so the last group is short
    path = _script("bench_path")

    # Act
    status = path.main(["--orders", "30", "--warmup", "5", "--batch", str(batch),
                        "--synchronous", "full"])

    # Assert: every order filled, in memory and in the database, with its two executions
    # and six audit rows; a CPU figure per stage (no judgement of the figures)
    lines = capsys.readouterr().out.splitlines()
    document = json.loads(lines[-1])
    assert status == 0
    assert document["checked"] == {"filled": 35, "stored_filled": 35, "executions": 70,
                                   "events": 210, "expected_orders": 35, "ok": True}
    assert document["commits"] == 3 * (-(-30 // batch) + -(-5 // batch))
    assert set(document["stage_cpu_us_per_order"]) == set(path.STAGES)
    assert all(value > 0 for value in document["stage_cpu_us_per_order"].values())
    assert document["cpu_us_per_order"] >= sum(document["stage_cpu_us_per_order"].values()) \
        * 0.99
    assert lines[1] == "| translate | core | journal | build | all |"


def test_the_path_script_refuses_bad_arguments_and_a_missing_valgrind(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: no valgrind on PATH
    path = _script("bench_path")
    monkeypatch.setenv("PATH", "/nonexistent")

    # Act / Assert: a clear error and a non-zero exit, nothing run
    for argv in (["--orders", "0"], ["--batch", "0"], ["--warmup", "-1"]):
        with pytest.raises(SystemExit) as refused:
            path.main(argv)
        assert refused.value.code == 2
    with pytest.raises(SystemExit) as missing:
        path.main(["--callgrind", "--orders", "10"])
    assert "needs valgrind" in str(missing.value.code)
    assert "must be positive" in capsys.readouterr().err


def test_the_ab_script_alternates_which_checkout_runs_first_and_compares_pairwise() -> None:
    # Arrange
    ab = _script("bench_ab")
    pairs = [  # B faster and leaner in the first pair, slower in the second
        {"a": {"orders_per_s": 1000.0, "cpu_us_per_order": 500.0},
         "b": {"orders_per_s": 1100.0, "cpu_us_per_order": 450.0}},
        {"a": {"orders_per_s": 1000.0, "cpu_us_per_order": 500.0},
         "b": {"orders_per_s": 900.0, "cpu_us_per_order": 550.0}},
        {"a": {"orders_per_s": 1000.0, "cpu_us_per_order": 500.0},
         "b": {"orders_per_s": 1200.0, "cpu_us_per_order": 400.0}},
    ]

    # Act
    orders = [ab.pair_order(index) for index in range(4)]
    rows = {row[0]: row[1:] for row in ab.summarize(pairs)}

    # Assert
    assert orders == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]
    assert rows["orders/s"] == ("1.100", "0.900-1.200", "2 of 3")  # higher is better
    assert rows["CPU us/order"] == ("0.900", "0.800-1.100", "2 of 3")  # lower is better
    assert "ack p99 ms" not in rows  # no pair had it


def _git(cwd: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def test_the_ab_script_makes_b_from_a_patch_in_a_worktree_it_removes(tmp_path: Path) -> None:
    # Arrange: a git checkout with one committed file, a patch that changes it, one that
    # does not apply, and a path that is no file
    ab = _script("bench_ab")
    base = tmp_path / "a"
    (base / "oms").mkdir(parents=True)
    journal = base / "oms" / "journal.py"
    journal.write_text("FLUSH = True\n")
    _git(base, "init", "-q")
    _git(base, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(base, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    journal.write_text("FLUSH = False\n")
    patch = tmp_path / "no-flush.patch"
    patch.write_text(_git(base, "diff"))
    _git(base, "checkout", "--", ".")
    stale = tmp_path / "stale.patch"
    stale.write_text(patch.read_text().replace("FLUSH = True", "FLUSH = Maybe"))

    # Act
    with ab.patched_tree(base, patch) as tree:
        inside = (tree / "oms" / "journal.py").read_text()
        listed = _git(base, "worktree", "list")
    after = _git(base, "worktree", "list")
    with pytest.raises(ab.PatchError, match="does not apply") as refused:
        with ab.patched_tree(base, stale):
            pass
    with pytest.raises(ab.PatchError, match="no such patch file"):
        with ab.patched_tree(base, tmp_path / "missing.patch"):
            pass

    # Assert: B has the change, A does not; the worktree is gone afterwards, also when the
    # patch was refused
    assert inside == "FLUSH = False\n"
    assert journal.read_text() == "FLUSH = True\n"
    assert str(tree) in listed
    assert not tree.exists() and str(tree) not in after
    assert len(_git(base, "worktree", "list").splitlines()) == 1
    assert "stale.patch" in str(refused.value)


def test_the_ab_script_refuses_a_missing_patch_or_two_bs(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    script = str(root / "scripts" / "bench_ab.py")

    # from a directory that is no checkout: with --b-patch, B is not the current directory
    missing = subprocess.run([sys.executable, script, "--a", str(root), "--b-patch",
                              str(tmp_path / "nothing.patch")],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    twice = subprocess.run([sys.executable, script, "--a", str(root), "--b", str(root),
                            "--b-patch", str(tmp_path / "nothing.patch")],
                           capture_output=True, text=True, timeout=60)

    assert missing.returncode == 2 and "no such patch file" in missing.stderr
    assert twice.returncode == 2 and "name B twice" in twice.stderr


@pytest.mark.slow
def test_the_ab_script_runs_both_checkouts_and_keeps_every_run(tmp_path: Path) -> None:
    # Arrange: the same checkout as A and B, B's runs with the independent load client
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "ab.jsonl"

    # Act
    done = subprocess.run([sys.executable, str(root / "scripts" / "bench_ab.py"), "--a",
                           str(root), "--b", str(root), "--pairs", "1", "--orders", "100",
                           "--rate", "0", "--b-args=--client raw", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    refused = subprocess.run([sys.executable, str(root / "scripts" / "bench_ab.py"), "--a",
                              str(tmp_path)], capture_output=True, text=True, timeout=60)

    # Assert
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [run["tree"] for run in runs] == [str(root), str(root)]
    assert [run["extra_args"] for run in runs] == [[], ["--client", "raw"]]
    assert [run["params"]["client"] for run in runs] == ["sim", "raw"]
    for run in runs:
        result = run["results"]["oms-sqlite"]
        assert result["completed"] == result["filled"] == 100, run["params"]
        assert result["protocol_errors"] == 0, run["params"]
        assert result["ack_ms"]["count"] == 100 and result["ack_ms"]["p50"] > 0
    lines = done.stdout.splitlines()
    assert any(line.startswith("| 1 | A |") for line in lines)
    assert any(line.startswith("| 1 | B |") for line in lines)
    assert any(line.startswith("| orders/s |") and "of 1 |" in line for line in lines)
    assert refused.returncode != 0 and "not a checkout of the OMS" in refused.stderr


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["bench", "demo"])
def test_a_terminated_bench_or_demo_stops_every_process_it_started(command: str,
                                                                    tmp_path: Path) -> None:
    # Arrange: a run long enough to be stopped in the middle
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    args = {"bench": [str(root / "scripts" / "bench.py"), "--orders", "100000", "--rate",
                      "200", "--no-baseline", "--json-only"],
            "demo": ["-m", "oms", "demo", "--orders", "100000", "--dir", str(tmp_path / "demo"),
                     "--quiet"]}[command]
    bench_run = subprocess.Popen([sys.executable, *args], cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        started: set[int] = set()
        while len(started) < 3 and time.monotonic() < deadline:  # broker, OMS, client
            started |= _children(bench_run.pid)
            time.sleep(0.2)

        # Act
        bench_run.send_signal(signal.SIGTERM)
        code = bench_run.wait(timeout=60)
        left = [pid for pid in started if _alive(pid)]
    finally:
        if bench_run.poll() is None:
            bench_run.kill()
        for pid in started:  # should the test fail, it leaves no server behind either
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    # Assert
    assert len(started) >= 3, started
    assert code == 128 + signal.SIGTERM
    assert left == []


@pytest.mark.slow
def test_the_stress_script_removes_what_passing_runs_made_and_keeps_a_failed_run(
        tmp_path: Path) -> None:
    # Arrange: PostgreSQL at an address where nothing listens makes a run fail
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "bench_stress.py"
    out = tmp_path / "failures"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}

    # Act
    passing = subprocess.run([sys.executable, str(script), "--runs", "1", "--rates", "0",
                              "--orders", "100", "--out", str(out)],
                             capture_output=True, text=True, timeout=300, env=env)
    failing = subprocess.run([sys.executable, str(script), "--runs", "1", "--rates", "0",
                              "--clients", "sim", "--orders", "100", "--database", "postgres",
                              "--out", str(out)], capture_output=True, text=True, timeout=300,
                             env={**env, "OMS_TEST_DATABASE_URL":
                                  f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"})

    # Assert
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "2 runs, 0 failed" in passing.stdout
    assert failing.returncode == 1 and "1 runs, 1 failed" in failing.stdout
    assert list(scratch.iterdir()) == []  # nothing left of any run outside --out
    (kept,) = out.iterdir()
    assert kept.name == "001-rate0-sim"
    assert "cannot make a schema in PostgreSQL" in (kept / "stderr.txt").read_text()
    assert any(p.name.startswith("oms-bench-oms-postgres-") for p in kept.iterdir())


@pytest.mark.slow
def test_bench_with_a_feed_runs_the_oms_with_and_without_market_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: #20, `oms bench --feed`: a fourth process (oms.bench.mdfeed) streams quotes
    # and trades to the OMS's market-data session during the measured run
    monkeypatch.chdir(tmp_path)

    # Act
    result = CliRunner().invoke(bench, ["--orders", "300", "--rate", "0", "--warmup", "50",
                                        "--database", "sqlite", "--no-baseline", "--feed",
                                        "2000", "--feed-per-message", "3", "--json-only"])

    # Assert: both rows completed; the feed row's book took updates while orders ran
    assert result.exit_code == 0, result.output
    document = json.loads(result.output.strip().splitlines()[-1])
    assert set(document["results"]) == {"oms-sqlite", "oms-sqlite-feed"}
    assert document["all_completed"] is True
    assert document["params"]["feed_rate"] == 2000
    quiet, fed = document["results"]["oms-sqlite"], document["results"]["oms-sqlite-feed"]
    assert "feed_updates" not in quiet
    assert fed["feed_per_message"] == 3
    assert fed["feed_updates"] > 0 and fed["feed_updates_per_s"] > 0
    assert fed["ratio_vs_no_feed"]["orders_per_s"] > 0
    assert fed["ratio_vs_no_feed"]["cpu_per_order"] > 0
