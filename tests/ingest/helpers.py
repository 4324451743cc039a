"""Checks the importer tests share."""

from __future__ import annotations

import json

import polars as pl

from pkgflow.events.parse import parse_lines
from pkgflow.ingest.autopkgtest_db import EVENT_FRAME_SCHEMA


def assert_valid(frame: pl.DataFrame) -> None:
    """The frame has the event columns and dtypes, and survives parse_lines unchanged."""
    assert dict(frame.schema) == EVENT_FRAME_SCHEMA
    lines = [
        json.dumps(row, default=lambda v: v.isoformat()).encode()
        for row in frame.iter_rows(named=True)
    ]
    batch = parse_lines(lines)
    assert batch.rejections == [], batch.rejections[:3]
    assert batch.events.drop("line_number").equals(frame)
