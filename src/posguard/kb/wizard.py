"""The guided wizard: walk one catalog entry's steps, let machine checks choose the way,
and end either solved or with an escalation record a person can act on at once.

A pure state machine. Its whole state (:class:`WizardState`) is a JSON-serialisable
pydantic model, so a session can live in memory, in a database row, or cross an API.
Machine checks are *injected* as a mapping ``check id → runner``; the knowledge base never
imports the terminal or the fleet. For each step:

- the step names a check with a runner: run it. ``pass``/``warn`` → the fault is not
  here, skip ahead; ``fail`` → ask the person to do this step (with the check's finding);
  ``unavailable`` (or the runner broke) → ask the person to do the step by hand;
- the step names no check, or there is no runner: ask the person;
- the person answers ``solved`` (done, and it works), ``not_solved`` (done, still
  broken), ``cant`` (cannot do this step) or ``escalate`` (hand over now).

Steps are numbered 1..N in everything a person sees: the prompt, the check and answer
records and the hand-over record (``step``). Only the state's cursor ``step_index`` counts
from 0.

>>> from posguard.catalog.checks import CheckResult
>>> runners = {"printer.status": lambda req: CheckOutcome(CheckResult.FAIL, "PRN.PAPER_OUT")}
>>> w = Wizard.start("PRN.PAPER_OUT", runners=runners, catalog=_demo_catalog())
>>> w.state.status.value, w.state.step_index, w.state.checks[0].step, w.state.checks[0].result.value
('asking', 0, 1, 'fail')
>>> w.answer(Answer.SOLVED).status.value
'solved'
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from posguard.catalog.checks import CHECKS, CheckResult
from posguard.catalog.loader import Catalog, default_catalog
from posguard.catalog.model import Entry, Step
from posguard.common.errors import PosguardError

MAX_DETAIL = 500


class WizardError(PosguardError):
    """The wizard was driven wrongly: unknown code, answer after the end, bad state."""


class Status(StrEnum):
    ASKING = "asking"  # waiting for the person to do the current step and answer
    SOLVED = "solved"
    ESCALATED = "escalated"

    @property
    def finished(self) -> bool:
        return self is not Status.ASKING


class Answer(StrEnum):
    SOLVED = "solved"  # done, and the problem is gone
    NOT_SOLVED = "not_solved"  # done, the problem is still there
    CANT = "cant"  # cannot do this step
    ESCALATE = "escalate"  # stop here and hand over to a person


@dataclass(frozen=True, slots=True)
class CheckRequest:
    """What a check runner is asked: which check, for which fault and terminal."""

    check_id: str
    code: str
    terminal_id: str | None


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What a check runner answers; ``detail`` is shown to the person and kept."""

    result: CheckResult
    detail: str = ""


CheckRunner = Callable[[CheckRequest], CheckOutcome]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckRecord(_Model):
    step: int = Field(ge=1)  # the step's number, 1..N
    check: str
    result: CheckResult
    detail: str = ""
    at: datetime


class AnswerRecord(_Model):
    step: int = Field(ge=1)  # the step's number, 1..N
    answer: Answer
    note: str = ""
    at: datetime


class WizardState(_Model):
    """Everything about one walk; round-trips through JSON (``model_dump_json``)."""

    session_id: str
    code: str
    terminal_id: str | None = None
    lang: str = "zh"
    step_index: int = Field(ge=0)
    status: Status
    checks: tuple[CheckRecord, ...] = ()
    answers: tuple[AnswerRecord, ...] = ()
    started_at: datetime
    ended_at: datetime | None = None
    reason: str | None = None


class StepOutcome(_Model):
    """One step reached in the walk, as the hand-over reads it: how it was answered
    (``check``: a machine check answered it; ``person``: the person did, including "can't
    do it") and what the check found."""

    step: int = Field(ge=1)
    text: str
    answered_by: Literal["check", "person"]
    check: str | None = None
    check_result: CheckResult | None = None
    check_detail: str = ""
    answer: Answer | None = None
    note: str = ""


