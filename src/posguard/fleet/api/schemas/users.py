"""User and token schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from posguard.fleet.repo.users import Role


class UserBase(BaseModel):
    username: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{2,64}$")]
    role: Role
    merchant_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")] | None = None


class UserCreate(UserBase):
    password: Annotated[str, Field(min_length=10, max_length=200)]


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)

    disabled: bool
    created_at: datetime


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
