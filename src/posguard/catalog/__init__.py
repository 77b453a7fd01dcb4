"""The exception catalog: the one vocabulary of faults shared by every face of posguard."""

from posguard.catalog.loader import Catalog, default_catalog, load_catalog
from posguard.catalog.model import Audience, Category, Entry, Severity, Step, Text

__all__ = [
    "Audience",
    "Catalog",
    "Category",
    "Entry",
    "Severity",
    "Step",
    "Text",
    "default_catalog",
    "load_catalog",
]