class Escalation(_Model):
    """The hand-over to a person: what the fault is, what was tried, what the checks saw."""

    session_id: str
    code: str
    title: str
    terminal_id: str | None
    reason: str
    steps: tuple[StepOutcome, ...] = ()
    answers: tuple[AnswerRecord, ...]
    checks: tuple[CheckRecord, ...]
    started_at: datetime
    ended_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class Wizard:
    """Drive one :class:`WizardState` through an entry's steps."""

    def __init__(
        self,
        state: WizardState,
        *,
        runners: Mapping[str, CheckRunner] | None = None,
        catalog: Catalog | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.catalog = catalog if catalog is not None else default_catalog()
        if state.code not in self.catalog:
            raise WizardError(f"unknown catalog code {state.code!r}")
        self.entry: Entry = self.catalog[state.code]
        if state.step_index > len(self.entry.steps):
            raise WizardError(
                f"step {state.step_index} is past the last step of {state.code}",
                session=state.session_id,
            )
        self.runners: Mapping[str, CheckRunner] = dict(runners or {})
        self.clock = clock
        self.state = state

    @classmethod
    def start(
        cls,
        code: str,
        *,
        terminal_id: str | None = None,
        lang: str = "zh",
        runners: Mapping[str, CheckRunner] | None = None,
        catalog: Catalog | None = None,
        clock: Callable[[], datetime] = _now,
        session_id: str | None = None,
    ) -> Wizard:
        """Begin a walk of ``code``'s steps, running machine checks until a step needs
        the person (or every step's check passed)."""
        state = WizardState(
            session_id=session_id or uuid.uuid4().hex,
            code=code.strip().upper(),
            terminal_id=terminal_id,
            lang="zh" if lang.lower().startswith("zh") else "en",
            step_index=0,
            status=Status.ASKING,
            started_at=clock(),
        )
        wizard = cls(state, runners=runners, catalog=catalog, clock=clock)
        wizard._advance()
        return wizard

    @classmethod
    def resume(
        cls,
        state: WizardState | Mapping[str, Any] | str,
        *,
        runners: Mapping[str, CheckRunner] | None = None,
        catalog: Catalog | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> Wizard:
        """Continue a walk from a saved state (a model, its dict, or its JSON)."""
        if isinstance(state, str):
            state = WizardState.model_validate_json(state)
        elif not isinstance(state, WizardState):
            state = WizardState.model_validate(state)
        return cls(state, runners=runners, catalog=catalog, clock=clock)

    # -- the person's side -------------------------------------------------------------

    @property
    def current_step(self) -> Step | None:
        """The step the person is asked to do, or None when the walk is over."""
        if self.state.status.finished or self.state.step_index >= len(self.entry.steps):
            return None
        return self.entry.steps[self.state.step_index]

    def prompt(self) -> dict[str, Any]:
        """What to show now, in the walk's language: the step, and what its check found."""
        s = self.state
        out: dict[str, Any] = {
            "session_id": s.session_id,
            "code": s.code,
            "title": self.entry.title.get(s.lang),
            "status": s.status.value,
            "step": None,
        }
        step = self.current_step
        if step is not None:
            out["step"] = {
                "number": s.step_index + 1,
                "of": len(self.entry.steps),
                "text": step.get(s.lang),
                "check": self._check_view(s.step_index),
                "answers": [a.value for a in Answer],
            }
        if s.status is Status.ESCALATED:
            out["escalation"] = self.escalation().model_dump(mode="json")
        if s.reason:
            out["reason"] = s.reason
        return out

    def _check_view(self, step: int) -> dict[str, Any] | None:
        rec = next((c for c in reversed(self.state.checks) if c.step == step + 1), None)
        if rec is None:
            return None
        meaning = CHECKS[rec.check].meaning(rec.result) if rec.check in CHECKS else None
        return {
            "id": rec.check,
            "result": rec.result.value,
            "detail": rec.detail,
            "meaning": meaning.get(self.state.lang) if meaning else None,
        }

    def answer(self, answer: Answer | str, note: str = "") -> WizardState:
        """Record the person's answer to the current step and move on."""
        s = self.state
        if s.status.finished:
            raise WizardError(
                f"the walk is already {s.status.value}; start a new one", session=s.session_id
            )
        try:
            given = Answer(answer)
        except ValueError as exc:
            choices = ", ".join(a.value for a in Answer)
            raise WizardError(f"unknown answer {answer!r}; use one of {choices}") from exc
        rec = AnswerRecord(
            step=s.step_index + 1, answer=given, note=note[:MAX_DETAIL], at=self.clock()
        )
        s = s.model_copy(update={"answers": (*s.answers, rec)})
        if given is Answer.SOLVED:
            self.state = s.model_copy(update={"status": Status.SOLVED, "ended_at": self.clock()})
            return self.state
        if given is Answer.ESCALATE:
            self.state = self._escalated(s, "asked for a person")
            return self.state
        self.state = s.model_copy(update={"step_index": s.step_index + 1})
        self._advance()
        return self.state

    def escalation(self) -> Escalation:
        """The hand-over record; only once the walk ended escalated."""
        s = self.state
        if s.status is not Status.ESCALATED or s.ended_at is None:
            raise WizardError(f"the walk is {s.status.value}, not escalated", session=s.session_id)
        return Escalation(
            session_id=s.session_id,
            code=s.code,
            title=self.entry.title.get(s.lang),
            terminal_id=s.terminal_id,
            reason=s.reason or "",
            steps=self.step_outcomes(),
            answers=s.answers,
            checks=s.checks,
            started_at=s.started_at,
            ended_at=s.ended_at,
        )

    def step_outcomes(self) -> tuple[StepOutcome, ...]:
        """Every step reached so far, in order, with how it was answered."""
        s = self.state
        out: list[StepOutcome] = []
        for number, step in enumerate(self.entry.steps, start=1):
            check = next((c for c in reversed(s.checks) if c.step == number), None)
            answer = next((a for a in reversed(s.answers) if a.step == number), None)
            if check is None and answer is None:
                continue
            if answer is None and not (check is not None and check.result.passed):
                continue  # the step being asked now: not answered yet
            out.append(
                StepOutcome(
                    step=number,
                    text=step.get(s.lang),
                    answered_by="person" if answer is not None else "check",
                    check=check.check if check else None,
                    check_result=check.result if check else None,
                    check_detail=check.detail if check else "",
                    answer=answer.answer if answer else None,
                    note=answer.note if answer else "",
                )
            )
        return tuple(out)

    # -- the machine's side ------------------------------------------------------------

    def _escalated(self, s: WizardState, reason: str) -> WizardState:
        return s.model_copy(
            update={"status": Status.ESCALATED, "ended_at": self.clock(), "reason": reason}
        )

    def _advance(self) -> None:
        """Run checks from the current step on; stop at the first step that needs the
        person, or escalate when no step is left."""
        s = self.state
        steps = self.entry.steps
        while s.step_index < len(steps):
            step = steps[s.step_index]
            runner = self.runners.get(step.check) if step.check else None
            if step.check is None or runner is None:
                break
            outcome = self._run(step.check, runner)
            rec = CheckRecord(
                step=s.step_index + 1,
                check=step.check,
                result=outcome.result,
                detail=outcome.detail[:MAX_DETAIL],
                at=self.clock(),
            )
            s = s.model_copy(update={"checks": (*s.checks, rec)})
            if not outcome.result.passed:
                break  # fail: this step's action applies; unavailable: do it by hand
            s = s.model_copy(update={"step_index": s.step_index + 1})
        if s.step_index >= len(steps):
            s = self._escalated(s, _out_of_steps_reason(s.answers))
        self.state = s

    def _run(self, check_id: str, runner: CheckRunner) -> CheckOutcome:
        request = CheckRequest(check_id, self.state.code, self.state.terminal_id)
        try:
            outcome = runner(request)
        except Exception as exc:  # a broken check must not break the walk: do it by hand
            return CheckOutcome(CheckResult.UNAVAILABLE, f"check failed to run: {exc!r}")
        if not isinstance(outcome, CheckOutcome):
            return CheckOutcome(CheckResult.UNAVAILABLE, f"check returned {type(outcome).__name__}")
        return outcome


def _numbers(steps: list[int]) -> str:
    return ", ".join(str(n) for n in steps)


def _out_of_steps_reason(answers: tuple[AnswerRecord, ...]) -> str:
    """Why a walk that ran out of steps is handed over; steps the person could not do are
    named as such, never counted as done.

    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> _out_of_steps_reason((AnswerRecord(step=1, answer=Answer.NOT_SOLVED, at=at),
    ...                       AnswerRecord(step=2, answer=Answer.CANT, at=at)))
    'steps done, still not solved; step 2 could not be done here'
    """
    cant = [a.step for a in answers if a.answer is Answer.CANT]
    done = [a.step for a in answers if a.answer is Answer.NOT_SOLVED]
    if not done:
        return "no step could solve it here" + (
            f" (could not do step {_numbers(cant)})" if cant else ""
        )
    if not cant:
        return "steps done, still not solved"
    return f"steps done, still not solved; step {_numbers(cant)} could not be done here"


def _demo_catalog() -> Catalog:
    """A one-entry catalog for this module's examples (independent of the shipped data)."""
    from posguard.catalog.model import Text

    entry = Entry.model_validate(
        {
            "code": "PRN.PAPER_OUT",
            "category": "hardware",
            "severity": "minor",
            "audience": ["merchant"],
            "auto": Text(
                zh="收据排队，装纸后自动补打。", en="Receipts queue and print after reload."
            ),
            "title": {"zh": "打印机缺纸", "en": "Printer out of paper"},
            "symptoms": {"zh": ["不出纸"], "en": ["no paper"]},
            "steps": [
                {"zh": "装一卷新纸。", "en": "Load a new roll.", "check": "printer.status"},
                {"zh": "打印测试页。", "en": "Print a test slip.", "check": "printer.test_print"},
            ],
        }
    )
    return Catalog([entry])
