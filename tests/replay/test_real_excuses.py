"""The replay views over the real britney snapshot agree with a plain parse of the YAML."""

from __future__ import annotations

import lzma
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from pkgflow.ingest.importers import import_excuses
from pkgflow.replay import connect
from pkgflow.store import EventStore

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

RUNNING = {"RUNNING", "RUNNING-ALWAYSFAIL", "RUNNING-REFERENCE"}


def _independent_counts(path: Path) -> dict[str, object]:
    """Counted straight from the YAML, without pkgflow."""
    with lzma.open(path, "rb") as handle:
        data = yaml.load(handle, Loader=yaml.CSafeLoader)
    statuses: Counter[str] = Counter()
    runs: set[tuple[str, str, str]] = set()
    running = 0
    for item in data["sources"]:
        tests = (item.get("policy_info") or {}).get("autopkgtest") or {}
        for key, per_arch in tests.items():
            if key == "verdict" or not isinstance(per_arch, dict):
                continue
            for arch, result in per_arch.items():
                status, log_url = result[0], result[1]
                statuses[status] += 1
                if status in RUNNING:
                    running += 1
                match = re.search(r"/([^/]+@)/log\.gz$", log_url or "")
                if match:
                    runs.add((arch, key.split("/")[0], match.group(1)))
    return {"uploads": len(data["sources"]), "statuses": statuses, "runs": len(runs),
            "running": running}


def test_views_over_the_real_snapshot_agree_with_the_yaml(
    real_excuses: Path, tmp_path: Path
) -> None:
    expected = _independent_counts(real_excuses)
    store = EventStore(tmp_path / "store")
    import_excuses(store, [real_excuses])
    con = connect(store)

    [(uploads,)] = con.sql("SELECT count(*) FROM uploads").fetchall()
    assert uploads == expected["uploads"] == 599

    published = dict(
        con.sql(
            "SELECT status, count(*) FROM events WHERE event_type = 'results.published' "
            "GROUP BY status"
        ).fetchall()
    )
    # every result with a log is published with britney's status; RUNNING-REFERENCE
    # rows carry the finished run they compare against, plain RUNNING ones have none
    with_a_log = {s: n for s, n in expected["statuses"].items() if s not in RUNNING}
    with_a_log["RUNNING-REFERENCE"] = expected["statuses"]["RUNNING-REFERENCE"]
    assert published == with_a_log

    [(distinct_runs,)] = con.sql(
        "SELECT count(*) FROM test_runs WHERE state = 'finished'"
    ).fetchall()
    assert distinct_runs == expected["runs"]

    [(in_flight,)] = con.sql(
        "SELECT count(*) FROM test_runs WHERE state IN ('queued', 'running')"
    ).fetchall()
    assert in_flight == expected["running"]
