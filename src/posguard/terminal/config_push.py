"""Parameters pushed from the fleet (the remote ``update_config`` command), applied safely.

A push names parameters by their dotted place in the terminal's config file
(``timeouts.read``, ``printer.profile``; ``{"timeouts": {"read": 20}}`` is the same) with their
new values. Only the parameters of :data:`PUSHABLE` can be pushed; keys, credentials, trust
anchors, the terminal's identity and where it keeps its data never can (:data:`FORBIDDEN`),
and anything else is an unknown parameter: each refusal is one line naming the key, never a
value. The whole file as it would be is validated by the service's own schema
(:func:`~posguard.terminal.service_config.service_config_of`) before anything is written;
then it is written atomically (a temporary file, fsync, rename, fsync of the directory) and
the previous file is kept beside it as ``<name>.prev`` for a rollback by hand.

Each parameter is applied *live* (the receipt header and operator, the heartbeat interval) or
needs a *restart* (everything the host link, the printer or the loops were built with).

>>> flatten({"timeouts": {"read": 20}, "hosts": [{"name": "p"}], "merchant_name": "A"})
{'timeouts.read': 20, 'hosts': [{'name': 'p'}], 'merchant_name': 'A'}
>>> refusal("agent.token")
'agent.token cannot be pushed: it is a credential'
>>> refusal("tmk_source.file"), refusal("colour"), refusal("timeouts.read")
('tmk_source.file cannot be pushed: it is key material', "unknown parameter 'colour'", None)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from posguard.common.errors import ConfigError
from posguard.terminal.config import read_config_file
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.service_config import ServiceConfig, service_config_of


class Apply(StrEnum):
    LIVE = "live"
    RESTART = "restart"


_L, _R = Apply.LIVE, Apply.RESTART

PUSHABLE: Final[Mapping[str, Apply]] = {
    "merchant_name": _L,  # the receipt header
    "operator": _L,
    "hosts": _R,  # the whole list, primary first: name, host, port, tls.enabled/server_name
    "timeouts.dns": _R,
    "timeouts.connect": _R,
    "timeouts.read": _R,
    "breaker.failure_threshold": _R,
    "breaker.open_seconds": _R,
    "breaker.max_open_seconds": _R,
    "retry.base": _R,
    "retry.factor": _R,
    "retry.cap": _R,
    "retry.attempts_per_run": _R,
    "practice.reversal_tries": _R,
    "practice.partial_approval": _R,
    "practice.settle_rc95_out_of_balance": _R,
    "printer.profile": _R,  # the printer model
    "printer.host": _R,
    "printer.port": _R,
    "printer.timeout": _R,
    "agent.heartbeat_s": _L,
    "agent.link": _R,
    "agent.carrier": _R,
    "service.catch_up_s": _R,
    "service.catch_up_timeout_s": _R,
    "service.resume_s": _R,
    "service.print_poll_s": _R,
}
"""Every parameter a push may set, and how it takes effect."""

_KEY = "key material"
_CREDENTIAL = "a credential"
_IDENTITY = "the terminal's identity (register or transfer the terminal instead)"
_STORAGE = "where the terminal keeps its data (set on the terminal itself)"
_FLEET_LINK = "the terminal's link to the fleet (a wrong value cuts it off)"
_PROFILE = "the acquirer's message profile (set at installation)"

FORBIDDEN: Final[Mapping[str, str]] = {
    "tmk": _KEY,
    "tmk_source": _KEY,
    "vault_key": _KEY,
    "agent.token": _CREDENTIAL,
    "agent.password": _CREDENTIAL,
    "agent.username": _CREDENTIAL,
    "agent.key_file": _KEY,
    "agent.cert_file": _KEY,
    "agent.ca_file": "a trust anchor",
    "service.update_public_keys": "a trust anchor",
    "terminal_id": _IDENTITY,
    "merchant_id": _IDENTITY,
    "journal_path": _STORAGE,
    "service.data_dir": _STORAGE,
    "service.update_root": _STORAGE,
    "agent.transport": _FLEET_LINK,
    "agent.host": _FLEET_LINK,
    "agent.port": _FLEET_LINK,
    "agent.url": _FLEET_LINK,
    "agent.tls": _FLEET_LINK,
    "mac_algorithm": _PROFILE,
    "spec": _PROFILE,
    "length_header": _PROFILE,
    "tpdu": _PROFILE,
    "currency": _PROFILE,
}
"""Parameters a push never sets, with the reason given (any key under them too)."""

_HOST_KEYS = frozenset({"name", "host", "port", "tls"})
_HOST_TLS_KEYS = frozenset({"enabled", "server_name"})  # its files stay the terminal's own


class PushRefusedError(ValueError):
    """The push is refused as a whole (nothing written); the message is one line."""


def flatten(args: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections to dotted keys; a pushable key's value is kept whole (``hosts``)."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted not in PUSHABLE and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def refusal(key: str) -> str | None:
    """Why ``key`` cannot be pushed (None: it can)."""
    parts = key.split(".")
    for n in range(1, len(parts) + 1):
        why = FORBIDDEN.get(".".join(parts[:n]))
        if why is not None:
            return f"{key} cannot be pushed: it is {why}"
    if key not in PUSHABLE:
        return f"unknown parameter {key!r}"
    return None


def reported(cfg: ServiceConfig) -> dict[str, Any]:
    """The pushable parameters as they are (dotted key -> JSON value): what the heartbeat
    reports as ``config`` and what a push is compared with. Holds no secret by construction:
    only :data:`PUSHABLE` keys, hosts without their TLS files."""
    t = cfg.terminal
    out: dict[str, Any] = {
        "merchant_name": t.merchant_name,
        "operator": t.operator,
        "hosts": [
            {
                "name": h.name,
                "host": h.host,
                "port": h.port,
                "tls": {"enabled": h.tls.enabled, "server_name": h.tls.server_name},
            }
            for h in t.hosts
        ],
    }
    for section, model in (
        ("timeouts", t.timeouts),
        ("breaker", t.breaker),
        ("retry", t.retry),
        ("practice", t.practice),
        ("printer", cfg.printer),
        ("agent", cfg.agent),
        ("service", cfg.service),
    ):
        if model is None:
            continue
        values = model.model_dump(mode="json")
        for key, value in values.items():
            if PUSHABLE.get(f"{section}.{key}") is not None:
                out[f"{section}.{key}"] = value
    return out


@dataclass(frozen=True, slots=True)
class Change:
    key: str
    old: Any
    new: Any
    apply: Apply


@dataclass(frozen=True, slots=True)
class PushPlan:
    """What a push would do: the file's new mapping, its validated config, the changes."""

    raw: dict[str, Any]
    config: ServiceConfig
    changes: tuple[Change, ...]

    @property
    def live(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.changes if c.apply is Apply.LIVE)

    @property
    def restart(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.changes if c.apply is Apply.RESTART)


