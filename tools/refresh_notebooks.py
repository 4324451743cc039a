#!/usr/bin/env python3
"""Re-execute notebooks/*.ipynb against the test fixture store and keep only the
outputs that nbval checks (cells marked ``# NBVAL_CHECK_OUTPUT``).

    .venv/bin/python tools/refresh_notebooks.py [NOTEBOOK ...]

Run it after changing a notebook (edit the .py or the .ipynb; jupytext keeps them
paired) or anything its checked cells show, then review the diff. The fixture store is
the one tests/notebooks builds (tests/notebooks/fixture.py)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.notebooks.fixture import build_fixture_store  # noqa: E402

CHECK = "NBVAL_CHECK_OUTPUT"


def refresh(paths: list[Path]) -> None:
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="pkgflow-fixture-") as tmp:
        store = build_fixture_store(Path(tmp) / "store")
        os.environ["PKGFLOW_STORE"] = str(store)
        os.environ["PKGFLOW_CHARTS"] = "svg"
        for path in paths:
            source = path.with_suffix(".py")
            nb = jupytext.read(source) if source.exists() else nbformat.read(path, 4)
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                if CHECK not in cell.source:
                    cell.outputs = []
                    cell.execution_count = None
                cell.metadata.pop("execution", None)
            nb.metadata.pop("widgets", None)
            jupytext.write(nb, path, fmt="ipynb")
            print(f"refreshed {path.relative_to(ROOT)}")


if __name__ == "__main__":
    chosen = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    refresh(chosen)
