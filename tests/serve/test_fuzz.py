"""Fuzz the live service: no input makes it answer 5xx, crash, or store a bad event."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgflow.events import parse_lines
from pkgflow.events.types import ARCHES, EVENT_TYPES, REQUIRED_FIELDS
from pkgflow.store import EventStore
from tests.serve.conftest import Server

FIELDS = sorted(({f for fields in REQUIRED_FIELDS.values() for f in fields} | {"exitcode", "outcome", "duration", "run_id", "occurred_after"}) - {"arch", "triggers"})
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(["2025-03-14T21:47:02Z", "amd64", "plucky", "a/1"]),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
events = st.fixed_dictionaries(
    {
        "event_type": st.one_of(st.sampled_from(EVENT_TYPES), values),
        "schema_version": st.one_of(st.sampled_from([1, 2, 3]), values),
        "occurred_at": st.one_of(st.sampled_from(["2025-03-14T21:47:02Z", "2025-03-14 21:47:02+02:00"]), values),
        "source": st.one_of(st.just("fuzz"), values),
        "release": st.one_of(st.just("plucky"), values),
        "arch": st.one_of(st.sampled_from(ARCHES), values),
        "triggers": st.one_of(st.just(["glibc/2.41-1"]), values),
    },
    optional={name: values for name in FIELDS},
)
line = st.one_of(
    events.map(lambda e: json.dumps(e).encode()),
    st.binary(max_size=80),
    values.map(lambda v: json.dumps(v).encode()),
)
bodies = st.lists(line, min_size=0, max_size=8).map(b"\n".join)
content_types = st.sampled_from(
    ["application/x-ndjson", "application/json", "application/ndjson; charset=utf-8", "text/plain", "", "application/x-ndjson; boundary=\x7f"]
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> object:
    server = Server(tmp_path_factory.mktemp("fuzz") / "store", "--flush-interval", "0.2").start()
    yield server
    server.kill()


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, content_type=content_types)
def test_no_input_gives_a_5xx(live: Server, body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(live.url + "/v1/events", content=body, headers=headers, timeout=30)
    assert response.status_code < 500, response.text
    assert response.status_code in (202, 400, 415, 422)
    if "\x7f" in content_type:
        # a control character in a header: uvicorn's HTTP parser (httptools) refuses the
        # request with a plain-text 400 before it reaches the application
        assert response.status_code == 400
        return
    document = response.json()
    if response.status_code in (202, 422):
        assert document["accepted"] + document["rejected"] == len(
            [x for x in body.split(b"\n") if x.strip()]
        ) or content_type.startswith("application/json")


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(["/v1/events", "/healthz", "/metrics", "/openapi.json", "/v1/status", "/", "/nope"]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    query=st.text(max_size=20),
)
def test_other_routes_and_methods(live: Server, path: str, method: str, query: str) -> None:
    response = httpx.request(method, live.url + path, params={"q": query, "limit": query}, timeout=30)
    assert response.status_code < 500


def test_zz_server_alive_and_store_valid(live: Server) -> None:
    """Runs after the fuzzing: the process lives, and everything stored is valid."""
    assert live.proc is not None and live.proc.poll() is None
    assert live.stop() == 0
    frame = EventStore(live.store).scan().collect()
    lines = [json.dumps(row, default=str).encode() for row in frame.drop("seq", "recorded_at").to_dicts()]
    assert parse_lines(lines).rejections == []  # every stored event passes validation again
    assert frame["event_id"].n_unique() == frame.height
