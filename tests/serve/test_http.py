"""The HTTP service, as a real process on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

from pkgflow.store import EventStore
from tests.serve.conftest import REPO, Server, event, free_port, ndjson, stored_ids

NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}


def wait_stored(store: Path, count: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = stored_ids(store)
        if len(ids) >= count:
            return ids
        time.sleep(0.1)
    return stored_ids(store)


def test_single_event_is_acknowledged_then_stored(server: Server) -> None:
    one = event(1)
    response = httpx.post(server.url + "/v1/events", json=one)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"accepted": 1, "rejected": 0, "event_ids": [one["event_id"]], "errors": []}
    assert wait_stored(server.store, 1) == [one["event_id"]]


def test_json_array_and_derived_ids(server: Server) -> None:
    events = [event(i) for i in range(3)]
    del events[0]["event_id"]
    response = httpx.post(server.url + "/v1/events", json=events)
    assert response.status_code == 202
    ids = response.json()["event_ids"]
    assert len(ids) == 3 and ids[1:] == [e["event_id"] for e in events[1:]]
    again = httpx.post(server.url + "/v1/events", json=events).json()["event_ids"]
    assert again == ids  # a derived id is a function of the line: retries are idempotent
    assert sorted(wait_stored(server.store, 3)) == sorted(ids)


def test_batch_stores_good_lines_and_reports_bad_ones(server: Server) -> None:
    good = [event(i) for i in range(4)]
    body = (
        ndjson(good[:2])
        + b"this is not json\n"
        + b"\n"
        + json.dumps(event(9, event_type="test.exploded")).encode()
        + b"\n"
        + ndjson(good[2:])
        + json.dumps(event(10, arch="vax")).encode()
    )
    response = httpx.post(server.url + "/v1/events", content=body, headers=NDJSON)
    assert response.status_code == 202
    result = response.json()
    assert result["accepted"] == 4 and result["rejected"] == 3
    assert [e["line"] for e in result["errors"]] == [3, 5, 8]
    assert "not valid JSON" in result["errors"][0]["reason"]
    assert "unknown event_type `test.exploded`" in result["errors"][1]["reason"]
    assert "unknown arch `vax`" in result["errors"][2]["reason"]
    assert sorted(wait_stored(server.store, 4)) == sorted(e["event_id"] for e in good)
    quarantined = [
        json.loads(line)
        for path in (server.store / "_quarantine").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [q["line_number"] for q in quarantined] == [3, 5, 8]
    assert quarantined[0]["line"] == "this is not json"
    assert all(q["file"].startswith("http POST /v1/events from 127.0.0.1") for q in quarantined)


def test_all_bad_is_422_and_empty_is_400(server: Server) -> None:
    response = httpx.post(server.url + "/v1/events", content=b"{}\n[1]\n", headers=NDJSON)
    assert response.status_code == 422
    assert response.json()["accepted"] == 0 and response.json()["rejected"] == 2
    assert httpx.post(server.url + "/v1/events", content=b"\n\n", headers=NDJSON).status_code == 400
    assert httpx.post(server.url + "/v1/events", content=b"{oops", headers=JSON).status_code == 422


def test_content_type_and_encoding_give_415(server: Server) -> None:
    body = ndjson([event(1)])
    for headers in ({"content-type": "text/plain"}, {}, {**NDJSON, "content-encoding": "gzip"}):
        response = httpx.post(server.url + "/v1/events", content=body, headers=headers)
        assert response.status_code == 415, headers
        assert "error" in response.json()


def test_size_limit_gives_413(server_factory: type) -> None:
    server = server_factory("--max-body-bytes", "2000").start()
    big = ndjson([event(i) for i in range(20)])
    assert len(big) > 2000
    response = httpx.post(server.url + "/v1/events", content=big, headers=NDJSON)
    assert response.status_code == 413
    # chunked (no Content-Length): the limit is enforced while reading
    response = httpx.post(server.url + "/v1/events", content=iter([big]), headers=NDJSON)
    assert response.status_code == 413
    assert httpx.post(server.url + "/v1/events", json=event(1)).status_code == 202


def test_token_is_required_when_configured(server_factory: type) -> None:
    server = server_factory("--token", "s3cret").start()
    url = server.url + "/v1/events"
    missing = httpx.post(url, json=event(1))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(url, json=event(1), headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = httpx.post(url, json=event(1), headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 202
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pkgflow.cli", "--store", str(tmp_path / "s"), "serve",
         "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr


def test_inflight_budget_gives_429_with_retry_after(server_factory: type) -> None:
    server = server_factory(
        "--max-body-bytes", "600000", "--max-inflight-bytes", "1000000"
    ).start()
    # a client that announces 600 kB and sends nothing holds the budget
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        slow.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
            b"Content-Length: 600000\r\n\r\n"
        )
        time.sleep(0.3)
        body = ndjson([event(i) for i in range(10)])
        headers = {**NDJSON, "content-length": "500000"}
        response = httpx.post(server.url + "/v1/events", content=body.ljust(500000), headers=headers)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
    time.sleep(0.3)
    assert httpx.post(server.url + "/v1/events", json=event(1)).status_code == 202


def test_store_behind_gives_503_with_retry_after(server_factory: type) -> None:
    server = server_factory("--max-wal-bytes", "1", "--flush-interval", "30").start()
    assert httpx.post(server.url + "/v1/events", json=event(1)).status_code == 202
    response = httpx.post(server.url + "/v1/events", json=event(2))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert httpx.get(server.url + "/healthz").status_code == 503
    metrics = httpx.get(server.url + "/metrics").text
    assert 'pkgflow_overload_rejections_total{code="503"} 1' in metrics


def test_metrics_healthz_openapi(server: Server) -> None:
    events = [event(i) for i in range(5)]
    httpx.post(server.url + "/v1/events", content=ndjson(events) + b"bad\n", headers=NDJSON)
    wait_stored(server.store, 5)
    httpx.post(server.url + "/v1/events", content=ndjson(events[:1]), headers=NDJSON)  # a retry
    wait_stored(server.store, 5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        metrics = httpx.get(server.url + "/metrics").text
        if "pkgflow_wal_bytes 0\n" in metrics:
            break
        time.sleep(0.1)
    values = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }
    assert values["pkgflow_events_accepted_total"] == 6
    assert values["pkgflow_events_rejected_total"] == 1
    assert values["pkgflow_events_stored_total"] == 5
    assert values["pkgflow_wal_bytes"] == 0
    assert values["pkgflow_flush_lag_seconds"] == 0
    assert values["pkgflow_events_duplicates_total"] == 1
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    document = httpx.get(server.url + "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/events", "/v1/status", "/healthz", "/metrics", "/"} <= set(document["paths"])


def test_clean_shutdown_flushes_everything(server_factory: type) -> None:
    server = server_factory("--flush-interval", "3600").start()
    events = [event(i) for i in range(50)]
    assert httpx.post(server.url + "/v1/events", content=ndjson(events), headers=NDJSON).status_code == 202
    assert stored_ids(server.store) == []  # still only in the WAL
    assert server.stop() == 0
    assert sorted(stored_ids(server.store)) == sorted(e["event_id"] for e in events)
    assert not list((server.store / "_wal" / f"http-{server.port}").glob("wal-*.log"))


def test_sigkill_after_ack_loses_nothing(server_factory: type) -> None:
    server = server_factory("--flush-interval", "3600").start()
    events = [event(i) for i in range(20)]
    for one in events:
        assert httpx.post(server.url + "/v1/events", json=one).status_code == 202
    server.kill()  # the instant after the last ack
    assert stored_ids(server.store) == []
    restarted = server_factory(port=server.port).start()
    assert sorted(stored_ids(restarted.store)) == sorted(e["event_id"] for e in events)
    con = duckdb.connect()
    assert con.sql(f"SELECT count(*) FROM ({EventStore(restarted.store).read_parquet_sql()})").fetchall() == [(20,)]


def test_two_processes_cannot_share_a_wal(server_factory: type, server: Server) -> None:
    other = server_factory("--wal-name", f"http-{server.port}")
    try:
        other.start(timeout=40)
    except RuntimeError as exc:
        assert "in use by another process" in str(exc)
    else:
        raise AssertionError("a second process opened the same WAL")


def test_status_endpoints_serve_json_and_a_self_refreshing_page(server: Server) -> None:
    response = httpx.get(server.url + "/v1/status")
    assert response.status_code == 200 and isinstance(response.json(), dict)
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "http-equiv='refresh'" in page.text
    assert "http://" not in page.text.replace(server.url, "") and "https://" not in page.text
    assert httpx.get(server.url + "/v1/status?limit=x").status_code == 400


def test_status_page_renders_records_as_tables() -> None:
    from pkgflow.serve.status import render_page

    page = render_page({"in_flight": [{"testsrc": "<b>glib</b>", "arch": "amd64"}], "as_of": "now"})
    assert "<table>" in page and "&lt;b&gt;glib&lt;/b&gt;" in page and "refresh" in page
