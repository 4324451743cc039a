"""The AMQP consumer against the real RabbitMQ (127.0.0.1:5672, guest/guest)."""

from __future__ import annotations

import json
from pathlib import Path

import pika

from pkgflow.events import derived_event_id
from pkgflow.store import EventStore
from tests.serve.conftest import AMQP_URL, Consumer, TcpProxy, event, stored_ids, wait_for

REQUEST = (
    b'glib2.0\n{"triggers": ["glib2.0/2.84.0-1"], "submit-time": "2025-03-14 21:00:00+0000",'
    b' "requester": "", "env": [], "all-proposed": false}'
)
NAIVE_REQUEST = b'udisks2\n{"triggers": ["glib2.0/2.84.0-1"], "submit-time": "2025-03-14 21:00:05"}'
COMPLETED = json.dumps(
    {
        "architecture": "amd64",
        "container": "juju-7f2275-prod-proposed-migration-environment-2",
        "duration": 321,
        "exitcode": 4,
        "package": "udisks2",
        "testpkg_version": "udisks2 2.10.1-11",
        "release": "plucky",
        "requester": "",
        "swift_dir": "autopkgtest-plucky/plucky/amd64/u/udisks2/20250314_214702_abcde@",
        "triggers": ["glib2.0/2.84.0-1"],
        "env": [],
    }
).encode()


def publish(channel: object, queue: str, *bodies: bytes, headers: dict | None = None) -> None:
    for body in bodies:
        channel.basic_publish(  # type: ignore[attr-defined]
            "", queue, body, pika.BasicProperties(delivery_mode=2, headers=headers)
        )


def drain(channel: object, queue: str) -> list[tuple[bytes, dict]]:
    got = []
    while True:
        method, props, body = channel.basic_get(queue, auto_ack=True)  # type: ignore[attr-defined]
        if method is None:
            return got
        got.append((body, props.headers or {}))


def test_consumes_real_messages_and_dead_letters_bad_ones(
    amqp: object, queue_names: type, consumers: list, tmp_path: Path
) -> None:
    queue = queue_names("debci-huge-plucky-amd64")
    other = queue_names("incoming")  # not a debci queue: release/arch from headers
    dead = queue_names("dead")
    for name in (queue, other):
        amqp.queue_declare(name, durable=True)  # type: ignore[attr-defined]
    own = event(1, event_type="upload.accepted", package="glib2.0", version="2.84.0-1")
    for name in ("testsrc", "arch", "triggers"):
        del own[name]
    publish(amqp, queue, REQUEST, COMPLETED, json.dumps(own).encode(), b"garbage", b'{"x": 1}')
    publish(amqp, other, NAIVE_REQUEST, headers={"release": "plucky", "arch": "arm64"})
    publish(amqp, other, b'bad-headers\n{"triggers": ["a/1"]}')
    store = tmp_path / "store"
    consumer = Consumer(
        store, AMQP_URL, "--queue", queue, "--queue", other, "--dead-letter-queue", dead
    ).start()
    consumers.append(consumer)
    assert wait_for(lambda: len(stored_ids(store)) >= 4), consumer.output()
    assert wait_for(lambda: amqp.queue_declare(dead, passive=True).method.message_count == 3)  # type: ignore[attr-defined]
    assert consumer.stop() == 0
    frame = EventStore(store).scan().collect().sort("occurred_at")
    rows = {r["event_type"] + ":" + (r["testsrc"] or r["package"]): r for r in frame.to_dicts()}
    assert set(rows) == {
        "test.requested:glib2.0",
        "test.requested:udisks2",
        "test.finished:udisks2",
        "upload.accepted:glib2.0",
    }
    requested = rows["test.requested:glib2.0"]
    assert (requested["release"], requested["arch"], requested["queue"]) == ("plucky", "amd64", "huge")
    assert requested["occurred_at"].isoformat() == "2025-03-14T21:00:00+00:00"
    assert requested["source"] == "autopkgtest-cloud"
    naive = rows["test.requested:udisks2"]
    assert (naive["arch"], naive["occurred_at"].isoformat()) == ("arm64", "2025-03-14T21:00:05+00:00")
    finished = rows["test.finished:udisks2"]
    assert finished["run_id"] == "20250314_214702_abcde@"
    assert finished["occurred_at"].isoformat() == "2025-03-14T21:47:02+00:00"
    assert (finished["exitcode"], finished["outcome"], finished["duration"]) == (4, "fail", 321)
    assert finished["test_version"] == "2.10.1-11"
    assert finished["worker"] == "juju-7f2275-prod-proposed-migration-environment-2"
    assert rows["upload.accepted:glib2.0"]["event_id"] == own["event_id"]
    dead_letters = drain(amqp, dead)
    reasons = {body: headers["x-pkgflow-reason"] for body, headers in dead_letters}
    assert "not a test request" in reasons[b"garbage"]
    assert "neither a pkgflow event" in reasons[b'{"x": 1}']
    assert "release/arch unknown" in reasons[b'bad-headers\n{"triggers": ["a/1"]}']
    assert all(h["x-pkgflow-queue"] in (queue, other) for _, h in dead_letters)
    for name in (queue, other):
        assert amqp.queue_declare(name, passive=True).method.message_count == 0  # type: ignore[attr-defined]


