"""Every command has help and appears in the README; the README's commands exist."""

from __future__ import annotations

import argparse
import re

import pytest

from pkgflow.cli import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                found.append((full, sub))
                found += _commands(sub, full)
    return found


COMMANDS = _commands(build_parser())


@pytest.mark.parametrize(("name", "parser"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help_and_is_in_the_readme(name: str, parser: argparse.ArgumentParser) -> None:
    assert parser.description, f"`pkgflow {name}` has no description"
    assert parser.format_help().startswith("usage: pkgflow")
    assert f"pkgflow {name}" in README, f"`pkgflow {name}` is not mentioned in README.md"


def test_readme_mentions_only_commands_that_exist() -> None:
    names = {n.split()[0] for n, _ in COMMANDS}
    mentioned = set(re.findall(r"`pkgflow (?:--store \S+ )?([a-z][a-z-]+)", README))
    assert mentioned <= names, f"README mentions unknown commands: {mentioned - names}"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in README and "make test" in ci
    assert "make demo" in README
