"""Every notebook runs under nbval against the small fixture store.

nbval runs in lax mode: every cell must execute without error, and cells marked
``# NBVAL_CHECK_OUTPUT`` (headline numbers, tables) must reproduce their stored
outputs exactly (sanitized: Altair ids, temporary paths, timings). The stored
outputs come from tools/refresh_notebooks.py over the same fixture."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.notebooks.fixture import SANITIZE, build_fixture_store

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session")
def fixture_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_store(tmp_path_factory.mktemp("notebooks") / "store")


def test_every_notebook_is_paired() -> None:
    assert NOTEBOOKS, "no notebooks found"
    for notebook in NOTEBOOKS:
        assert notebook.with_suffix(".py").exists(), f"{notebook.name} has no paired .py"


@pytest.mark.slow
def test_notebooks_under_nbval(fixture_store: Path) -> None:
    env = {**os.environ, "PKGFLOW_STORE": str(fixture_store), "PKGFLOW_CHARTS": "svg"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--sanitize-with", str(SANITIZE), *map(str, NOTEBOOKS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    seconds = time.perf_counter() - started
    print(f"nbval over {len(NOTEBOOKS)} notebooks: {seconds:.1f} s")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
