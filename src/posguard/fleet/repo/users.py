"""Users of the API (admin, ops, merchant)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import User
from posguard.fleet.security import dummy_password_hash, hash_password, verify_password


class Role(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    MERCHANT = "merchant"


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    now: datetime,
    merchant_id: str | None = None,
) -> User:
    if (role is Role.MERCHANT) != (merchant_id is not None):
        raise ValueError("a merchant user needs a merchant_id, and only a merchant user has one")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        merchant_id=merchant_id,
        disabled=False,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The user when the password is right. An unknown or disabled user costs the same time as
    a wrong password (a dummy hash is verified), so timing does not tell who exists."""
    user = session.get(User, username)
    if user is None or user.disabled:
        verify_password(password, dummy_password_hash())
        return None
    if not verify_password(password, user.password_hash):
        return None
    return user


def get_user(session: Session, *, username: str) -> User | None:
    return session.get(User, username)


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def set_disabled(session: Session, *, username: str, disabled: bool) -> User | None:
    """Disable (every session ends at its next request) or enable a user; None: no such user."""
    user = session.get(User, username)
    if user is None:
        return None
    user.disabled = disabled
    session.flush()
    return user
