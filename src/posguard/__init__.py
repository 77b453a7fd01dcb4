"""posguard: keeps card-payment (POS) terminals working and says what to do when they don't."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("posguard")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
