"""Helpers every CLI face shares: one-line errors and exit codes (``errors``), the language
rule (``lang``) and tables that fit the terminal without cutting codes (``tables``)."""
