"""The update package's format lives in :mod:`posguard.common.update_package` (the fleet
validates uploads with the same checks); re-exported here for the terminal's updater."""

from posguard.common.update_package import FAILED, check_sha256, package_sha256, unpack

__all__ = ["FAILED", "check_sha256", "package_sha256", "unpack"]
