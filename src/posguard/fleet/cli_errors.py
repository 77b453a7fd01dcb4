"""The fleet face's expected failures as one line each, in both languages, with the exit status
of their kind (:class:`~posguard.cli_support.errors.ExitCode`):

- 1 (``REFUSED``): the command was refused as asked (a name that already exists, a migration
  backwards without ``--downgrade``, a bad TLS or password file, a ``ConfigError`` of the
  command's own work): the fleet face's status before issue 17, kept for scripts (``import``
  uses 2 for "some rows refused");
- 2 (``USAGE``): what the user fixes in the command line or the environment: a bad or busy
  port, bad option values, a bad ``POSGUARD_FLEET_*`` setting (named), a database not created
  or not migrated yet (the ``posguard fleet migrate`` line to run), a write the database
  refuses;
- 4 (``NOT_FOUND``): an unknown user, merchant or incident;
- 5 (``UNAVAILABLE``): a database that does not answer.

Database errors never carry SQLAlchemy's own text: it holds the statement's parameters (a
password hash, a credential hash)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from posguard.cli_support.errors import CliError, ExitCode
from posguard.common.errors import ConfigError

REFUSED = ExitCode.FINDINGS  # 1: see the module docstring

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from posguard.fleet.config import FleetSettings
    from posguard.fleet.db.check import DatabaseState


def fleet_settings(db: str | None = None, **extra: object) -> FleetSettings:
    """The fleet settings from the environment, with ``--db`` and the command's options over
    them; a bad ``POSGUARD_FLEET_*`` value is one line naming the variable."""
    from pydantic import ValidationError

    from posguard.fleet.config import FleetSettings

    try:
        base = FleetSettings()
    except ValidationError as exc:
        raise settings_error(exc) from None
    updates: dict[str, object] = {k: v for k, v in extra.items() if v is not None}
    if db is not None:
        updates["database_url"] = db
    return base.model_copy(update=updates)


def settings_error(exc: object) -> CliError:
    """One line for a :class:`pydantic.ValidationError` of the fleet settings: the first bad
    field, as its environment variable, and why."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    first = errors[0] if errors else {"loc": ("?",), "msg": str(exc)}
    field = ".".join(str(p) for p in first.get("loc", ()) or ("?",))
    env = "POSGUARD_FLEET_" + field.upper()
    more = len(errors) - 1
    en_more = f" (and {more} more)" if more > 0 else ""
    zh_more = f"（另有 {more} 处）" if more > 0 else ""
    why = first.get("msg", "")
    return CliError(
        f"{env}: {why}{en_more}; fix or unset it",
        f"环境变量 {env} 的值不对：{why}{zh_more}；请改正或删除它",
    )


_ZH_PROBLEMS = (
    ("folder ", "文件夹不存在：", " does not exist"),
    ("no database file", "没有数据库文件", ""),
    ("read-only", "只读（不能写入）", ""),
    ("not migrated", "尚未迁移（没有 fleet 表结构）", ""),
    ("schema ", "表结构版本过旧：", ""),
    ("cannot connect", "连接不上：", ""),
    ("bad database URL", "数据库 URL 不对：", ""),
)


def database_refusal(state: DatabaseState, url: str) -> CliError:
    """The refusal of a database the command cannot use (see :mod:`posguard.fleet.db.check`):
    unreachable is ``UNAVAILABLE`` (5), anything ``posguard fleet migrate`` or a fixed
    ``--db`` cures is ``USAGE`` (2)."""
    problem = state.problem or ""
    zh_problem = problem
    for prefix, zh, suffix in _ZH_PROBLEMS:
        if problem.startswith(prefix):
            rest = problem.removeprefix(prefix).removesuffix(suffix).strip().strip("()")
            zh_problem = zh + rest if zh.endswith("：") else f"{zh} {rest}".rstrip()
            break
    fix = state.fix or ""
    zh_fix = (
        fix.replace("create it, then ", "先创建它，再")
        .replace("run ", "请运行 ")
        .replace("check --db", "请检查 --db 和数据库服务")
        .replace("fix --db", "请改正 --db")
        .replace("point --db at a primary", "请把 --db 指向主库")
        .replace("give the service's user write access to both", "请给服务的用户两者的写权限")
    )
    unreachable = problem.startswith("cannot connect")
    return CliError(
        state.line(url),
        f"终端管理数据库 {url}：{zh_problem}；{zh_fix}",
        exit_code=ExitCode.UNAVAILABLE if unreachable else ExitCode.USAGE,
    )


def require_usable_database(settings: FleetSettings) -> None:
    """Refuse to go on with a database the command cannot use, in one line with the fix."""
    from posguard.fleet.db.check import check_database

    state = check_database(settings.database_url, probe_write=True)
    if not state.ok:
        raise database_refusal(state, settings.database_url)


def db_error_text(exc: SQLAlchemyError) -> str:
    """The driver's first line (what rule broke), never SQLAlchemy's statement and parameters."""
    orig = getattr(exc, "orig", None)
    first = (str(orig if orig is not None else exc).strip().splitlines() or [""])[0]
    return f"{type(orig or exc).__name__}: {first}"[:300]


def not_found(en: str, zh: str) -> CliError:
    """An unknown id (user, merchant, incident): exit 4."""
    return CliError(en, zh, exit_code=ExitCode.NOT_FOUND)


@contextlib.contextmanager
def fleet_errors(what: str, zh_what: str | None = None) -> Iterator[None]:
    """Turn the expected failures of a fleet command into :class:`CliError`: bad settings,
    a database that refuses a write or does not answer, a file the system refuses. ``what``
    (a command name, said the same in both languages unless ``zh_what``) starts the line."""
    from pydantic import ValidationError
    from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

    zh = zh_what or what
    try:
        yield
    except ValidationError as exc:
        raise settings_error(exc) from None
    except ConfigError as exc:
        raise CliError(str(exc), f"{zh}：{exc}", exit_code=REFUSED) from None
    except IntegrityError as exc:
        text = db_error_text(exc)
        raise CliError(
            f"{what}: refused by the database ({text})", f"{zh}：数据库拒绝了这次写入（{text}）"
        ) from None
    except OperationalError as exc:
        text = db_error_text(exc)
        raise CliError(
            f"{what}: the database does not answer ({text}); check --db and the database server",
            f"{zh}：数据库没有响应（{text}）；请检查 --db 和数据库服务",
            exit_code=ExitCode.UNAVAILABLE,
        ) from None
    except SQLAlchemyError as exc:
        text = db_error_text(exc)
        raise CliError(
            f"{what}: database error ({text})",
            f"{zh}：数据库出错（{text}）",
            exit_code=ExitCode.UNAVAILABLE,
        ) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or str(exc)
        raise CliError(
            f"{what}: {reason}{where}", f"{zh}：{reason}{where}", exit_code=REFUSED
        ) from None


def listen_refusal(exc: ConfigError, port: int) -> CliError:
    """A port the service cannot listen on (busy, forbidden): one line, exit 2."""
    return CliError(str(exc), f"无法在端口 {port} 上监听：{exc}；请换一个 --port")
