"""Settings: one frozen dataclass. Explicit arguments win over PKGFLOW_* variables,
which win over the defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The embedded default store: ``data/`` at the root of the checkout (git-ignored).
DEFAULT_STORE = Path(__file__).resolve().parent.parent / "data"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Where the store lives and how big write batches are."""

    store: Path = field(default_factory=lambda: _env_path("PKGFLOW_STORE", DEFAULT_STORE))
    batch_size: int = field(
        default_factory=lambda: int(os.environ.get("PKGFLOW_BATCH_SIZE", "100000"))
    )


def store_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The store root: ``explicit`` if given, else ``$PKGFLOW_STORE``, else ``data/``."""
    return Path(explicit) if explicit is not None else Settings().store
