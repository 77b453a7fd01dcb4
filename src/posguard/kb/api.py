"""HTTP routes of the knowledge base, as a FastAPI ``APIRouter`` (prefix ``/api/v1/kb``,
carried by the router as the fleet's routers do) that the fleet service includes:

- ``GET  /search?q=...&limit=5&lang=zh`` → ranking with scores and why each matched
- ``POST /search`` ``{q, limit, lang}``   → the same, for complaints too long for a URL
- ``GET  /entries/{code}?lang=zh``       → one runbook
- ``POST /walk``                         → start a guided walk (``code`` or ``query``)
- ``GET  /walk/{session_id}``            → where a walk stands
- ``POST /walk/{session_id}``            → answer the current step

Walk sessions live in a :class:`SessionStore` (memory, TTL, size cap); the state is plain
data, so another store can take its place. Check runners are injected by whoever mounts
the router (the fleet wires its own ``fleet.*`` checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from posguard.kb.search import MAX_LIMIT, KnowledgeBase
from posguard.kb.sessions import SessionStore
from posguard.kb.wizard import Answer, CheckRunner, Wizard, WizardError

MAX_QUERY_BYTES = 100_000
PREFIX = "/api/v1/kb"


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(max_length=MAX_QUERY_BYTES)
    limit: int = Field(default=5, ge=1, le=MAX_LIMIT)
    lang: str | None = Field(default=None, pattern=r"^(zh|en)(-[A-Za-z]{2,4})?$")


class WalkStart(BaseModel):
    """Start a walk by catalog code, or by a complaint (its best search hit is walked)."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, max_length=60)
    query: str | None = Field(default=None, max_length=MAX_QUERY_BYTES)
    terminal_id: str | None = Field(default=None, max_length=64)
    lang: str = Field(default="zh", pattern=r"^(zh|en)(-[A-Za-z]{2,4})?$")

    @model_validator(mode="after")
    def _one_of(self) -> WalkStart:
        if (self.code is None) == (self.query is None):
            raise ValueError("give exactly one of code or query")
        return self


class WalkAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Answer
    note: str = Field(default="", max_length=500)


def make_router(
    *,
    prefix: str = PREFIX,
    runners: Mapping[str, CheckRunner] | None = None,
    store: SessionStore | None = None,
    kb: Callable[[], KnowledgeBase] = KnowledgeBase.default,
) -> APIRouter:
    """The knowledge-base router. ``kb`` is called on first use, so mounting is cheap."""
    router = APIRouter(prefix=prefix, tags=["knowledge base"])
    sessions = store if store is not None else SessionStore()  # an empty store is falsy
    checks = dict(runners or {})

    @router.get("/search")
    def search(
        q: Annotated[str, Query(max_length=MAX_QUERY_BYTES, description="the complaint")],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 5,
        lang: Annotated[str | None, Query(pattern=r"^(zh|en)(-[A-Za-z]{2,4})?$")] = None,
    ) -> dict[str, Any]:
        return kb().search(q, limit=limit, lang=lang).to_dict()

    @router.post("/search")
    def search_post(body: SearchQuery) -> dict[str, Any]:
        """The same search, for long complaints that do not fit in a URL."""
        return kb().search(body.q, limit=body.limit, lang=body.lang).to_dict()

    @router.get("/entries/{code}")
    def entry(code: str, lang: Annotated[str, Query(pattern=r"^(zh|en)")] = "zh") -> dict[str, Any]:
        e = kb().catalog.get(code.upper())
        if e is None:
            raise HTTPException(404, f"unknown catalog code {code!r}")
        return {
            "code": e.code,
            "title": e.title.get(lang),
            "category": e.category.value,
            "severity": e.severity.value,
            "auto": e.auto.get(lang),
            "steps": [{"text": s.get(lang), "check": s.check} for s in e.steps],
        }

    @router.post("/walk", status_code=201)
    def walk_start(body: WalkStart) -> dict[str, Any]:
        base = kb()
        code = body.code
        if code is None:
            found = base.search(body.query or "", limit=1, lang=body.lang)
            if not found.hits:
                raise HTTPException(404, f"no runbook matches this query: {found.reason}")
            code = found.hits[0].code
        if code.upper() not in base.catalog:
            raise HTTPException(404, f"unknown catalog code {code!r}")
        wizard = Wizard.start(
            code, terminal_id=body.terminal_id, lang=body.lang, runners=checks, catalog=base.catalog
        )
        sessions.put(wizard.state)
        return wizard.prompt()

    def _load(session_id: str) -> Wizard:
        state = sessions.get(session_id)
        if state is None:
            raise HTTPException(404, "unknown or expired walk session")
        return Wizard.resume(state, runners=checks, catalog=kb().catalog)

    @router.get("/walk/{session_id}")
    def walk_show(session_id: str) -> dict[str, Any]:
        return _load(session_id).prompt()

    @router.post("/walk/{session_id}")
    def walk_answer(session_id: str, body: WalkAnswer) -> dict[str, Any]:
        wizard = _load(session_id)
        try:
            wizard.answer(body.answer, body.note)
        except WizardError as exc:
            raise HTTPException(409, exc.message) from exc
        sessions.put(wizard.state)
        return wizard.prompt()

    return router


router = make_router()
"""The router with no machine checks wired (every step is asked); the fleet builds its
own with :func:`make_router` and its runners."""
