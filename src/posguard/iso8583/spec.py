"""ISO 8583 message specs as data: YAML files under ``specs/``, validated when loaded.

A spec file holds ``name`` and ``fields``, a mapping of pyiso8583 field keys (``"h"``
header, ``"t"`` MTI, ``"p"`` primary bitmap, ``"1"`` .. ``"128"``) to pyiso8583 field
properties (``data_enc``, ``len_enc``, ``len_type``, ``max_len``, ``len_count``,
``left_pad``, ``right_pad``, ``desc``), plus one posguard property, ``numeric: true``, for
fields that may hold decimal digits only. Anything else is refused with the file, the
field and the key at fault:

>>> spec = load_spec("unionpay")
>>> spec.name, spec.header_len, spec.pyiso8583["3"]["len_count"]
('unionpay', 11, 'nibbles')
>>> sorted(spec.bytes_fields)
['52', '55', '62', '64']
>>> load_spec("nope")
Traceback (most recent call last):
...
posguard.common.errors.ConfigError: unknown message spec 'nope' (known: iso87ascii, unionpay)

How a message value is typed follows from the spec: a binary field counted in bytes
(``data_enc: b`` without ``len_count: nibbles``: PIN block, MAC, keys, ICC data) holds
``bytes``; every other field, BCD numerics included, holds ``str``. The header ``h`` is a
``str`` too (hex digits when binary, e.g. the UnionPay TPDU + header).
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from posguard.common.errors import ConfigError

SPEC_DIR = Path(str(files("posguard.iso8583") / "specs"))
KNOWN_SPECS = ("iso87ascii", "unionpay")
# Every field docs/iso8583-profile.md uses: a shipped spec must define them all.
PROFILE_FIELDS = (
    "2",
    "3",
    "4",
    "11",
    "12",
    "13",
    "14",
    "22",
    "25",
    "35",
    "37",
    "38",
    "39",
    "41",
    "42",
    "48",
    "49",
    "52",
    "60",
    "61",
    "62",
    "64",
)

_REQUIRED = {"data_enc": str, "len_enc": str, "len_type": int, "max_len": int}
_OPTIONAL = {"len_count": str, "left_pad": str, "right_pad": str, "desc": str, "numeric": bool}
_FIELD_KEYS = frozenset({"h", "t", "p"} | {str(i) for i in range(1, 129)})
_HEX = frozenset("0123456789ABCDEF")

# How a message key's value is typed and checked by the codec (MessageSpec.value_kinds).
KIND_TEXT, KIND_NUMERIC, KIND_BYTES, KIND_BITMAP = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """A validated message spec.

    ``pyiso8583`` is the raw spec dict handed to pyiso8583 (posguard-only keys removed;
    plain dicts for speed on the hot path: treat it as read-only);
    ``numeric_fields`` may hold decimal digits only; ``bytes_fields`` are carried as
    ``bytes`` in a message; ``header_len`` is the fixed header size in bytes (0: none);
    ``value_kinds`` maps every key a message may hold to its ``KIND_*`` (no ``"h"`` when
    the spec has no header; ``"p"``, ``"1"``, ``"65"`` are bitmaps, computed by pyiso8583).
    """

    name: str
    pyiso8583: Mapping[str, Mapping[str, Any]]
    numeric_fields: frozenset[str] = field(default_factory=frozenset)
    bytes_fields: frozenset[str] = field(default_factory=frozenset)
    header_len: int = 0
    source: str = ""
    value_kinds: Mapping[str, int] = field(default_factory=dict)
    # value_kinds split into sets, for the codec's hot path
    digit_keys: frozenset[str] = field(default_factory=frozenset)
    text_keys: frozenset[str] = field(default_factory=frozenset)
    binary_keys: frozenset[str] = field(default_factory=frozenset)

    def desc(self, key: str) -> str:
        """The human description of a field (``"?"`` when the spec has none)."""
        f = self.pyiso8583.get(key)
        return str(f.get("desc", "?")) if f is not None else "?"


def _fail(source: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{source}: {where}: {msg}", file=source)


def _is_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _check_field(source: str, key: str, raw: Any) -> dict[str, Any]:
    where = f"field {key!r}"
    if not isinstance(raw, dict):
        raise _fail(source, where, f"must be a mapping, not {type(raw).__name__}")
    for k in raw:
        if k not in _REQUIRED and k not in _OPTIONAL:
            allowed = ", ".join([*_REQUIRED, *_OPTIONAL])
            raise _fail(source, f"{where}, key {k!r}", f"unknown key (allowed: {allowed})")
    for k in _REQUIRED:
        if k not in raw:
            raise _fail(source, f"{where}, key {k!r}", "missing")
    for k, typ in {**_REQUIRED, **_OPTIONAL}.items():
        if k in raw and (type(raw[k]) is not typ):
            raise _fail(
                source,
                f"{where}, key {k!r}",
                f"must be {typ.__name__}, not {type(raw[k]).__name__} ({raw[k]!r})",
            )
    data_enc, len_enc = raw["data_enc"], raw["len_enc"]
    len_type, max_len = raw["len_type"], raw["max_len"]
    len_count = raw.get("len_count", "bytes")
    if data_enc != "b" and not _is_encoding(data_enc):
        raise _fail(source, f"{where}, key 'data_enc'", f"unknown encoding {data_enc!r}")
    if len_enc not in ("b", "bcd") and not _is_encoding(len_enc):
        raise _fail(source, f"{where}, key 'len_enc'", f"unknown encoding {len_enc!r}")
    top = 2 if len_enc in ("b", "bcd") else 4
    if not 0 <= len_type <= top:
        raise _fail(source, f"{where}, key 'len_type'", f"must be 0..{top} for {len_enc!r}")
    if max_len < 0 or (key != "h" and max_len == 0):
        raise _fail(source, f"{where}, key 'max_len'", f"must be positive, not {max_len}")
    if len_type:
        cap = {"b": 256**len_type - 1, "bcd": 10 ** (2 * len_type) - 1}.get(
            len_enc, 10**len_type - 1
        )
        if max_len > cap:
            raise _fail(
                source, f"{where}, key 'max_len'", f"{max_len} does not fit a length of {cap}"
            )
    if len_count not in ("bytes", "nibbles"):
        raise _fail(source, f"{where}, key 'len_count'", "must be 'bytes' or 'nibbles'")
    if len_count == "nibbles" and data_enc != "b":
        raise _fail(source, f"{where}, key 'len_count'", "'nibbles' needs data_enc 'b'")
    for pad_key in ("left_pad", "right_pad"):
        pad = raw.get(pad_key)
        if pad is None:
            continue
        if len(pad) != 1 or pad.upper() not in _HEX or len_count != "nibbles":
            raise _fail(
                source,
                f"{where}, key {pad_key!r}",
                "must be one hex digit, on a binary field counted in nibbles",
            )
    if "left_pad" in raw and "right_pad" in raw:
        raise _fail(source, where, "give left_pad or right_pad, not both")
    odd_possible = len_type > 0 or max_len % 2 == 1
    if len_count == "nibbles" and odd_possible and "left_pad" not in raw and "right_pad" not in raw:
        raise _fail(source, where, "odd nibble counts need left_pad or right_pad")
    return dict(raw)


def _check_special(source: str, fields: dict[str, dict[str, Any]]) -> None:
    for key in ("h", "t", "p"):
        if key not in fields:
            raise _fail(source, f"field {key!r}", "missing (h: header, t: MTI, p: bitmap)")
    h = fields["h"]
    if h["max_len"] and h["len_type"] != 0:
        raise _fail(source, "field 'h', key 'len_type'", "the header must be fixed length (0)")
    for key, binary, text in (("p", 8, 16), ("1", 8, 16), ("t", 2, 4)):
        f = fields.get(key)
        if f is None:
            continue
        want = binary if f["data_enc"] == "b" else text
        if f["len_type"] != 0 or f["max_len"] != want:
            raise _fail(
                source,
                f"field {key!r}",
                f"must be fixed length {want} for data_enc {f['data_enc']!r}",
            )
    if any(k.isdigit() and int(k) > 64 for k in fields) and "1" not in fields:
        raise _fail(source, "field '1'", "missing: fields above 64 need a secondary bitmap")


def parse_spec(raw: Any, source: str) -> MessageSpec:
    """Validate already-parsed spec data (``source`` names it in errors)."""
    if not isinstance(raw, dict):
        raise _fail(source, "(file)", "must be a mapping with 'name' and 'fields'")
    extra = set(raw) - {"name", "fields"}
    if extra:
        raise _fail(source, f"key {sorted(extra)[0]!r}", "unknown top-level key")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(source, "key 'name'", "missing or not a string")
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise _fail(source, "key 'fields'", "missing or not a non-empty mapping")
    fields: dict[str, dict[str, Any]] = {}
    for k, v in raw_fields.items():
        key = str(k)
        if key not in _FIELD_KEYS:
            raise _fail(source, f"field {key!r}", "not a field key (h, t, p, 1..128)")
        fields[key] = _check_field(source, key, v)
    _check_special(source, fields)
    numeric = frozenset(k for k, f in fields.items() if f.pop("numeric", False))
    bytes_fields = frozenset(
        k
        for k, f in fields.items()
        if k not in ("h", "t", "p", "1")
        and f["data_enc"] == "b"
        and f.get("len_count", "bytes") == "bytes"
    )
    header_len = fields["h"]["max_len"]
    kinds: dict[str, int] = {}
    for key in fields:
        if key in ("p", "1", "65"):  # 65: pyiso8583's tertiary bitmap
            kinds[key] = KIND_BITMAP
        elif key == "h" and header_len == 0:
            continue
        elif key in bytes_fields:
            kinds[key] = KIND_BYTES
        elif key in numeric or key == "t":
            kinds[key] = KIND_NUMERIC
        else:
            kinds[key] = KIND_TEXT
    return MessageSpec(
        name=name,
        pyiso8583=fields,
        value_kinds=kinds,
        digit_keys=frozenset(k for k, v in kinds.items() if v == KIND_NUMERIC),
        text_keys=frozenset(k for k, v in kinds.items() if v == KIND_TEXT),
        binary_keys=frozenset(k for k, v in kinds.items() if v == KIND_BYTES),
        numeric_fields=numeric,
        bytes_fields=bytes_fields,
        header_len=header_len,
        source=source,
    )


def load_spec_file(path: Path) -> MessageSpec:
    """Load and validate one spec file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}", file=str(path)) from exc
    return parse_spec(raw, path.name)


@cache
def load_spec(name: str) -> MessageSpec:
    """The shipped spec ``name`` (``"iso87ascii"`` or ``"unionpay"``), loaded once."""
    if name not in KNOWN_SPECS:
        raise ConfigError(f"unknown message spec {name!r} (known: {', '.join(KNOWN_SPECS)})")
    spec = load_spec_file(SPEC_DIR / f"{name}.yaml")
    check_profile_fields(spec)
    if spec.name != name:
        raise ConfigError(f"{name}.yaml: key 'name': says {spec.name!r}, expected {name!r}")
    return spec


def check_profile_fields(spec: MessageSpec) -> None:
    """Raise naming the first profile field ``spec`` does not define."""
    for key in PROFILE_FIELDS:
        if key not in spec.pyiso8583:
            raise _fail(spec.source, f"field {key!r}", "missing: the message profile uses it")
    for key in ("52", "62", "64"):
        if key not in spec.bytes_fields:
            raise _fail(spec.source, f"field {key!r}", "must be binary (data_enc 'b', bytes)")
