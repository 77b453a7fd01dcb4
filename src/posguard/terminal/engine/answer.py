"""What an exchange with a host came to, as a verdict: the one classification of a link
failure or an answer, used by a sale (:class:`~posguard.terminal.engine.session.HostSession`)
and by the doctor's echo alike, so they always name the same catalog code.

>>> from posguard.common.errors import LinkError
>>> link_failure(LinkError("refused", code="NET.CONNECT_REFUSED", host="h", stage="connect"))
(<Status.NOT_SENT: 'not_sent'>, 'NET.CONNECT_REFUSED')
>>> link_failure(LinkError("no answer", code="NET.READ_TIMEOUT", host="h", stage="read"))
(<Status.NO_ANSWER: 'no_answer'>, 'NET.READ_TIMEOUT')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from posguard.common.errors import LinkError, MessageError
from posguard.iso8583.codec import Message, decode
from posguard.iso8583.fields import answer_mti
from posguard.iso8583.mac import MacAlgorithm, check_mac_bytes
from posguard.iso8583.response_codes import lookup
from posguard.iso8583.spec import MessageSpec
from posguard.terminal.link.channel import maybe_delivered

FORMAT_ERROR = "TXN.FORMAT_ERROR"
MAC_ERROR = "TXN.MAC_ERROR"


class Status(StrEnum):
    OK = "ok"  # a matching, authentic answer (whatever its response code)
    NOT_SENT = "not_sent"  # no host took the request
    NO_ANSWER = "no_answer"  # sent (maybe), no whole answer: timeout, reset
    BAD_ANSWER = "bad_answer"  # garbage frame, undecodable, or not the answer to this request
    BAD_MAC = "bad_mac"  # the answer's MAC does not verify


@dataclass(frozen=True, slots=True)
class Checked:
    """An answer read against its request: its status, the decoded answer (when it
    decoded), the catalog code of a failure or of a non-``00`` response code, and what was
    wrong (for the fault event; empty when nothing was)."""

    status: Status
    answer: Message | None
    code: str | None
    problem: str = ""


def link_failure(exc: LinkError | MessageError) -> tuple[Status, str]:
    """The status and code of an exchange that ended in ``exc``: a link error keeps its NET.*
    code (not sent when it failed before the request left); a frame that is not a frame of
    this profile (a garbage length header) is a bad answer, TXN.FORMAT_ERROR."""
    if isinstance(exc, LinkError):
        status = Status.NO_ANSWER if maybe_delivered(exc) else Status.NOT_SENT
        return status, exc.code or "NET.CONNECTION_RESET"
    return Status.BAD_ANSWER, FORMAT_ERROR


def mismatch(request: Message, answer: Message) -> str:
    """Why ``answer`` is not the answer to ``request`` (MTI, STAN, terminal ID, a response
    code present); empty when it is."""
    sent = str(request["t"])
    want = answer_mti(sent)
    if answer.get("t") != want:
        return f"answer MTI {answer.get('t')!r} to a {sent} (expected {want})"
    for key in ("11", "41"):
        if key in answer and answer.get(key) != request.get(key):
            return f"answer field {key} does not match the request"
    if "39" not in answer:
        return "answer without a response code (field 39)"
    return ""


def check_answer(
    spec: MessageSpec,
    request: Message,
    payload: bytes,
    *,
    mac_alg: MacAlgorithm,
    mac_key: bytes | None,
) -> Checked:
    """Decode ``payload``, match it to ``request`` and, with ``mac_key``, verify its MAC
    (required on an answer that carries one and on every approved-class answer)."""
    try:
        answer = decode(spec, payload)
    except MessageError as exc:
        return Checked(Status.BAD_ANSWER, None, FORMAT_ERROR, exc.message)
    wrong = mismatch(request, answer)
    if wrong:
        return Checked(Status.BAD_ANSWER, answer, FORMAT_ERROR, wrong)
    rc = answer.get("39")
    if (
        mac_key is not None
        and ("64" in answer or (isinstance(rc, str) and lookup(rc).approved))
        and not check_mac_bytes(spec, payload, mac_alg, mac_key)
    ):
        return Checked(Status.BAD_MAC, answer, MAC_ERROR, "the answer's MAC does not verify")
    if isinstance(rc, str) and rc != "00":
        return Checked(Status.OK, answer, lookup(rc).catalog_code)
    return Checked(Status.OK, answer, None)
