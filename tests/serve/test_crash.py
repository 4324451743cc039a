"""Crash test: HTTP and AMQP producers, the service and the consumer SIGKILLed at
random moments and restarted; every acknowledged event is stored exactly once."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from pathlib import Path

import duckdb
import httpx
import pika
import pytest

from pkgflow.store import EventStore
from tests.serve.conftest import AMQP_URL, Consumer, Server, event, free_port, ndjson, wait_for

CHAOS_SECONDS = 20


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, amqp: object, queue_names: type, consumers: list
) -> None:
    started: list[Server] = []
    try:
        _crash_test(tmp_path, amqp, queue_names, consumers, started)
    finally:
        for server in started:
            server.kill()


def _crash_test(
    tmp_path: Path, amqp: object, queue_names: type, consumers: list, started: list
) -> None:
    rng = random.Random(5)
    store = tmp_path / "store"
    queue, dead = queue_names(), queue_names("dead")
    amqp.queue_declare(queue, durable=True)  # type: ignore[attr-defined]
    port = free_port()
    server = Server(store, "--flush-interval", "0.3", port=port)
    started.append(server)
    server.start()
    consumer_args = ("--queue", queue, "--dead-letter-queue", dead, "--prefetch", "200")
    consumer = Consumer(store, AMQP_URL, *consumer_args)
    consumers.append(consumer)
    consumer.start()
    stop = threading.Event()
    http_acked: list[str] = []
    http_unacked: list[list[str]] = []  # batches sent without an answer
    amqp_confirmed: list[str] = []
    errors: list[str] = []

    def http_driver() -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not stop.is_set():
                batch = [event(n + i, event_id=f"h-{uuid.uuid4()}") for i in range(rng.randint(1, 60))]
                n += len(batch)
                ids = [str(e["event_id"]) for e in batch]
                try:
                    response = client.post(
                        server.url + "/v1/events",
                        content=ndjson(batch),
                        headers={"content-type": "application/x-ndjson"},
                    )
                except httpx.HTTPError:
                    http_unacked.append(ids)
                    time.sleep(0.05)
                    continue
                if response.status_code == 202:
                    assert response.json()["event_ids"] == ids
                    http_acked.extend(ids)
                elif response.status_code in (429, 503):
                    http_unacked.append(ids)
                else:
                    errors.append(f"{response.status_code} {response.text[:200]}")

    def amqp_driver() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = connection.channel()
        channel.confirm_delivery()
        n = 0
        while not stop.is_set():
            one = event(n, event_id=f"a-{uuid.uuid4()}")
            n += 1
            channel.basic_publish(
                "", queue, json.dumps(one).encode(), pika.BasicProperties(delivery_mode=2)
            )
            amqp_confirmed.append(str(one["event_id"]))  # the broker confirmed it
            if n % 50 == 0:
                time.sleep(0.01)
        connection.close()

    threads = [threading.Thread(target=http_driver), threading.Thread(target=amqp_driver)]
    for thread in threads:
        thread.start()
    kills = {"server": 0, "consumer": 0}
    try:
        deadline = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 2.0))
            if rng.random() < 0.5:
                server.kill()
                kills["server"] += 1
                server = Server(store, "--flush-interval", "0.3", port=port)
                started.append(server)
                server.start()
            else:
                consumer.kill()
                kills["consumer"] += 1
                consumer = Consumer(store, AMQP_URL, *consumer_args)
                consumers.append(consumer)
                consumer.start()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors[:5]
    assert kills["server"] >= 2 and kills["consumer"] >= 2, kills
    assert wait_for(
        lambda: amqp.queue_declare(queue, passive=True).method.message_count == 0, timeout=60  # type: ignore[attr-defined]
    )
    consumer.wait_ready()
    assert server.stop() == 0
    assert consumer.stop() == 0
    assert amqp.queue_declare(dead, passive=True).method.message_count == 0  # type: ignore[attr-defined]

    events = EventStore(store)
    polars_ids = events.scan().select("event_id").collect()["event_id"].to_list()
    duck_ids = [
        row[0] for row in duckdb.sql(f"SELECT event_id FROM ({events.read_parquet_sql()})").fetchall()
    ]
    assert sorted(polars_ids) == sorted(duck_ids)
    assert len(polars_ids) == len(set(polars_ids)), "an event was stored twice"
    stored = set(polars_ids)
    acked = set(http_acked) | set(amqp_confirmed)
    assert len(http_acked) > 500 and len(amqp_confirmed) > 500
    assert acked <= stored, f"{len(acked - stored)} acknowledged events lost"
    for ids in http_unacked:  # unacknowledged batches: all or nothing, never half
        assert len(stored & set(ids)) in (0, len(ids))
    assert stored <= acked | {i for ids in http_unacked for i in ids}
