"""The context a transaction carries through its participants, and why it failed if it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from posguard.iso8583.codec import Message
from posguard.terminal.journal.records import Kind, Record
from posguard.terminal.result import Outcome


class Failure(StrEnum):
    """Why a flow left its happy path; decides how the journal record is resolved."""

    LOCAL = "local"  # refused by a local check: nothing written, nothing sent
    NOT_SENT = "not_sent"  # no host reachable before the request left: no charge
    BACKLOG = "backlog"  # an earlier reversal is still unacknowledged: nothing sent
    DECLINED = "declined"  # the host declined: nothing to undo
    NO_ANSWER = "no_answer"  # request may have arrived, answer lost: reversal 98
    BAD_MAC = "bad_mac"  # the answer's MAC failed: reversal A0
    BAD_ANSWER = "bad_answer"  # undecodable / mismatched answer, or host says reverse: 06
    NOT_COMPLETED = "not_completed"  # approved but the terminal could not finish (or a partial
    # approval it does not accept): 96


REVERSAL_REASON: dict[Failure, str] = {
    Failure.NO_ANSWER: "98",
    Failure.BAD_MAC: "A0",
    Failure.BAD_ANSWER: "06",
    Failure.NOT_COMPLETED: "96",
}


@dataclass
class TxnInput:
    """What the POS application asked for. Card data is never shown by ``repr``."""

    kind: Kind
    amount: int
    pan: str = field(repr=False)
    expiry: str = field(repr=False)
    entry_mode: str = "051"
    orig: Record | None = None
    pin_block: bytes | None = field(default=None, repr=False)  # from a PIN pad, encrypted
    training: bool = False  # a practice transaction (training mode): never moves money

    @property
    def has_pin(self) -> bool:
        """A PIN goes with this request (follow-ups never carry one)."""
        return self.orig is None and self.pin_block is not None


@dataclass
class Context:
    input: TxnInput
    record: Record | None = None
    request: Message | None = field(default=None, repr=False)
    answer: Message | None = field(default=None, repr=False)
    host: str | None = None
    rc: str | None = None
    code: str | None = None
    failure: Failure | None = None
    outcome: Outcome | None = None
    balance: int | None = None
    approved_amount: int | None = None  # a partial approval's field 4
    reverse_in_background: bool = False  # the operator is answered first (no answer in time)
    # 77 / 99 / A0 in field 39: sign on again once the record is resolved (declined), so the
    # batch the host assigns in the 0810 can be taken (a batch holding a transaction in
    # flight cannot be renumbered)
    sign_on_again: bool = False
    notes: list[str] = field(default_factory=list)

    def fail(self, failure: Failure, code: str | None, rc: str | None = None) -> None:
        self.failure = failure
        self.code = code
        if rc is not None:
            self.rc = rc
