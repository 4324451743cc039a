"""``pkgflow consume``: a RabbitMQ consumer that acknowledges only durable events.

Each loop takes every delivered message (at most ``prefetch`` are unacknowledged),
maps them to event lines (:mod:`pkgflow.serve.autopkgtest`), validates all of them
in one ``parse_lines`` call, writes the good messages' events to the WAL as one
record (fsync), publishes bad messages to the dead-letter queue (publisher
confirms; the reason is in the ``x-pkgflow-reason`` header) and only then acks.
A message is the unit: if any of its lines is bad, all of it is dead-lettered.
A lost connection (broker restart) is retried with exponential backoff; messages
not acked by then are redelivered by the broker and map to the same event ids.
"""

from __future__ import annotations

import hashlib
import logging
import random
import signal
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
import polars as pl

from pkgflow.errors import PkgflowError, StorageError
from pkgflow.serve.autopkgtest import MessageError, message_lines
from pkgflow.serve.pipeline import Ingestor
from pkgflow.store import EventStore

log = logging.getLogger("pkgflow.consume")

_CONNECTION_ERRORS = (pika.exceptions.AMQPError, ConnectionError, OSError)


class ConsumeError(PkgflowError, RuntimeError):
    """The consumer cannot run as configured (bad URL, missing queue...)."""


@dataclass
class ConsumerSettings:
    """What to consume and how."""

    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    queues: list[str] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)
    prefetch: int = 500
    dead_letter_queue: str = "pkgflow.dead-letter"
    declare: bool = False
    flush_interval: float = 1.0
    min_backoff: float = 0.5
    max_backoff: float = 30.0


@dataclass
class ConsumerStats:
    """Counts of one consumer run."""

    messages: int = 0
    events: int = 0
    dead_lettered: int = 0
    reconnects: int = 0


@dataclass
class _Delivery:
    tag: int
    queue: str
    body: bytes
    properties: pika.BasicProperties


def default_wal_name(settings: ConsumerSettings) -> str:
    """A stable WAL name per (broker, queues, exchanges) without the password."""
    params = pika.URLParameters(settings.url)
    key = f"{params.host}:{params.port}{params.virtual_host}|" + ",".join(
        sorted(settings.queues) + ["x:" + e for e in sorted(settings.exchanges)]
    )
    return "amqp-" + hashlib.sha1(key.encode()).hexdigest()[:10]


