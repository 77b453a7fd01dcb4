"""Pieces for fleet tests and benchmarks: argon2 at its cheapest, and a throw-away
PostgreSQL schema.

>>> from posguard.fleet.security import hash_password
>>> with cheap_password_hashing():
...     "m=8,t=1,p=1" in hash_password("secret")
True
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from argon2 import PasswordHasher
from sqlalchemy import text

from posguard.fleet.db.engine import make_engine
from posguard.fleet.security import use_password_hasher

__all__ = ["cheap_password_hashing", "scratch_pg_schema"]


@contextlib.contextmanager
def cheap_password_hashing() -> Iterator[None]:
    """argon2 at its minimum cost inside the block (the real cost is for production, not for
    CI minutes); the previous hasher comes back afterwards."""
    previous = use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        yield
    finally:
        use_password_hasher(previous)


@contextlib.contextmanager
def scratch_pg_schema(postgres_url: str, prefix: str) -> Iterator[str]:
    """A fresh schema ``<prefix>_<random>`` in the PostgreSQL database at ``postgres_url``:
    yields a URL whose connections work in it (``search_path``); afterwards the schema and
    everything in it is dropped. Dispose engines made from the URL before the block ends."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in postgres_url else "?"
        try:
            yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
