"""The exception catalog: the one vocabulary of faults shared by every face of posguard."""

from posguard.catalog.checks import CHECKS, Check, CheckResult
from posguard.catalog.loader import Catalog, default_catalog, load_catalog
from posguard.catalog.model import Audience, Category, Entry, Severity, Step, Symptoms, Text

__all__ = [
    "CHECKS",
    "Audience",
    "Catalog",
    "Category",
    "Check",
    "CheckResult",
    "Entry",
    "Severity",
    "Step",
    "Symptoms",
    "Text",
    "default_catalog",
    "load_catalog",
]
