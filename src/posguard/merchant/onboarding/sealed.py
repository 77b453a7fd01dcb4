"""The at-rest form of an application: personal values sealed (AES-GCM), the rest plain.

Each ``number`` and ``name`` becomes a token bound to its document and field (so a sealed
account number cannot be swapped in as an ID number), next to its masked form for display.
Nothing in the sealed record is readable without the key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

from posguard.merchant.onboarding.application import Application, SubmittedDocument
from posguard.merchant.onboarding.privacy import Sealer, mask_account, mask_id_number, mask_name


class SealedDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    document: SubmittedDocument  # number and name removed
    number_sealed: str | None = None
    number_masked: str | None = None
    name_sealed: str | None = None
    name_masked: str | None = None


class SealedApplication(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    merchant_id: str | None
    merchant_type: str
    industry: str
    documents: dict[str, SealedDocument]


def _mask_number(kind: str, number: str) -> str:
    if kind == "legal_person_id":
        return mask_id_number(number)
    if kind == "bank_account_proof":
        return mask_account(number)
    return number  # licence and permit numbers are public registry data


def seal_application(app: Application, sealer: Sealer) -> SealedApplication:
    docs: dict[str, SealedDocument] = {}
    for kind, doc in app.documents.items():
        number = doc.number.get_secret_value() if doc.number else None
        name = doc.name.get_secret_value() if doc.name else None
        docs[kind] = SealedDocument(
            document=doc.model_copy(update={"number": None, "name": None}),
            number_sealed=sealer.seal(number, purpose=f"{kind}.number") if number else None,
            number_masked=_mask_number(kind, number) if number else None,
            name_sealed=sealer.seal(name, purpose=f"{kind}.name") if name else None,
            name_masked=mask_name(name) if name else None,
        )
    return SealedApplication(
        merchant_id=app.merchant_id,
        merchant_type=app.merchant_type,
        industry=app.industry,
        documents=docs,
    )


def open_application(sealed: SealedApplication, sealer: Sealer) -> Application:
    """Back to the clear application (needs the key); raises SealError if tampered."""
    docs: dict[str, SubmittedDocument] = {}
    for kind, s in sealed.documents.items():
        update: dict[str, SecretStr | None] = {}
        if s.number_sealed:
            update["number"] = SecretStr(sealer.open(s.number_sealed, purpose=f"{kind}.number"))
        if s.name_sealed:
            update["name"] = SecretStr(sealer.open(s.name_sealed, purpose=f"{kind}.name"))
        docs[kind] = s.document.model_copy(update=update)
    return Application(
        merchant_id=sealed.merchant_id,
        merchant_type=sealed.merchant_type,
        industry=sealed.industry,
        documents=docs,
    )
