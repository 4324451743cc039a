"""Stored test keys: stable values, one per test, only on test events."""

from __future__ import annotations

import polars as pl

from pkgflow.events.keys import TEST_KEY, with_test_keys


def _frame(**columns: list) -> pl.DataFrame:
    return pl.DataFrame(
        columns,
        schema_overrides={"triggers": pl.List(pl.String)},
    )


def test_key_is_xxhash64_of_the_canonical_text() -> None:
    # known answer from the reference xxHash library:
    # xxhash.xxh64_intdigest("noble\x1famd64\x1fglibc\x1fa/2\x1eb/1".encode())
    frame = _frame(
        event_type=["test.requested"], release=["noble"], arch=["amd64"],
        testsrc=["glibc"], triggers=[["b/1", "a/2"]],
    )
    assert with_test_keys(frame)[TEST_KEY].to_list() == [11053970480628455406]


def test_same_test_same_key_whatever_the_trigger_order_and_event() -> None:
    frame = _frame(
        event_type=["test.requested", "results.published", "test.finished", "test.finished",
                    "upload.accepted"],
        release=["noble"] * 5,
        arch=["amd64", "amd64", "amd64", "arm64", None],
        testsrc=["glibc", "glibc", "glibc", "glibc", None],
        triggers=[["b/1", "a/2"], ["a/2", "b/1"], ["a/2", "b/1"], ["a/2", "b/1"], None],
    )
    keys = with_test_keys(frame)[TEST_KEY].to_list()
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] not in (keys[0], None)  # another arch is another test
    assert keys[4] is None  # not a test event


def test_a_stored_key_is_kept() -> None:
    frame = _frame(
        event_type=["test.requested"], release=["noble"], arch=["amd64"],
        testsrc=["glibc"], triggers=[["a/2"]],
    ).with_columns(pl.lit(7, pl.UInt64).alias(TEST_KEY))
    assert with_test_keys(frame)[TEST_KEY].to_list() == [7]


def test_three_triggers_in_any_order_give_one_key() -> None:
    orders = [["c/1", "b/1", "a/1"], ["a/1", "c/1", "b/1"], ["b/1", "a/1", "c/1"]]
    frame = _frame(
        event_type=["test.finished"] * 3, release=["noble"] * 3, arch=["amd64"] * 3,
        testsrc=["glibc"] * 3, triggers=orders,
    )
    keys = set(with_test_keys(frame)[TEST_KEY].to_list())
    assert len(keys) == 1 and None not in keys