def _hosts(value: Any, current: Any) -> list[dict[str, Any]]:
    """A pushed host list: each entry only name, host, port and tls.enabled/server_name; the
    TLS files of the host of the same name are kept."""
    if not isinstance(value, list) or not value:
        raise PushRefusedError("hosts must be a non-empty list of {name, host, port}")
    before = {h.get("name"): h for h in current or [] if isinstance(h, dict)}
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise PushRefusedError(f"hosts[{i}] must be a mapping of name, host, port")
        extra = sorted(set(entry) - _HOST_KEYS)
        if extra:
            raise PushRefusedError(f"hosts[{i}].{extra[0]} cannot be pushed")
        tls = entry.get("tls") or {}
        if not isinstance(tls, dict):
            raise PushRefusedError(f"hosts[{i}].tls must be a mapping")
        bad = sorted(set(tls) - _HOST_TLS_KEYS)
        if bad:
            raise PushRefusedError(f"hosts[{i}].tls.{bad[0]} cannot be pushed: it is key material")
        kept = dict((before.get(entry.get("name")) or {}).get("tls") or {})
        host = {k: v for k, v in entry.items() if k != "tls"}
        merged = kept | tls
        if merged:
            host["tls"] = merged
        out.append(host)
    return out


def plan(path: Path, args: Mapping[str, Any]) -> PushPlan:
    """Check a push against the file at ``path``; :class:`PushRefusedError` says why not."""
    pushed = flatten(args)
    if not pushed:
        raise PushRefusedError("no parameters given")
    for key in pushed:
        why = refusal(key)
        if why is not None:
            raise PushRefusedError(why)
    raw = read_config_file(path)
    old = service_config_of(raw, path)
    new_raw: dict[str, Any] = dict(raw)
    for key, value in pushed.items():
        if key == "hosts":
            new_raw["hosts"] = _hosts(value, raw.get("hosts"))
            continue
        section, _, leaf = key.rpartition(".")
        if not section:
            new_raw[leaf] = value
            continue
        if section == "printer" and not isinstance(raw.get("printer"), dict):
            raise PushRefusedError(f"{key}: this terminal has no printer configured")
        target = dict(new_raw.get(section) or {})
        target[leaf] = value
        new_raw[section] = target
    try:
        new = service_config_of(new_raw, path)
        if "printer.profile" in pushed and new.printer is not None:
            load_profile(new.printer.profile)  # a printer model this software knows
    except ConfigError as exc:
        raise PushRefusedError(exc.message.replace(f"terminal config {path}: ", "")) from None
    before, after = reported(old), reported(new)
    changes = tuple(
        Change(k, before.get(k), after.get(k), PUSHABLE[k])
        for k in PUSHABLE
        if before.get(k) != after.get(k)
    )
    return PushPlan(new_raw, new, changes)


def previous_path(path: Path) -> Path:
    """Where the file before the last push is kept."""
    return path.with_name(path.name + ".prev")


def write_atomically(path: Path, raw: Mapping[str, Any]) -> None:
    """Keep the current file as ``<name>.prev``, then replace it by ``raw`` in one rename: a
    crash leaves the old file or the new one, never half of either."""
    import yaml

    text = yaml.safe_dump(dict(raw), allow_unicode=True, sort_keys=False)
    mode = path.stat().st_mode & 0o777
    _replace(previous_path(path), path.read_bytes(), mode)
    _replace(path, text.encode("utf-8"), mode)


def _replace(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def push(path: Path, args: Mapping[str, Any]) -> PushPlan:
    """Check, then write (nothing when nothing changes); the plan says what to apply."""
    found = plan(path, args)
    if found.changes:
        write_atomically(path, found.raw)
    return found


def summary(found: PushPlan) -> str:
    """The command's answer, one line: what changed, what is live, what waits for a restart."""
    if not found.changes:
        return "nothing changed: the terminal already has these values"
    parts = [f"{len(found.changes)} changed"]
    if found.live:
        parts.append("applied live: " + ", ".join(found.live))
    if found.restart:
        parts.append("restart needed: " + ", ".join(found.restart))
    return "; ".join(parts)