def test_redelivery_never_duplicates(amqp: object, queue_names: type, consumers: list, tmp_path: Path) -> None:
    queue = queue_names()
    dead = queue_names("dead")
    amqp.queue_declare(queue, durable=True)  # type: ignore[attr-defined]
    store = tmp_path / "store"
    publish(amqp, queue, REQUEST, COMPLETED)
    first = Consumer(store, AMQP_URL, "--queue", queue, "--dead-letter-queue", dead).start()
    consumers.append(first)
    assert wait_for(lambda: len(stored_ids(store)) == 2), first.output()
    assert first.stop() == 0
    publish(amqp, queue, REQUEST, COMPLETED)  # the broker delivers them again
    second = Consumer(store, AMQP_URL, "--queue", queue, "--dead-letter-queue", dead).start()
    consumers.append(second)
    second.wait_ready()
    assert wait_for(lambda: amqp.queue_declare(queue, passive=True).method.message_count == 0)  # type: ignore[attr-defined]
    assert second.stop() == 0
    ids = stored_ids(store)
    assert len(ids) == 2 == len(set(ids))
    key = derived_event_id(
        "amqp", "test.finished", "plucky", "amd64", "udisks2", "run", "20250314_214702_abcde@"
    )
    assert key in ids


def test_reconnects_when_the_broker_goes_away(
    amqp: object, queue_names: type, consumers: list, tmp_path: Path
) -> None:
    queue = queue_names()
    dead = queue_names("dead")
    amqp.queue_declare(queue, durable=True)  # type: ignore[attr-defined]
    store = tmp_path / "store"
    proxy = TcpProxy()
    try:
        consumer = Consumer(store, proxy.url, "--queue", queue, "--dead-letter-queue", dead).start()
        consumers.append(consumer)
        first = [event(i) for i in range(10)]
        publish(amqp, queue, *(json.dumps(e).encode() for e in first))
        assert wait_for(lambda: len(stored_ids(store)) == 10), consumer.output()
        proxy.refusing.set()
        proxy.drop_all()  # the "broker restart": every connection dies, new ones refused
        later = [event(i) for i in range(10, 30)]
        publish(amqp, queue, *(json.dumps(e).encode() for e in later))
        wait_for(lambda: False, timeout=2)
        assert len(stored_ids(store)) == 10
        proxy.refusing.clear()
        assert wait_for(lambda: len(stored_ids(store)) == 30, timeout=40), consumer.output()
        assert proxy.connections >= 2
        assert consumer.stop() == 0
        assert sorted(stored_ids(store)) == sorted(e["event_id"] for e in first + later)
    finally:
        proxy.close()


def test_missing_queue_fails_clearly(queue_names: type, tmp_path: Path, consumers: list) -> None:
    consumer = Consumer(tmp_path / "s", AMQP_URL, "--queue", queue_names("absent")).start()
    consumers.append(consumer)
    assert consumer.proc is not None
    assert consumer.proc.wait(30) == 1
    assert "NOT_FOUND" in consumer.output() and "--declare" in consumer.output()


def test_a_setup_failure_after_consuming_is_retried_not_fatal(
    amqp: object, queue_names: type, consumers: list, tmp_path: Path
) -> None:
    # consuming an exchange; the broker "restarts" and comes back without it for a while
    exchange = queue_names("results")
    amqp.exchange_declare(exchange, exchange_type="fanout")  # type: ignore[attr-defined]
    store = tmp_path / "store"
    proxy = TcpProxy()
    try:
        consumer = Consumer(
            store, proxy.url, "--exchange", exchange, "--dead-letter-queue", queue_names("dead")
        ).start()
        consumers.append(consumer)
        first = json.dumps(event(1)).encode()
        assert wait_for(lambda: _published(amqp, exchange, first, store, 1)), consumer.output()
        amqp.exchange_delete(exchange)  # type: ignore[attr-defined]
        proxy.drop_all()  # reconnecting now fails in setup: the exchange is gone
        wait_for(lambda: False, timeout=3)
        assert consumer.proc is not None and consumer.proc.poll() is None, consumer.output()
        amqp.exchange_declare(exchange, exchange_type="fanout")  # type: ignore[attr-defined]
        later = json.dumps(event(2)).encode()
        assert wait_for(
            lambda: _published(amqp, exchange, later, store, 2), timeout=40
        ), consumer.output()
        assert consumer.stop() == 0
    finally:
        proxy.close()


def _published(channel: object, exchange: str, body: bytes, store: Path, count: int) -> bool:
    """Publish ``body`` to ``exchange`` (again: fanout drops it while no queue is bound)
    and tell whether the store holds ``count`` events yet."""
    if len(stored_ids(store)) < count:
        channel.basic_publish(exchange, "", body, pika.BasicProperties(delivery_mode=2))  # type: ignore[attr-defined]
    return len(stored_ids(store)) >= count
