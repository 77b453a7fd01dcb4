"""Every command of every face that prints text takes ``--lang`` (zh / en, one default from
:mod:`posguard.cli_support.lang`) and ``--debug``: the walk covers each registered command, so
a new command, or a new face, that refuses them fails here (issue 17: `terminal sign-on`,
`catalog list` and `merchant brands` once refused ``--lang``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from posguard.cli import app

ROOT: Any = typer.main.get_command(app)  # a click group (typer may ship its own click)

CHECKED = ("catalog", "demo", "fleet", "host", "kb", "merchant", "sim", "terminal")
NOT_YET: dict[str, str] = {}  # a face named here with the reason is not walked (none today)


def _leaves(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(cmd, "commands"):
        for name, sub in sorted(cmd.commands.items()):
            yield from _leaves(sub, (*path, name))
    else:
        yield path, cmd


COMMANDS = [(path, cmd) for face in CHECKED for path, cmd in _leaves(ROOT.commands[face], (face,))]


def test_every_face_is_walked_or_named_as_not_yet() -> None:
    assert sorted(ROOT.commands) == sorted([*CHECKED, *NOT_YET])
    assert len(COMMANDS) >= 40  # the walk really found the commands


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_the_command_takes_lang_and_debug(path: tuple[str, ...], cmd: Any) -> None:
    options = {opt for param in cmd.params for opt in param.opts}
    assert "--lang" in options, f"posguard {' '.join(path)} refuses --lang"
    assert "--debug" in options, f"posguard {' '.join(path)} has no --debug"
    runner = CliRunner()
    for lang in ("zh", "en"):
        result = runner.invoke(app, [*path, "--lang", lang, "--help"])
        assert result.exit_code == 0, (lang, result.output)
        assert "--lang" in result.output


@pytest.mark.parametrize(
    "path",
    [
        ("terminal", "sign-on"),
        ("host", "journal"),
        ("sim", "scale"),
        ("demo",),
        ("fleet", "merchants"),
        ("fleet", "incident", "show", "1"),
        ("fleet", "notify", "log"),
    ],
    ids=" ".join,
)
def test_an_unknown_language_is_one_line_and_exit_2(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--lang", "fr"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "'fr'" in result.stderr
    assert "Traceback" not in result.output
