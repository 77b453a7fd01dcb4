"""The profile's message table (docs/iso8583-profile.md): MTI, field 3, 60.1 and 25 per kind.

>>> ROUTES[Kind.SALE]
Route(mti='0200', processing_code='000000', type_code='22', condition='00')
>>> response_mti("0400")
'0410'
"""

from __future__ import annotations

from typing import NamedTuple

from posguard.iso8583.fields import MessageTypeCode as T
from posguard.iso8583.fields import ProcessingCode as P
from posguard.iso8583.fields import answer_mti
from posguard.terminal.journal.records import Kind


class Route(NamedTuple):
    mti: str
    processing_code: str
    type_code: str
    condition: str


ROUTES: dict[Kind, Route] = {
    Kind.BALANCE: Route("0200", P.BALANCE, T.BALANCE, "00"),
    Kind.SALE: Route("0200", P.SALE, T.SALE, "00"),
    Kind.VOID: Route("0200", P.VOID, T.VOID, "00"),
    Kind.REFUND: Route("0220", P.REFUND, T.REFUND, "00"),
    Kind.PREAUTH: Route("0100", P.PRE_AUTH, T.PRE_AUTH, "06"),
    Kind.PREAUTH_VOID: Route("0100", P.PRE_AUTH_VOID, T.PRE_AUTH_VOID, "06"),
    Kind.COMPLETION: Route("0200", P.COMPLETION, T.COMPLETION, "06"),
    Kind.COMPLETION_VOID: Route("0200", P.COMPLETION_VOID, T.COMPLETION_VOID, "06"),
}


response_mti = answer_mti
"""The MTI of the answer to ``mti``: the one rule, :func:`posguard.iso8583.fields.answer_mti`."""
