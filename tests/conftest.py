"""Shared fixtures. Tests never touch the network beyond 127.0.0.1 and never write outside tmp."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from http_server import LocalServer  # noqa: E402


@pytest.fixture
def local_server(tmp_path):
    """A LocalServer serving ``tmp_path / "served"``; put files there, then ``url(name)``."""
    root = tmp_path / "served"
    root.mkdir()
    with LocalServer(root) as server:
        server.root = root
        yield server


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own empty datasets workspace and no inherited profile or device."""
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "course_data"))
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
