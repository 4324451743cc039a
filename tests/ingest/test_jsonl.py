"""`pkgflow ingest`: JSON Lines into the store, bad lines quarantined, idempotent."""

from __future__ import annotations

import gzip
import io
import json
import lzma
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pkgflow.cli import main
from pkgflow.ingest.jsonl import ingest_jsonl, read_blocks
from pkgflow.store import EventStore
from tests.conftest import finished_event, write_jsonl

# 37 assorted malformed lines, each with the words its reason must contain
MALFORMED: list[tuple[str, str]] = [
    ("{oops", "not valid JSON"),
    ("[1, 2, 3]", "is not an event"),
    ('"just a string"', "is not an event"),
    *[(json.dumps(finished_event(0, event_type=f"test.unknown{i}")), "unknown event_type") for i in range(5)],
    *[(json.dumps(finished_event(0, occurred_at="2025-03-14 21:47:02")), "time zone") for _ in range(5)],
    *[(json.dumps(finished_event(0, occurred_at="yesterday")), "ISO 8601") for _ in range(3)],
    *[(json.dumps(finished_event(0, exitcode="4x")), "`exitcode` must be an integer") for _ in range(4)],
    *[(json.dumps(finished_event(0, testsrc=None)), "missing field `testsrc`") for _ in range(4)],
    *[(json.dumps(finished_event(0, schema_version=7)), "supported: 1 to 2") for _ in range(3)],
    *[(json.dumps(finished_event(0, arch="sparc")), "unknown arch") for _ in range(3)],
    *[(json.dumps(finished_event(0, triggers="a/1")), "list of strings") for _ in range(3)],
    *[(json.dumps(finished_event(0, release=None)), "missing field `release`") for _ in range(3)],
    (json.dumps({"schema_version": 1, "type": "nope", "timestamp": 1}), "v1 types are"),
]
assert len(MALFORMED) == 37


def _mixed_file(path: Path, seed: int = 7) -> tuple[Path, dict[int, str]]:
    """1,000 lines: 963 valid events and the 37 malformed ones at random places."""
    rng = random.Random(seed)
    bad_at = sorted(rng.sample(range(1, 1001), 37))
    bad = dict(zip(bad_at, MALFORMED, strict=True))
    lines, valid = [], 0
    for number in range(1, 1001):
        if number in bad:
            lines.append(bad[number][0])
        else:
            lines.append(json.dumps(finished_event(valid)))
            valid += 1
    path.write_text("\n".join(lines) + "\n")
    return path, {n: reason for n, (_, reason) in bad.items()}


def _quarantined(store_dir: Path) -> list[dict]:
    files = sorted((store_dir / "_quarantine").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_1000_lines_with_37_bad_store_963_and_quarantine_37(tmp_path: Path, capsys) -> None:
    source, expected_reasons = _mixed_file(tmp_path / "mixed.jsonl")
    store_dir = tmp_path / "store"
    assert main(["--store", str(store_dir), "ingest", str(source), "--batch-bytes", "100000"]) == 0

    assert EventStore(store_dir).count() == 963
    quarantined = _quarantined(store_dir)
    assert len(quarantined) == 37
    for record in quarantined:
        assert record["file"] == str(source)
        assert expected_reasons[record["line_number"]] in record["reason"]
        original = source.read_text().splitlines()[record["line_number"] - 1]
        assert record["line"] == original
    output = capsys.readouterr()
    assert "963 stored, 0 duplicates, 37 rejected" in output.out
    assert "rejected lines and reasons kept in" in output.err


def test_ingesting_the_same_file_twice_stores_nothing_new(tmp_path: Path, capsys) -> None:
    source = write_jsonl(tmp_path / "events.jsonl", [finished_event(i) for i in range(2000)])
    store_dir = str(tmp_path / "store")
    main(["--store", store_dir, "ingest", str(source)])
    capsys.readouterr()
    assert main(["--store", store_dir, "ingest", str(source)]) == 0
    assert "0 stored, 2,000 duplicates, 0 rejected" in capsys.readouterr().out
    assert EventStore(store_dir).count() == 2000


def test_strict_makes_rejections_fail_the_run(tmp_path: Path) -> None:
    source, _ = _mixed_file(tmp_path / "mixed.jsonl")
    assert main(["--store", str(tmp_path / "s"), "ingest", "--strict", str(source)]) == 1
    assert EventStore(tmp_path / "s").count() == 963  # good lines are kept all the same


def test_gzip_xz_and_stdin_are_read(tmp_path: Path) -> None:
    events = [finished_event(i) for i in range(90)]
    def body(chunk: list[dict]) -> str:
        return "".join(json.dumps(e) + "\n" for e in chunk)

    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(body(events[:30]).encode()))
    (tmp_path / "b.jsonl.xz").write_bytes(lzma.compress(body(events[30:60]).encode()))
    stdin = body(events[60:])
    store_dir = tmp_path / "store"
    result = subprocess.run(
        [sys.executable, "-m", "pkgflow.cli", "--store", str(store_dir), "ingest",
         str(tmp_path / "a.jsonl.gz"), str(tmp_path / "b.jsonl.xz"), "-"],
        input=stdin, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    con = duckdb.connect()
    ids = {r for (r,) in EventStore(store_dir).relation(con).select("event_id").fetchall()}
    assert ids == {e["event_id"] for e in events}


def test_a_missing_file_is_a_one_line_error_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pkgflow.cli", "--store", str(tmp_path), "ingest", "nope.jsonl"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "nope.jsonl: no such file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["simulate", "demo", "ingest", "info", "compact", "retain"])
def test_every_command_has_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: pkgflow" in capsys.readouterr().out


@pytest.mark.parametrize("batch_bytes", [1, 7, 64, 10_000])
def test_blocks_hold_whole_lines_and_lose_nothing(batch_bytes: int) -> None:
    data = b'{"a": 1}\n\n' + b'{"long": "' + b"x" * 100 + b'"}\n' + b'{"last": "no newline"}'
    blocks = list(read_blocks(io.BytesIO(data), batch_bytes))
    assert b"".join(blocks) == data
    assert all(block.endswith(b"\n") for block in blocks[:-1])


def test_line_numbers_and_seq_follow_the_input_across_many_blocks(tmp_path: Path) -> None:
    # tiny blocks: parsed two at a time and appended in order, some together
    lines = []
    for i in range(300):
        lines.append(json.dumps(finished_event(i)))
        if i % 37 == 0:
            lines += ["", "{broken"]
    source = tmp_path / "many.jsonl"
    source.write_text("\n".join(lines) + "\n")
    store = EventStore(tmp_path / "store")
    report = ingest_jsonl(store, [source], batch_bytes=2_000)
    assert (report.lines, report.accepted, report.rejected) == (len(lines), 300, 9)
    assert [r.line_number for _, r in report.first_rejections] == [
        n for n, line in enumerate(lines, start=1) if line == "{broken"
    ][:5]
    assert all(r["line"] == lines[r["line_number"] - 1] for r in _quarantined(tmp_path / "store"))
    stored = store.scan().sort("seq").collect()["event_id"].to_list()
    assert stored == [f"evt-{i}" for i in range(300)]