class Consumer:
    """Consume the configured queues into ``store`` until :meth:`stop`."""

    def __init__(
        self, store: EventStore, settings: ConsumerSettings, wal_name: str | None = None
    ) -> None:
        if not settings.queues and not settings.exchanges:
            msg = "nothing to consume: give at least one --queue or --exchange"
            raise ConsumeError(msg)
        try:
            self.parameters = pika.URLParameters(settings.url)
        except Exception as exc:
            msg = f"bad AMQP URL {settings.url!r}: {exc}"
            raise ConsumeError(msg) from exc
        self.parameters.heartbeat = 30
        self.parameters.blocked_connection_timeout = 60
        self.settings = settings
        self.store = store
        self.ingestor = Ingestor(
            store, wal_name or default_wal_name(settings), flush_interval=settings.flush_interval
        )
        self.stats = ConsumerStats()
        self._stop = threading.Event()
        self._buffer: list[_Delivery] = []
        self._connection: pika.BlockingConnection | None = None
        self._consumed = False  # has a session ever got as far as consuming

    def stop(self) -> None:
        """Ask the consumer to finish its batch, disconnect and flush (thread-safe)."""
        self._stop.set()

    def run(self) -> ConsumerStats:
        """Consume until :meth:`stop`; reconnect with backoff when the broker goes away."""
        self.ingestor.start()
        backoff = self.settings.min_backoff
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._session()
                except ConsumeError:
                    if not self._consumed:  # a setup mistake: say so, do not retry
                        raise
                    log.exception("consumer setup failed; retrying")
                except _CONNECTION_ERRORS as exc:
                    if not self._consumed and self.stats.reconnects == 0 and _refused(exc):
                        log.warning("broker unreachable (%s); retrying", exc)
                    else:
                        log.warning("AMQP connection lost (%s); reconnecting", exc)
                finally:
                    self._buffer.clear()  # unacked: the broker redelivers them
                    self._close_connection()
                if self._stop.is_set():
                    break
                if time.monotonic() - started > 10:
                    backoff = self.settings.min_backoff
                delay = backoff * (0.5 + random.random())
                self.stats.reconnects += 1
                self._stop.wait(delay)
                backoff = min(self.settings.max_backoff, backoff * 2)
        finally:
            self.ingestor.close()
        return self.stats

    # -- one connection ------------------------------------------------------------

    def _session(self) -> None:
        connection = pika.BlockingConnection(self.parameters)
        self._connection = connection
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=self.settings.prefetch)
        channel.queue_declare(self.settings.dead_letter_queue, durable=True)
        queues = list(self.settings.queues)
        for exchange in self.settings.exchanges:
            name = f"pkgflow.{exchange}"
            try:
                channel.exchange_declare(exchange, exchange_type="fanout", passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                msg = f"exchange {exchange!r}: {exc.reply_text}"
                raise ConsumeError(msg) from exc
            channel.queue_declare(name, durable=True)
            channel.queue_bind(name, exchange)
            queues.append(name)
        for queue in self.settings.queues:
            try:
                if self.settings.declare:
                    channel.queue_declare(queue, durable=True)
                else:
                    channel.queue_declare(queue, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                msg = f"queue {queue!r}: {exc.reply_text}; pass --declare to create it"
                raise ConsumeError(msg) from exc
        for queue in queues:
            channel.basic_consume(
                queue,
                lambda ch, method, props, body, queue=queue: self._buffer.append(
                    _Delivery(method.delivery_tag, queue, body, props)
                ),
                auto_ack=False,
            )
        log.info("consuming %s", ", ".join(queues))
        self._consumed = True  # set up once: later setup failures are retried
        while not self._stop.is_set():
            connection.process_data_events(time_limit=0.2 if not self._buffer else 0)
            if self._buffer:
                connection.process_data_events(time_limit=0)  # take what else is there
                batch, self._buffer = self._buffer, []
                self._handle(channel, batch)
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._handle(channel, batch)

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except _CONNECTION_ERRORS:
                pass

    # -- one batch -----------------------------------------------------------------------

    def _handle(self, channel: Any, batch: list[_Delivery]) -> None:
        received = datetime.now(UTC)
        lines: list[bytes] = []
        offsets: list[int] = []
        owners: list[int] = []  # index in `batch` of each offset
        bad: dict[int, str] = {}
        for index, delivery in enumerate(batch):
            props = delivery.properties
            stamp = (
                datetime.fromtimestamp(props.timestamp, UTC)
                if isinstance(props.timestamp, int)
                else None
            )
            try:
                message = message_lines(
                    delivery.body, delivery.queue, props.headers, stamp, received
                )
            except MessageError as exc:
                bad[index] = str(exc)
                continue
            except Exception as exc:  # never let one message wedge the queue
                bad[index] = f"cannot be mapped: {type(exc).__name__}: {exc}"
                continue
            offsets.append(len(lines))
            owners.append(index)
            lines.extend(message)
        parsed = self.ingestor.parse(lines)
        for rejection in parsed.rejections:
            position = bisect_right(offsets, rejection.line_number) - 1
            index = owners[position]
            line = rejection.line_number - offsets[position] + 1
            bad.setdefault(index, f"line {line}: {rejection.reason}")
        events = parsed.events
        if bad and events.height:
            keep = [
                owners[bisect_right(offsets, n) - 1] not in bad
                for n in events["line_number"].to_list()
            ]
            events = events.filter(pl.Series(keep))
        try:
            self.ingestor.commit(events)  # fsynced: safe to ack from here on
        except StorageError as exc:
            log.error("cannot make events durable (%s); messages requeued", exc)
            channel.basic_nack(delivery_tag=batch[-1].tag, multiple=True, requeue=True)
            self._stop.wait(2.0)
            return
        for index, reason in sorted(bad.items()):
            self._dead_letter(channel, batch[index], reason)
        channel.basic_ack(delivery_tag=batch[-1].tag, multiple=True)
        self.stats.messages += len(batch)
        self.stats.events += events.height
        self.stats.dead_lettered += len(bad)

    def _dead_letter(self, channel: Any, delivery: _Delivery, reason: str) -> None:
        props = delivery.properties
        headers = dict(props.headers or {})
        headers.update(
            {
                "x-pkgflow-reason": reason[:2000],
                "x-pkgflow-queue": delivery.queue,
                "x-pkgflow-dead-lettered-at": datetime.now(UTC).isoformat(),
            }
        )
        channel.basic_publish(
            exchange="",
            routing_key=self.settings.dead_letter_queue,
            body=delivery.body,
            properties=pika.BasicProperties(
                headers=headers,
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type=props.content_type,
                timestamp=props.timestamp,
            ),
            mandatory=True,
        )
        self.ingestor.quarantine_message(delivery.body, delivery.queue, reason)


def _refused(exc: BaseException) -> bool:
    return isinstance(exc, pika.exceptions.AMQPConnectionError)


def run_consumer(
    store: EventStore, settings: ConsumerSettings, wal_name: str | None = None
) -> ConsumerStats:
    """Run a consumer in the foreground; SIGINT/SIGTERM stop it cleanly (flushing)."""
    consumer = Consumer(store, settings, wal_name)

    def _stop(signum: int, frame: Any) -> None:
        consumer.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    print(
        f"pkgflow consume: {', '.join(settings.queues + settings.exchanges)} -> {store.root} "
        f"(dead letters: {settings.dead_letter_queue})",
        flush=True,
    )
    stats = consumer.run()
    print(
        f"pkgflow consume: stopped after {stats.messages:,} messages, {stats.events:,} events, "
        f"{stats.dead_lettered:,} dead-lettered",
        flush=True,
    )
    return stats
