"""Keys derived from an event's own fields, stored with it when it is written.

``test_key`` names the test a test event belongs to: its release, arch, test
package and (sorted) triggers. Replay groups ~10 M events by it; hashing those four
texts at every replay cost more than everything else the grouping does, so the
store hashes them once, when the event is written.

The key must be the same for the same test in every file ever written, whatever
the library versions, so it is a *stable* hash: xxHash64 (seed 0) of the text
``release US arch US testsrc US trigger RS trigger ...`` (US = U+001F, RS = U+001E;
triggers sorted), computed by the ``polars-hash`` plugin. Polars' and DuckDB's own
``hash()`` do not promise stable values across versions.
"""

from __future__ import annotations

from typing import Final

import polars as pl
import polars_hash as plh

from pkgflow.events.types import TEST_EVENT_TYPES

#: The stored column.
TEST_KEY: Final = "test_key"
#: Event types that carry a test key (all name release, arch, testsrc and triggers).
TEST_KEYED_TYPES: Final = (*TEST_EVENT_TYPES, "results.published")


def _key_texts(frame: pl.DataFrame) -> pl.Series:
    """The canonical text of every row (null when a part is missing)."""
    parts = [pl.col("release"), pl.col("arch"), pl.col("testsrc")]
    triggers = pl.col("triggers")
    # sorting lists is slow: most tests have one trigger (nothing to sort), so only
    # the rows with several are redone, and two (the usual case) take one comparison
    texts = frame.select(pl.concat_str([*parts, triggers.list.first()], separator="\x1f"))
    several = frame.select(pl.arg_where(triggers.list.len() > 1)).to_series()
    if several.len():
        first, second = triggers.list.get(0), triggers.list.get(1)
        joined = (
            pl.when(triggers.list.len() > 2)
            .then(triggers.list.sort().list.join("\x1e"))
            .when(first <= second)
            .then(pl.concat_str([first, second], separator="\x1e"))
            .otherwise(pl.concat_str([second, first], separator="\x1e"))
        )
        rows = frame.select("release", "arch", "testsrc", "triggers")[several]
        redone = rows.select(pl.concat_str([*parts, joined], separator="\x1f")).to_series()
        return texts.to_series().scatter(several, redone)
    return texts.to_series()


def with_test_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``test_key`` filled in for test events that lack one (other
    events keep a null key). Needs ``event_type, release, arch, testsrc, triggers``."""
    stored = pl.col(TEST_KEY) if TEST_KEY in frame.columns else pl.lit(None, pl.UInt64)
    keyed = pl.col("event_type").is_in(TEST_KEYED_TYPES)
    if TEST_KEY in frame.columns and not frame.select((keyed & stored.is_null()).any()).item():
        return frame
    hashed = plh.col("_text").nchash.xxhash64()
    key = pl.when(keyed).then(pl.coalesce(stored, hashed)).otherwise(stored)
    return (
        frame.with_columns(_key_texts(frame).alias("_text"))
        .with_columns(key.cast(pl.UInt64).alias(TEST_KEY))
        .drop("_text")
    )
