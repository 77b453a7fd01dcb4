"""Where a pydantic validation failed, as the dotted field path our error messages name.

Each loader words its own message (file, entry, line, context fields); this module only turns
pydantic's error location into the path they all print.

>>> from pydantic import BaseModel, ValidationError
>>> class Host(BaseModel):
...     port: int
>>> class Config(BaseModel):
...     hosts: list[Host]
>>> try:
...     Config.model_validate({"hosts": [{"port": "x"}]})
... except ValidationError as exc:
...     first_error(exc)
('hosts.0.port', 'Input should be a valid integer, unable to parse string as an integer')
>>> field_path((), "(top level)")
'(top level)'
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

__all__ = ["field_path", "first_error"]


def field_path(loc: Sequence[int | str], top: str = "") -> str:
    """``('hosts', 0, 'port')`` -> ``hosts.0.port``; ``top`` when the error is about the
    whole value (an empty location)."""
    return ".".join(str(p) for p in loc) or top


def first_error(exc: ValidationError, top: str = "") -> tuple[str, str]:
    """(field path, message) of the first error in ``exc``; see :func:`field_path`."""
    err = exc.errors()[0]
    return field_path(err["loc"], top), err["msg"]
