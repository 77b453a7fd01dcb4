"""The wizard state machine: checks choose the way, answers end it, records are complete."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from posguard.catalog.checks import CheckResult
from posguard.catalog.loader import Catalog
from posguard.kb.wizard import (
    Answer,
    CheckOutcome,
    CheckRequest,
    Status,
    Wizard,
    WizardError,
    WizardState,
)


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


class Fixed:
    """A check runner that always answers the same, and remembers what it was asked."""

    def __init__(self, result: CheckResult, detail: str = "") -> None:
        self.outcome = CheckOutcome(result, detail)
        self.calls: list[CheckRequest] = []

    def __call__(self, req: CheckRequest) -> CheckOutcome:
        self.calls.append(req)
        return self.outcome


def test_a_failing_check_asks_the_person_to_do_that_step(walk_catalog: Catalog) -> None:
    status = Fixed(CheckResult.FAIL, "PRN.PAPER_OUT")
    w = Wizard.start(
        "PRN.PAPER_OUT",
        terminal_id="T0001",
        lang="en",
        runners={"printer.status": status},
        catalog=walk_catalog,
    )
    assert w.state.status is Status.ASKING
    assert w.state.step_index == 0
    assert status.calls == [CheckRequest("printer.status", "PRN.PAPER_OUT", "T0001")]
    view = w.prompt()["step"]
    assert view["number"] == 1
    assert view["of"] == 3
    assert view["check"]["result"] == "fail"
    assert view["check"]["detail"] == "PRN.PAPER_OUT"
    assert "Out of paper" in view["check"]["meaning"]


def test_a_passing_check_skips_its_step(walk_catalog: Catalog) -> None:
    w = Wizard.start(
        "PRN.PAPER_OUT",
        runners={"printer.status": Fixed(CheckResult.PASS)},
        catalog=walk_catalog,
    )
    assert w.state.step_index == 1  # straight to "load a new roll"
    assert [c.result for c in w.state.checks] == [CheckResult.PASS]


def test_warn_counts_as_passed(walk_catalog: Catalog) -> None:
    w = Wizard.start(
        "PRN.PAPER_OUT",
        runners={"printer.status": Fixed(CheckResult.WARN, "paper low")},
        catalog=walk_catalog,
    )
    assert w.state.step_index == 1


def test_no_runner_or_unavailable_asks_the_person(walk_catalog: Catalog) -> None:
    assert Wizard.start("PRN.PAPER_OUT", catalog=walk_catalog).state.step_index == 0
    w = Wizard.start(
        "PRN.PAPER_OUT",
        runners={"printer.status": Fixed(CheckResult.UNAVAILABLE, "no access")},
        catalog=walk_catalog,
    )
    assert w.state.step_index == 0
    assert w.state.checks[0].result is CheckResult.UNAVAILABLE


def test_a_broken_runner_is_recorded_as_unavailable(walk_catalog: Catalog) -> None:
    def boom(req: CheckRequest) -> CheckOutcome:
        raise OSError("serial port gone")

    w = Wizard.start("PRN.PAPER_OUT", runners={"printer.status": boom}, catalog=walk_catalog)
    rec = w.state.checks[0]
    assert rec.result is CheckResult.UNAVAILABLE
    assert "serial port gone" in rec.detail
    assert w.state.status is Status.ASKING


def test_solved_ends_the_walk(walk_catalog: Catalog) -> None:
    w = Wizard.start("PRN.PAPER_OUT", catalog=walk_catalog)
    w.answer(Answer.NOT_SOLVED)
    state = w.answer("solved")
    assert state.status is Status.SOLVED
    assert [a.answer for a in state.answers] == [Answer.NOT_SOLVED, Answer.SOLVED]
    assert state.ended_at is not None
    with pytest.raises(WizardError, match="already solved"):
        w.answer(Answer.SOLVED)


def test_running_out_of_steps_escalates_with_everything(walk_catalog: Catalog) -> None:
    clock = Clock()
    test_print = Fixed(CheckResult.FAIL, "nothing came out")
    w = Wizard.start(
        "PRN.PAPER_OUT",
        terminal_id="T0042",
        runners={"printer.test_print": test_print},
        catalog=walk_catalog,
        clock=clock,
    )
    w.answer(Answer.NOT_SOLVED, "printer light is green")
    w.answer(Answer.CANT, "no spare roll")
    assert w.state.step_index == 2
    assert w.state.checks[-1].result is CheckResult.FAIL
    w.answer(Answer.NOT_SOLVED)
    assert w.state.status is Status.ESCALATED
    esc = json.loads(w.escalation().model_dump_json())
    assert esc["code"] == "PRN.PAPER_OUT"
    assert esc["terminal_id"] == "T0042"
    assert esc["reason"] == "steps done, still not solved; step 2 could not be done here"
    assert [(a["step"], a["answer"]) for a in esc["answers"]] == [
        (1, "not_solved"),
        (2, "cant"),
        (3, "not_solved"),
    ]
    assert [(s["step"], s["answered_by"], s["answer"]) for s in esc["steps"]] == [
        (1, "person", "not_solved"),
        (2, "person", "cant"),
        (3, "person", "not_solved"),
    ]
    assert esc["steps"][2]["check_result"] == "fail"
    assert esc["answers"][0]["note"] == "printer light is green"
    assert [(c["step"], c["check"], c["result"], c["detail"]) for c in esc["checks"]] == [
        (3, "printer.test_print", "fail", "nothing came out")
    ]
    assert esc["started_at"] < esc["ended_at"]


def test_every_check_passing_still_hands_over(walk_catalog: Catalog) -> None:
    ok = Fixed(CheckResult.PASS)
    runners = {"printer.status": ok, "printer.test_print": ok}
    w = Wizard.start("PRN.PAPER_OUT", runners=runners, catalog=walk_catalog)
    w.answer(Answer.CANT)  # step 2 has no check; after it the last check passes
    assert w.state.status is Status.ESCALATED
    assert w.state.reason == "no step could solve it here (could not do step 2)"
    steps = w.escalation().steps
    assert [(s.step, s.answered_by) for s in steps] == [(1, "check"), (2, "person"), (3, "check")]
    assert steps[1].answer is Answer.CANT


def test_escalate_hands_over_at_once(walk_catalog: Catalog) -> None:
    w = Wizard.start("PRN.PAPER_OUT", catalog=walk_catalog)
    w.answer(Answer.ESCALATE)
    assert w.escalation().reason == "asked for a person"


def test_state_round_trips_through_json_and_resumes(walk_catalog: Catalog) -> None:
    w = Wizard.start("PRN.PAPER_OUT", terminal_id="T1", catalog=walk_catalog)
    w.answer(Answer.NOT_SOLVED)
    saved = w.state.model_dump_json()
    again = Wizard.resume(saved, catalog=walk_catalog)
    assert again.state == WizardState.model_validate_json(saved)
    assert again.current_step is not None
    assert again.current_step.en == "Load a new roll."
    assert again.answer(Answer.SOLVED).status is Status.SOLVED


@pytest.mark.parametrize("bad", ["maybe", "", "SOLVED!"])
def test_unknown_answers_are_refused(walk_catalog: Catalog, bad: str) -> None:
    w = Wizard.start("PRN.PAPER_OUT", catalog=walk_catalog)
    with pytest.raises(WizardError, match="unknown answer"):
        w.answer(bad)
    assert w.state.answers == ()  # nothing half-recorded


def test_unknown_code_and_impossible_state_are_refused(walk_catalog: Catalog) -> None:
    with pytest.raises(WizardError, match="unknown catalog code"):
        Wizard.start("PRN.NOPE", catalog=walk_catalog)
    state = Wizard.start("PRN.PAPER_OUT", catalog=walk_catalog).state
    with pytest.raises(WizardError, match="past the last step"):
        Wizard.resume(state.model_copy(update={"step_index": 9}), catalog=walk_catalog)


def test_walks_every_shipped_entry_to_an_end() -> None:
    # Every catalog entry can be walked with no checks wired, in both languages.
    from posguard.catalog.loader import default_catalog

    for code, entry in default_catalog().items():
        for lang in ("zh", "en"):
            w = Wizard.start(code, lang=lang)
            for _ in entry.steps:
                if w.state.status.finished:
                    break
                assert w.prompt()["step"]["text"]
                w.answer(Answer.NOT_SOLVED)
            assert w.state.status is Status.ESCALATED, code
