"""Printer profiles as data (``data/profiles.yaml``) and wrong-profile detection.

A profile says what the renderer may assume: paper width in columns, the code page
(GBK Chinese mode or single-byte PC437) and the cutter. A printer that identifies
itself (GS I 1 model id, GS I 67 model name) as a model the profile does not list, whose
model is known with another width, or whose type (GS I 2: bit 0 two-byte fonts, bit 1
auto-cutter) lacks what the profile uses, is a *wrong profile*: receipts would come out
garbled or cut short, so it is reported as ``PRN.WRONG_PROFILE``.

>>> p = load_profile("generic-58-gbk")
>>> (p.columns, p.codepage, p.cutter)
(32, 'gbk', 'none')
>>> check_profile(load_profile("gprinter-gp58"), PrinterIdentity(model_name="TM-T88V")).matches
False
>>> check_profile(load_profile("gprinter-gp58"), PrinterIdentity(model_name="GP-58")).matches
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from posguard.common.errors import ConfigError
from posguard.common.validation import first_error

PROFILES_FILE = Path(str(files("posguard.terminal.printer") / "data" / "profiles.yaml"))
WRONG_PROFILE = "PRN.WRONG_PROFILE"


class PrinterProfile(BaseModel):
    """What one printer model can do, as far as a receipt is concerned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    paper_mm: Literal[58, 80]
    columns: Annotated[int, Field(ge=24, le=64)]
    codepage: Literal["gbk", "cp437"]
    cutter: Literal["full", "partial", "none"]
    model_names: tuple[str, ...] = ()
    model_ids: tuple[Annotated[int, Field(ge=0, le=255)], ...] = ()

    @model_validator(mode="after")
    def _width_fits_paper(self) -> PrinterProfile:
        limit = 36 if self.paper_mm == 58 else 64
        if self.columns > limit:
            raise ValueError(f"{self.columns} columns do not fit {self.paper_mm} mm paper")
        return self

    @property
    def encoding(self) -> str:
        """The Python codec of the printer's character set."""
        return "gbk" if self.codepage == "gbk" else "cp437"

    @property
    def chinese(self) -> bool:
        return self.codepage == "gbk"


@dataclass(frozen=True, slots=True)
class PrinterIdentity:
    """What a printer said about itself (GS I); ``None`` where it did not answer."""

    model_id: int | None = None
    model_name: str | None = None
    manufacturer: str | None = None
    type_id: int | None = None  # GS I 2: bit 0 two-byte (Chinese) fonts, bit 1 auto-cutter

    @property
    def known(self) -> bool:
        return self.model_id is not None or self.model_name is not None or self.type_id is not None

    @property
    def double_byte(self) -> bool | None:
        return None if self.type_id is None else bool(self.type_id & 0x01)

    @property
    def autocutter(self) -> bool | None:
        return None if self.type_id is None else bool(self.type_id & 0x02)


@dataclass(frozen=True, slots=True)
class ProfileCheck:
    """The outcome of comparing a profile with a printer's identity."""

    matches: bool
    detail: str
    code: str | None = None  # PRN.WRONG_PROFILE when it does not match


def load_profiles(path: Path = PROFILES_FILE) -> Mapping[str, PrinterProfile]:
    """All profiles in ``path`` by name; errors name the file, the entry and the field."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read printer profiles {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"printer profiles {path} must hold a list of profiles")
    out: dict[str, PrinterProfile] = {}
    for i, item in enumerate(raw, start=1):
        try:
            prof = PrinterProfile.model_validate(item)
        except ValidationError as exc:
            where, msg = first_error(exc, "(profile)")
            raise ConfigError(
                f"printer profiles {path.name}: entry {i}: field '{where}': {msg}"
            ) from exc
        if prof.name in out:
            raise ConfigError(
                f"printer profiles {path.name}: entry {i}: name {prof.name!r} repeats"
            )
        out[prof.name] = prof
    return out


@cache
def _default_profiles() -> Mapping[str, PrinterProfile]:
    return load_profiles()


def load_profile(name: str) -> PrinterProfile:
    """One shipped profile by name; a ConfigError lists the known names."""
    profiles = _default_profiles()
    try:
        return profiles[name]
    except KeyError:
        raise ConfigError(
            f"unknown printer profile {name!r}; known: {', '.join(sorted(profiles))}"
        ) from None


def check_profile(profile: PrinterProfile, identity: PrinterIdentity) -> ProfileCheck:
    """Compare what the profile expects with what the printer says it is.

    A printer that does not identify itself cannot be checked this way (``matches``
    stays True, the detail says so). A printer that names a model the profile does not
    list is a wrong profile; so is one that another shipped profile knows with another
    width or code page (the classic 58 mm profile on an 80 mm printer, or a GBK profile
    on a printer without Chinese fonts).
    """
    if not identity.known:
        return ProfileCheck(True, "printer did not identify itself (GS I); not checked")
    if profile.chinese and identity.double_byte is False:
        return ProfileCheck(
            False,
            f"profile {profile.name} prints Chinese (GBK) but the printer has no two-byte fonts",
            WRONG_PROFILE,
        )
    if profile.cutter != "none" and identity.autocutter is False:
        return ProfileCheck(
            False,
            f"profile {profile.name} cuts the paper but the printer has no auto-cutter",
            WRONG_PROFILE,
        )
    if identity.model_name is not None and profile.model_names:
        if identity.model_name not in profile.model_names:
            return ProfileCheck(
                False,
                f"printer is {identity.model_name}, profile {profile.name} is for "
                f"{', '.join(profile.model_names)}",
                WRONG_PROFILE,
            )
        return ProfileCheck(True, f"printer model {identity.model_name} matches {profile.name}")
    if (
        identity.model_id is not None
        and profile.model_ids
        and identity.model_id not in profile.model_ids
    ):
        return ProfileCheck(
            False,
            f"printer model id 0x{identity.model_id:02X} is not one of profile {profile.name}'s",
            WRONG_PROFILE,
        )
    if identity.model_name is not None:
        for other in _default_profiles().values():
            if identity.model_name in other.model_names and (
                other.columns != profile.columns or other.paper_mm != profile.paper_mm
            ):
                return ProfileCheck(
                    False,
                    f"printer {identity.model_name} prints {other.columns} columns on "
                    f"{other.paper_mm} mm paper, profile {profile.name} assumes {profile.columns}",
                    WRONG_PROFILE,
                )
    return ProfileCheck(True, f"printer identity does not contradict profile {profile.name}")
