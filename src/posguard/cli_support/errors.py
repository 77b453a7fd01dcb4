"""One-line errors for every command of a face: what is wrong, what to do, in the user's
language, with a distinct exit status, and never a traceback unless ``--debug`` asks.

A face builds its app as ``FaceApp(...)`` instead of ``typer.Typer(...)``. Each of its
commands then

- takes ``--debug`` (show the traceback of any error);
- gets ``lang`` already resolved to ``zh`` / ``en`` when it has a ``lang`` parameter
  (``--lang fr`` is a one-line usage error, see :mod:`posguard.cli_support.lang`);
- turns :class:`CliError` into one line on stderr and its exit status; a
  :class:`~posguard.common.errors.PosguardError` (bad config or data) into one line and
  :attr:`ExitCode.USAGE`; anything else (a bug) into one line and :attr:`ExitCode.INTERNAL`.
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable
from enum import IntEnum
from typing import Annotated, Any, TypeVar

import click
import typer

from posguard.cli_support.lang import UnknownLanguageError, default_lang, resolve_lang
from posguard.common.errors import PosguardError

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    """The exit status of every command that uses this module."""

    OK = 0
    FINDINGS = 1  # it worked and found something to act on (documents, fees, terminals...)
    USAGE = 2  # a bad argument, option or input file (click's own usage errors are 2 too)
    HANDED_OVER = 3  # kb walk ended needing a person
    NOT_FOUND = 4  # an unknown code; nothing matches
    UNAVAILABLE = 5  # a service, database or port the command needs is not there
    INTERRUPTED = 130  # Ctrl-C
    INTERNAL = 70  # a bug (EX_SOFTWARE): one line here, the traceback with --debug


class CliError(Exception):
    """An expected failure of a command, said in both languages; ``exit_code`` tells
    scripts what kind of failure it was."""

    def __init__(self, en: str, zh: str, *, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh
        self.exit_code = exit_code

    def message(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def one_line(text: str) -> str:
    """Collapse whitespace and line breaks: an error is one line.

    >>> one_line("bad  value\\n  in line 3")
    'bad value in line 3'
    """
    return " ".join(text.split())


def say_error(message: str, lang: str) -> None:
    """Print one error line on stderr, labelled in ``lang``."""
    label = "错误：" if lang == "zh" else "error: "
    typer.echo(label + one_line(message), err=True)


def _internal(exc: BaseException, lang: str) -> str:
    what = one_line(str(exc))[:200] or type(exc).__name__
    if lang == "zh":
        return (
            f"内部错误（{type(exc).__name__}: {what}）。请带 --debug 重新运行并把输出报告给我们。"
        )
    return (
        f"internal error ({type(exc).__name__}: {what}). Run again with --debug and report "
        "the output."
    )


DebugOption = Annotated[
    bool,
    typer.Option("--debug", help="Show the full traceback of an error / 出错时显示完整调用栈"),
]


def guarded(func: F) -> F:
    """Wrap a command as described in the module docstring (adds the ``--debug`` option)."""
    signature = inspect.signature(func, eval_str=True)
    takes_lang = "lang" in signature.parameters

    @functools.wraps(func)
    def command(*args: Any, debug: bool = False, **kwargs: Any) -> Any:
        lang = default_lang()
        if takes_lang:
            given = kwargs.get("lang")
            try:
                lang = kwargs["lang"] = resolve_lang(given)
            except UnknownLanguageError:
                say_error(
                    f"unknown language {given!r}; use zh or en"
                    if lang == "en"
                    else f"不支持的语言 {given!r}，请用 zh 或 en",
                    lang,
                )
                raise typer.Exit(ExitCode.USAGE) from None
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.ClickException:
            raise
        except CliError as exc:
            if debug:
                traceback.print_exc()
            say_error(exc.message(lang), lang)
            raise typer.Exit(exc.exit_code) from None
        except PosguardError as exc:
            if debug:
                traceback.print_exc()
            say_error(str(exc), lang)
            raise typer.Exit(ExitCode.USAGE) from None
        except KeyboardInterrupt:
            say_error("已中断" if lang == "zh" else "interrupted", lang)
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as exc:
            if debug:
                raise
            say_error(_internal(exc, lang), lang)
            raise typer.Exit(ExitCode.INTERNAL) from None

    params = list(signature.parameters.values())
    params.append(
        inspect.Parameter(
            "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOption
        )
    )
    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {**func.__annotations__, "debug": DebugOption}
    return command  # type: ignore[return-value]


class FaceApp(typer.Typer):
    """A face's Typer app whose every command is :func:`guarded`."""

    def command(self, name: str | None = None, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().command(name, *args, **kwargs)

        def decorator(func: F) -> F:
            register(guarded(func))
            return func

        return decorator
