"""Read a YAML/JSON data file and validate it into a pydantic model, naming file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from posguard.common.validation import first_error
from posguard.merchant.errors import MerchantDataError

M = TypeVar("M", bound=BaseModel)


def read_mapping(path: Path) -> Any:
    """Parse ``path`` as JSON (``.json``) or YAML (anything else)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MerchantDataError(f"cannot read {path}: {exc}", file=str(path)) from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise MerchantDataError(f"{path.name}: not valid JSON/YAML: {exc}", file=str(path)) from exc


def describe(exc: ValidationError) -> str:
    """One line naming the first bad field: ``field 'rates.debit.percent': ...``."""
    where, msg = first_error(exc, "(top level)")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"field '{where}': {msg}{more}"


def validate(model: type[M], raw: Any, *, source: str) -> M:
    """Validate ``raw`` into ``model``; a failure names ``source`` and the field only
    (pydantic's ``input_value`` is left out: it could be an ID number)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise MerchantDataError(f"{source}: {describe(exc)}", file=source) from exc


def load_model(model: type[M], path: Path) -> M:
    return validate(model, read_mapping(path), source=path.name)
