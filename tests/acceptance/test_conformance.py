"""The QuickFIX FIX 4.4 session-layer acceptance suite (../shared/conformance) against the
real ``oms serve``, configured as ``fix_config/conformance.toml`` on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from oms.config import OmsConfig, config_to_toml
from oms.localproc import free_port
from tests.integration.stack import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT.parent / "shared" / "conformance"


def test_the_quickfix_fix44_acceptance_suite_passes_in_full(tmp_path: Path):
    # Arrange
    if not (SUITE / "run_at.py").exists():
        if os.environ.get("CI"):
            pytest.fail(f"conformance suite not found at {SUITE}", pytrace=False)
        pytest.skip(f"conformance suite not found at {SUITE}")
    data = tomllib.loads((ROOT / "fix_config" / "conformance.toml").read_text())
    port = free_port()
    data["oms"].update(database_url="sqlite:///oms.db", sessions_dir="sessions")
    data["upstream"][0]["port"] = port
    config = OmsConfig(**data, base_dir=tmp_path)
    (tmp_path / "conformance.toml").write_text(config_to_toml(config))
    server = subprocess.Popen([sys.executable, "-m", "oms", "serve", "--config",
                               str(tmp_path / "conformance.toml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(config.admin_token_path.exists, timeout=30)

        # Act
        result = subprocess.run(
            [sys.executable, str(SUITE / "run_at.py"), "--port", str(port), "--app-lenient",
             "--timeout", "20", str(SUITE / "fix44")],
            capture_output=True, text=True, timeout=600)
    finally:
        server.terminate()
        server.wait(20)

    # Assert
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failures == [], "\n".join(failures)
    assert "59 passed, 0 failed" in result.stdout, result.stdout[-2000:]
