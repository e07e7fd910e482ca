"""Shared fixtures: the repository root (two levels up from clients/python) and its test vectors.

The package is imported from this work tree (clients/python is put first on sys.path), so the tests run
whether or not the client is installed in the venv.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parent.parent  # clients/python
REPO_ROOT = CLIENT_DIR.parent.parent  # two levels up from clients/python
VECTORS_DIR = REPO_ROOT / "Tests" / "MailroomCoreTests" / "Vectors"
#: The Swift side writes records.json; MAILROOM_RECORDS_VECTORS points the test at another file (e.g. in /tmp).
RECORDS_VECTORS = Path(os.environ.get("MAILROOM_RECORDS_VECTORS") or VECTORS_DIR / "records.json")

if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))


def load_json(name: str) -> dict:
    with open(VECTORS_DIR / name, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def client_dir() -> Path:
    return CLIENT_DIR


@pytest.fixture(scope="session")
def envelope_vectors() -> dict:
    return load_json("envelopes.json")


@pytest.fixture(scope="session")
def textile_box() -> dict:
    return load_json("textile-box.json")
