"""serve/consume options are checked before anything starts."""

from __future__ import annotations

import pytest

from pkgflow.cli import main


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["serve", "--port", "70000"], "a TCP port is 1-65535 (got 70000)"),
        (["serve", "--flush-interval", "0"], "positive number of seconds (got 0)"),
        (["consume", "amqp://x/", "--queue", "q", "--flush-interval", "-1"], "(got -1)"),
    ],
)
def test_bad_option_is_refused_with_its_value(
    args: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert reason in capsys.readouterr().err
