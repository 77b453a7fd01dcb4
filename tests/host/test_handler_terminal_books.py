"""The handler learns a terminal's keys and open batch only through its ``TerminalBooks``
(issue 21: no reaching into the ledger): the batch a sign-on answers is the one the books give,
and a card request the books refuse for its batch is answered 77 and decided by nobody."""

from __future__ import annotations

from posguard.host.handler import HostHandler
from posguard.host.issuer import Issuer
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger, Terminal
from posguard.host.seed import default_seed
from posguard.host.testing import HostClient
from posguard.iso8583.codec import decode
from posguard.iso8583.fields import MessageTypeCode, NetworkCode
from posguard.iso8583.keys import unwrap_working_keys
from posguard.iso8583.spec import load_spec

SPEC = load_spec("iso87ascii")


class _Books:
    """Terminal books that say what the test wants and remember what was asked."""

    def __init__(self, ledger: Ledger, open_batch: str, refusal: str | None) -> None:
        self._ledger = ledger
        self.open_batch = open_batch
        self.refusal = refusal
        self.asked: list[tuple[str, ...]] = []

    def terminal(self, tid: str) -> Terminal | None:
        self.asked.append(("terminal", tid))
        return self._ledger.terminal(tid)

    def batch_refusal(self, tid: str, mti: str, batch: str) -> str | None:
        self.asked.append(("refusal", tid, mti, batch))
        return self.refusal

    def batch_at_sign_on(self, tid: str, offered: str) -> str:
        self.asked.append(("sign-on", tid, offered))
        return self.open_batch


def _signed_on(refusal: str | None) -> tuple[HostHandler, HostClient, _Books, Ledger]:
    seed = default_seed()
    ledger = Ledger.open(":memory:")
    ledger.load_seed(seed)
    books = _Books(ledger, "000042", refusal)
    handler = HostHandler(SPEC, Issuer(ledger), HostJournal.open(":memory:"), books)
    c = HostClient(0, seed=seed)
    sign_on = c.base("0800", MessageTypeCode.ADMIN, NetworkCode.SIGN_ON)
    answer = handler.handle(c.pack(sign_on, mac=False), "test").answer
    assert answer is not None
    msg = decode(SPEC, answer)
    assert msg["39"] == "00"
    assert str(msg["60"])[2:8] == "000042"
    keys = unwrap_working_keys(c.tmk, msg["62"])  # type: ignore[arg-type]
    c.pin_key, c.mac_key, c.batch = keys.pin_key, keys.mac_key, "000042"
    return handler, c, books, ledger


def test_sign_on_answers_the_books_open_batch() -> None:
    _handler, c, books, _ledger = _signed_on(None)
    assert ("sign-on", c.tid, "000001") in books.asked
    assert ("terminal", c.tid) in books.asked


def test_a_sale_the_books_refuse_for_its_batch_is_77_and_not_booked() -> None:
    handler, c, books, ledger = _signed_on("batch 000042 is closed: sign on again")
    pan = default_seed().cards[0].pan
    result = handler.handle(c.pack(c.sale_msg(pan, 500)), "test")
    assert result.answer is not None
    assert decode(SPEC, result.answer)["39"] == "77"
    assert result.entry.decision == "batch 000042 is closed: sign on again"
    assert ("refusal", c.tid, "0200", "000042") in books.asked
    assert ledger.transactions(c.tid) == []
