"""A parameter push (``update_config``) from the fleet: the parameters an operator may pick, their
values checked before anything is sent, and each terminal's diff against the config it
reported in its newest heartbeat (``data.config``, dotted keys, no secrets).

The terminal is the judge of its own file (``terminal/config_push.py`` refuses anything it does
not know, and checks the whole file with its schema); this list is what the dashboard offers,
a subset of the terminal's pushable parameters (a test holds it so).

>>> check({"timeouts.read": "12", "merchant_name": " 静安便利店 "})
{'timeouts.read': 12.0, 'merchant_name': '静安便利店'}
>>> check({"hosts": "primary=10.0.0.2:5800, backup1=10.0.0.3:5801"})["hosts"][1]
{'name': 'backup1', 'host': '10.0.0.3', 'port': 5801}
>>> changes({"timeouts.read": 30.0}, {"timeouts.read": 12.0})
[Change(key='timeouts.read', old=30.0, new=12.0)]
>>> changes(None, {"timeouts.read": 12.0}) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import TerminalLiveness

Kind = Literal["text", "int", "float", "bool", "hosts"]


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    max_len: int = 64


PARAMS: Final[tuple[Param, ...]] = (
    Param("merchant_name", "text", max_len=40),  # the receipt header
    Param("operator", "text", max_len=8),
    Param("hosts", "hosts"),
    Param("timeouts.dns", "float", 0, 60),
    Param("timeouts.connect", "float", 0, 120),
    Param("timeouts.read", "float", 0, 300),
    Param("practice.reversal_tries", "int", 1, 9),
    Param("practice.partial_approval", "bool"),
    Param("printer.profile", "text"),  # the printer model
    Param("agent.heartbeat_s", "float", 0, 3600),
)
BY_KEY: Final[Mapping[str, Param]] = {p.key: p for p in PARAMS}

_HOST = re.compile(r"^([A-Za-z0-9_.-]{1,32})=([A-Za-z0-9_.:-]{1,253}):([0-9]{1,5})$")
MAX_DIFF_ROWS = 500


class ParamError(ValueError):
    """A parameter the dashboard cannot send; the message is one line naming it."""


def _number(p: Param, value: Any) -> float:
    if isinstance(value, bool):
        raise ParamError(f"{p.key} must be a number")
    try:
        found = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ParamError(f"{p.key} must be a number") from None
    if p.kind == "int" and found != int(found):
        raise ParamError(f"{p.key} must be a whole number")
    low, high = p.low or 0.0, p.high or 0.0
    if p.kind == "float" and not low < found <= high:
        raise ParamError(f"{p.key} must be above {low:g} and at most {high:g}")
    if p.kind == "int" and not low <= found <= high:
        raise ParamError(f"{p.key} must be between {low:g} and {high:g}")
    return found


def _hosts(value: Any) -> list[dict[str, Any]]:
    """``name=host:port, ...`` (the form) or a list of ``{name, host, port}`` (the API)."""
    if isinstance(value, str):
        entries = []
        for part in (x.strip() for x in value.split(",")):
            m = _HOST.match(part)
            if m is None:
                raise ParamError(f"hosts: {part[:40]!r} is not name=host:port")
            entries.append({"name": m[1], "host": m[2], "port": int(m[3])})
        value = entries
    if not isinstance(value, list) or not value or len(value) > 8:
        raise ParamError("hosts must list 1 to 8 hosts, primary first")
    out = []
    for i, h in enumerate(value):
        if not isinstance(h, Mapping) or set(h) - {"name", "host", "port"}:
            raise ParamError(f"hosts[{i}] takes name, host and port only")
        port = h.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ParamError(f"hosts[{i}].port must be 1-65535")
        if not all(isinstance(h.get(k), str) and h.get(k) for k in ("name", "host")):
            raise ParamError(f"hosts[{i}] needs a name and a host")
        out.append({"name": h["name"], "host": h["host"], "port": port})
    if len({h["name"] for h in out}) != len(out):
        raise ParamError("hosts: each host needs its own name")
    return out


def _value(p: Param, value: Any) -> Any:
    if p.kind == "hosts":
        return _hosts(value)
    if p.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return value.strip().lower() in ("true", "yes")
        raise ParamError(f"{p.key} must be true or false")
    if p.kind in ("int", "float"):
        n = _number(p, value)
        return int(n) if p.kind == "int" else n
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > p.max_len:
        raise ParamError(f"{p.key} must be text of 1 to {p.max_len} characters")
    return value.strip()


def check(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters to push, typed; :class:`ParamError` for an unknown key or a bad value."""
    if not params:
        raise ParamError("choose at least one parameter")
    out: dict[str, Any] = {}
    for key, value in params.items():
        p = BY_KEY.get(key)
        if p is None:
            raise ParamError(f"{key[:40]!r} is not a parameter the fleet pushes")
        out[key] = _value(p, value)
    return out


