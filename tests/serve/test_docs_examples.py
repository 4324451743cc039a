"""The examples of docs/serve.md work against a real server."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.serve.conftest import REPO, Server, wait_for, stored_ids

DOC = (REPO / "docs" / "serve.md").read_text()


def test_curl_and_python_examples(server: Server, tmp_path: object) -> None:
    blocks = re.findall(r"```(sh|python)\n(.*?)```", DOC, re.S)
    curl = next(body for kind, body in blocks if kind == "sh" and "application/json" in body)
    python = next(body for kind, body in blocks if kind == "python")
    curl = curl.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
    python = python.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}")
    shell = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
    assert shell.returncode == 0 and '"accepted":1' in shell.stdout, shell
    script = subprocess.run([sys.executable, "-c", python], capture_output=True, text=True, timeout=60)
    assert script.returncode == 0, script.stderr
    assert wait_for(lambda: len(stored_ids(server.store)) == 2)
