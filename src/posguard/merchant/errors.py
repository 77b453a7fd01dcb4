"""The one error of this package: an input or data file that cannot be used.

It names the file, the line (or entry) and the field, and never quotes personal data.
"""

from __future__ import annotations

from posguard.common.errors import ConfigError


class MerchantDataError(ConfigError):
    """A merchant input or data file is unreadable or invalid (``file``, ``line``, ``field``)."""