def from_form(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The form's ``p.<key>`` fields that are filled in, as given (``check`` types them)."""
    return {
        k[2:]: v.strip()
        for k, v in items
        if k.startswith("p.") and isinstance(v, str) and v.strip() and k[2:] in BY_KEY
    }


def shown(value: Any) -> str:
    """A value as the diff shows it (hosts as ``name=host:port``; absent as a dash).

    >>> shown([{"name": "p", "host": "10.0.0.2", "port": 5800}]), shown(None), shown(12.0)
    ('p=10.0.0.2:5800', '—', '12')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(
            f"{h.get('name')}={h.get('host')}:{h.get('port')}" if isinstance(h, Mapping) else str(h)
            for h in value
        )
    return str(value)


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    old: Any
    new: Any


def _comparable(key: str, value: Any) -> Any:
    if key == "hosts" and isinstance(value, list):
        return [
            (h.get("name"), h.get("host"), h.get("port")) for h in value if isinstance(h, Mapping)
        ]
    return value


def changes(reported: Mapping[str, Any] | None, params: Mapping[str, Any]) -> list[Change] | None:
    """What the push changes on a terminal that reported ``reported`` (None: it never
    reported its config, so the diff is unknown)."""
    if not isinstance(reported, Mapping):
        return None
    return [
        Change(key, reported.get(key), new)
        for key, new in params.items()
        if _comparable(key, reported.get(key)) != _comparable(key, new)
    ]


@dataclass(frozen=True, slots=True)
class TerminalDiff:
    terminal_id: str
    changes: Sequence[Change] | None  # None: no config reported


@dataclass(frozen=True, slots=True)
class Diff:
    rows: Sequence[TerminalDiff]  # changing first, then unknown, then unchanged

    @property
    def changing(self) -> int:
        return sum(1 for r in self.rows if r.changes)

    @property
    def unchanged(self) -> int:
        return sum(1 for r in self.rows if r.changes is not None and not r.changes)

    @property
    def unknown(self) -> int:
        return sum(1 for r in self.rows if r.changes is None)


def reported_configs(session: Session, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """terminal -> the config its newest heartbeat reported (those that reported one)."""
    out: dict[str, Mapping[str, Any]] = {}
    for part in range(0, len(ids), 1000):
        q = select(TerminalLiveness.terminal_id, TerminalLiveness.data).where(
            TerminalLiveness.terminal_id.in_(ids[part : part + 1000])
        )
        for tid, data in session.execute(q):
            config = data.get("config") if isinstance(data, dict) else None
            if isinstance(config, dict):
                out[tid] = config
    return out


def diff(session: Session, terminal_ids: Sequence[str], params: Mapping[str, Any]) -> Diff:
    """Each terminal's diff against its reported config."""
    found = reported_configs(session, list(terminal_ids))
    rows = [TerminalDiff(t, changes(found.get(t), params)) for t in terminal_ids]
    rank = {True: 0, None: 1, False: 2}
    rows.sort(key=lambda r: rank[bool(r.changes) if r.changes is not None else None])
    return Diff(rows)
