"""The fast pre-validator never disagrees with parse_lines on a line it accepts."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pkgflow.events import parse_lines
from pkgflow.events.types import ARCHES, EVENT_TYPES, OUTCOMES
from pkgflow.serve.fastpath import fast_parse
from pkgflow.serve.pipeline import _safe_parse

texts = st.one_of(
    st.sampled_from(["plucky", "glib2.0", "", " x", "x ", "[x", "{x", "é", "a\tb", "0"]),
    st.text(max_size=8),
)
times = st.one_of(
    st.sampled_from(
        ["2025-03-14T21:47:02Z", "2025-03-14T21:47:02.5+00:00", "2025-03-14 21:47:02Z",
         "2025-03-14T21:47:02+02:00", "2025-02-30T00:00:00Z", "2025-03-14T21:47:02.1234567Z",
         "2025-03-14T21:47:02", "2025-03-14T21:47:03Z"]
    ),
    texts,
)  # fmt: skip
anything = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(), texts, st.lists(texts, max_size=2))
fields = {
    "event_id": st.one_of(texts, anything),
    "event_type": st.one_of(st.sampled_from(EVENT_TYPES), texts),
    "schema_version": st.one_of(st.sampled_from([2, 2, 1, 3]), anything),
    "occurred_at": times,
    "occurred_after": st.one_of(st.none(), times),
    "source": st.one_of(st.just("src"), anything),
    "release": st.one_of(st.just("plucky"), anything),
    "package": st.one_of(st.just("glib"), texts),
    "version": st.one_of(st.just("1.0"), texts),
    "arches": st.one_of(st.just(["amd64"]), anything),
    "testsrc": st.one_of(st.just("glib"), texts, anything),
    "arch": st.one_of(st.sampled_from(ARCHES), texts),
    "triggers": st.one_of(
        st.just(["glib/1.0"]), st.lists(st.sampled_from(["a/1", "a b/1", "/1", "a/", "é/1", "a/1/2"]), max_size=3), anything
    ),
    "exitcode": st.one_of(st.integers(-2, 260), anything),
    "outcome": st.one_of(st.sampled_from(OUTCOMES), texts),
    "duration": st.one_of(st.integers(-1, 2**31 + 1), anything),
    "run_id": texts,
    "verdict": st.one_of(st.just("PASS"), texts),
    "detail": texts,
}
events = st.fixed_dictionaries({}, optional=fields)


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(events, min_size=1, max_size=6))
def test_fast_path_rows_equal_parse_lines_rows(records: list[dict]) -> None:
    lines = [json.dumps(r).encode() for r in records]
    fast, deferred = fast_parse(lines)
    accepted = fast["line_number"].to_list()
    if not accepted:
        return
    reference = parse_lines([lines[i] for i in accepted], first_line_number=0)
    assert reference.rejections == [], "fast path accepted a line parse_lines rejects"
    expected = reference.events.drop("line_number")
    assert fast.drop("line_number").equals(expected)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(events, min_size=1, max_size=6))
def test_combined_parse_matches_parse_lines(records: list[dict]) -> None:
    lines = [json.dumps(r).encode() for r in records] + [b"not json"]
    combined = _safe_parse(lines)  # never raises
    try:
        reference = parse_lines(lines, first_line_number=0)
    except Exception:  # a parse_lines bug (e.g. integer overflow): nothing to compare
        assume(False)
    assert combined.events.equals(reference.events)
    assert [(r.line_number, r.reason) for r in combined.rejections] == [
        (r.line_number, r.reason) for r in reference.rejections
    ]
