"""The operating manual (操作手册, issue 20): generated from the exception catalog and the
terminal's flows, bilingual, per terminal model and merchant type; printable HTML and a PDF.
``content`` decides what it says, ``render`` lays it out."""

from posguard.kb.manual.content import Manual, build_manual
from posguard.kb.manual.render import render_html, render_pdf

__all__ = ["Manual", "build_manual", "render_html", "render_pdf"]
