"""A refusal of an administration request, said in both languages (one line each): the
dashboard shows it in the reader's language above the form, the API answers it in English.

>>> e = AdminRefusedError("terminal T1 is already registered", "终端 T1 已登记", status=409)
>>> e.text("zh"), e.text("en-GB"), e.status
('终端 T1 已登记', 'terminal T1 is already registered', 409)
"""

from __future__ import annotations


class AdminRefusedError(ValueError):
    def __init__(self, en: str, zh: str, *, status: int = 422) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh
        self.status = status

    def text(self, lang: str) -> str:
        return self.zh if lang.lower().startswith("zh") else self.en
