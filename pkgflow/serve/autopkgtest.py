"""Map AMQP messages to pkgflow event lines.

Three kinds of message body are understood (``../shared/domain.md`` section 4):

* pkgflow's own events: a JSON object (or JSON Lines) with ``event_type`` (or the v1
  ``type``), passed through unchanged (validated like any other input);
* an autopkgtest **test request**: ``<testsrc>\\n<JSON params>`` -> ``test.requested``.
  Release and arch come from the queue name ``debci-[huge-|ppa-|upstream-]<release>-<arch>``
  (a suffix after a ``.`` is ignored, e.g. ``debci-plucky-amd64.mirror``), else from
  the message headers ``release`` and ``arch`` (or ``architecture``);
* an autopkgtest **test-completed** message (the ``testcomplete.fanout`` JSON:
  ``architecture, container, duration, exitcode, package, testpkg_version, release,
  requester, swift_dir, triggers, env``) -> ``test.finished``.

Event ids are derived from natural keys, so a redelivered message maps to the same id
and the store keeps it once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pkgflow.errors import SchemaError
from pkgflow.events.parse import derived_event_id
from pkgflow.events.types import ARCHES, CURRENT_SCHEMA_VERSION

#: ``source`` of the events mapped from autopkgtest-cloud messages.
AUTOPKGTEST_SOURCE: Final = "autopkgtest-cloud"

_QUEUE_RE: Final = re.compile(
    r"^debci-(?:(?P<context>huge|ppa|upstream)-)?(?P<release>[a-z][a-z0-9]*)-"
    r"(?P<arch>" + "|".join(ARCHES) + r")(?:\..*)?$"
)
_PACKAGE_RE: Final = re.compile(r"^[a-z0-9][a-z0-9+.\-]*$")
_RUN_ID_RE: Final = re.compile(r"^(\d{8})_(\d{6})(?:_[0-9a-f]{5})?@$")


class MessageError(SchemaError):
    """A message is not one pkgflow understands (it goes to the dead-letter queue)."""


def parse_queue_name(queue: str) -> tuple[str, str, str] | None:
    """``debci-huge-plucky-amd64`` -> ``("huge", "plucky", "amd64")``; None if no match."""
    match = _QUEUE_RE.match(queue)
    if not match:
        return None
    return match["context"] or "ubuntu", match["release"], match["arch"]


def parse_submit_time(text: str) -> datetime:
    """autopkgtest's ``submit-time``: ``%Y-%m-%d %H:%M:%S`` with or without ``+0000``
    (naive means UTC); an ISO 8601 ``T`` separator is accepted too."""
    cleaned = text.strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    msg = f"submit-time {text!r} is not `YYYY-MM-DD HH:MM:SS[+0000]`"
    raise MessageError(msg)


def run_id_time(run_id: str) -> datetime | None:
    """The UTC finish time encoded in a run id (``20250314_214702_abcde@``)."""
    match = _RUN_ID_RE.match(run_id)
    if not match:
        return None
    return datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _header(headers: Mapping[str, Any] | None, *names: str) -> str | None:
    for name in names:
        value = (headers or {}).get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _triggers(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [t for v in value for t in v.split()]
    if value is None:
        return []
    msg = f"`triggers` must be a list of `source/version` strings (got {json.dumps(value)[:80]})"
    raise MessageError(msg)


def _fallback_time(timestamp: datetime | None, received_at: datetime) -> datetime:
    return timestamp or received_at


def map_test_request(
    body: bytes,
    queue: str | None,
    headers: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """An autopkgtest test request (``<testsrc>\\n<JSON params>``) -> a ``test.requested``.

    The time is ``submit-time``, else the AMQP ``timestamp`` property, else the
    receive time (then the id falls back to a hash of the message).
    """
    text = body.decode("utf-8", "replace")
    if "\n" not in text.strip():
        msg = (
            f"not a test request (`<testsrc>\\n<JSON params>`), a pkgflow event or a "
            f"test-completed message: {text[:60]!r}"
        )
        raise MessageError(msg)
    testsrc, _, params_text = text.strip().partition("\n")
    testsrc = testsrc.strip()
    if not _PACKAGE_RE.match(testsrc):
        msg = f"test request: first line {testsrc[:60]!r} is not a source package name"
        raise MessageError(msg)
    try:
        params = json.loads(params_text) if params_text.strip() else {}
    except ValueError as exc:
        msg = f"test request for {testsrc}: parameters are not JSON ({exc})"
        raise MessageError(msg) from exc
    if not isinstance(params, dict):
        msg = f"test request for {testsrc}: parameters must be a JSON object"
        raise MessageError(msg)
    from_queue = parse_queue_name(queue) if queue else None
    context, release, arch = from_queue or (
        _header(headers, "queue", "context") or "ubuntu",
        _header(headers, "release"),
        _header(headers, "arch", "architecture"),
    )
    if not release or not arch:
        msg = (
            f"test request for {testsrc}: release/arch unknown: queue {queue!r} is not "
            "`debci-[huge-]<release>-<arch>` and the headers `release`/`arch` are missing"
        )
        raise MessageError(msg)
    triggers = _triggers(params.get("triggers"))
    submit = params.get("submit-time")
    received_at = received_at or datetime.now(UTC)
    if isinstance(submit, str) and submit.strip():
        occurred = parse_submit_time(submit)
        key_time = _iso(occurred)
    else:
        occurred = _fallback_time(timestamp, received_at)
        key_time = "body:" + hashlib.sha256(body + (queue or "").encode()).hexdigest()
    requester = params.get("requester")
    event: dict[str, Any] = {
        "event_id": derived_event_id(
            "amqp",
            "test.requested",
            release,
            arch,
            testsrc,
            " ".join(sorted(triggers)),
            key_time,
            requester if isinstance(requester, str) else "",
        ),
        "event_type": "test.requested",
        "schema_version": CURRENT_SCHEMA_VERSION,
        "occurred_at": _iso(occurred),
        "source": AUTOPKGTEST_SOURCE,
        "release": release,
        "testsrc": testsrc,
        "arch": arch,
        "triggers": triggers,
        "queue": context,
    }
    if isinstance(requester, str) and requester:
        event["requester"] = requester
    return event


def map_test_completed(
    document: Mapping[str, Any],
    body: bytes,
    timestamp: datetime | None = None,
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """A test-completed message -> ``test.finished``; the run id is the last segment of
    ``swift_dir`` and gives the (exact) finish time."""
    swift_dir = document.get("swift_dir")
    run_id = None
    if isinstance(swift_dir, str) and swift_dir.strip("/"):
        last = swift_dir.strip("/").rsplit("/", 1)[-1]
        run_id = last if _RUN_ID_RE.match(last) else None
    finished = run_id_time(run_id) if run_id else None
    occurred = finished or _fallback_time(timestamp, received_at or datetime.now(UTC))
    version_text = document.get("testpkg_version")
    test_version = (
        version_text.split()[-1] if isinstance(version_text, str) and version_text.split() else None
    )
    duration = document.get("duration")
    if isinstance(duration, str) and duration.strip().isdigit():
        duration = int(duration)
    if isinstance(duration, float) and duration >= 0:
        duration = round(duration)
    exitcode = document.get("exitcode")
    if isinstance(exitcode, str) and exitcode.strip().lstrip("-").isdigit():
        exitcode = int(exitcode)
    release = document.get("release")
    arch = document.get("architecture")
    package = document.get("package")
    key = (
        ("run", str(run_id))
        if run_id
        else ("body", hashlib.sha256(body).hexdigest())
    )
    event: dict[str, Any] = {
        "event_id": derived_event_id(
            "amqp", "test.finished", str(release), str(arch), str(package), *key
        ),
        "event_type": "test.finished",
        "schema_version": CURRENT_SCHEMA_VERSION,
        "occurred_at": _iso(occurred),
        "source": AUTOPKGTEST_SOURCE,
        "release": release,
        "testsrc": package,
        "arch": arch,
        "triggers": _triggers(document.get("triggers")),
        "exitcode": exitcode,
        "duration": duration,
        "run_id": run_id,
        "test_version": test_version,
        "requester": document.get("requester") or None,
        "worker": document.get("container") or None,
    }
    return {k: v for k, v in event.items() if v is not None}


def message_lines(
    body: bytes,
    queue: str | None,
    headers: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    received_at: datetime | None = None,
) -> list[bytes]:
    """The event JSON lines of one AMQP message; :class:`MessageError` if it is none of
    the known kinds (the lines themselves are validated later, by ``parse_lines``)."""
    stripped = body.strip()
    if not stripped:
        raise MessageError("empty message body")
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None  # maybe several pkgflow events as JSON Lines
        if isinstance(document, dict):
            if "event_type" in document or "type" in document:
                return [stripped]
            if "exitcode" in document and ("architecture" in document or "package" in document):
                return [json.dumps(map_test_completed(document, body, timestamp, received_at)).encode()]
            keys = ", ".join(sorted(document)[:12])
            msg = (
                "JSON message is neither a pkgflow event (no `event_type`) nor an "
                f"autopkgtest test-completed message (no `exitcode`); keys: {keys}"
            )
            raise MessageError(msg)
        lines = [line for line in stripped.split(b"\n") if line.strip()]
        return lines  # JSON Lines: each line is validated on its own
    event = map_test_request(body, queue, headers, timestamp, received_at)
    return [json.dumps(event).encode()]
