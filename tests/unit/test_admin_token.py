"""The admin token file: written whole or not at all, and a bad one is a clear error.

A client polling for the token while the server starts (``oms bench`` does, so do scripts
around ``oms stats``) once read the file after it was created and before it was written,
and died of a JSONDecodeError.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from oms.admin import AdminError, call, write_private_file


def test_a_reader_never_sees_the_token_file_half_written(tmp_path: Path) -> None:
    # Arrange: a reader reading the file as fast as it can while it is rewritten
    path = tmp_path / "sessions" / "admin.token"
    texts = [json.dumps({"host": "127.0.0.1", "port": port, "token": "t" * 43})
             for port in range(1000, 1400)]
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(path.read_text())
            except FileNotFoundError:
                pass

    reader = threading.Thread(target=read)
    reader.start()

    # Act
    try:
        for text in texts:
            write_private_file(path, text)
    finally:
        stop.set()
        reader.join()

    # Assert: every read was one whole version; the last one stays, private, alone
    assert seen and set(seen) <= set(texts)
    assert path.read_text() == texts[-1]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in path.parent.iterdir()] == ["admin.token"]


@pytest.mark.parametrize("content", ["", "{\"host\": \"127.0.0.1\"", "[]", "{\"port\": 1}"])
def test_a_token_file_no_server_wrote_is_an_admin_error(tmp_path: Path, content: str) -> None:
    # Arrange
    path = tmp_path / "admin.token"
    path.write_text(content)

    # Act / Assert
    with pytest.raises(AdminError, match="is not one a server wrote"):
        call(path, "GET", "/health", timeout=1)


def test_no_token_file_means_no_running_server(tmp_path: Path) -> None:
    with pytest.raises(AdminError, match="no running server found"):
        call(tmp_path / "admin.token", "GET", "/health", timeout=1)
