"""Per-terminal broker identities for Mosquitto: password-file lines tied to the credential the
fleet issues.

Each terminal logs in to the broker with its terminal id as user name and its fleet credential
(``<terminal_id>.<secret>``, the one ``add-terminal`` / ``import`` print) as password; the ACL
shipped in ``deploy/mosquitto/acl`` (``pattern write posguard/v1/+/%u/events``) then lets it
publish only its own events topic and read only its own commands. The fleet keeps only a
SHA-256 of the credential, so the broker's entry is written when the credential is issued
(``posguard fleet import --mosquitto-passwd FILE``) and replaced when it is rotated.

The hash is Mosquitto 2's ``$7$`` format (``mosquitto_passwd``): PBKDF2-HMAC-SHA512, 101
iterations, a 12-byte random salt, base64.

>>> line = passwd_line("T0001", "T0001.secret", salt=bytes(12))
>>> line.split("$")[:3]
['T0001:', '7', '101']
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from posguard.common.errors import ConfigError

ITERATIONS = 101  # mosquitto_passwd's default for $7$


def passwd_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    if ":" in username or "\n" in username:
        raise ValueError(f"broker user name {username!r} may not hold ':' or a newline")
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    b64 = base64.b64encode
    return f"{username}:$7${ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def update_passwd_file(path: Path, entries: Iterable[tuple[str, str]]) -> int:
    """Add or replace the users of ``entries`` ((user, password)) in a Mosquitto password file,
    keeping its other lines; written aside and renamed, mode 0600. Returns the entries written.
    Mosquitto reads the file again on SIGHUP."""
    new = {user: passwd_line(user, password) for user, password in entries}
    kept: list[str] = []
    try:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and line.partition(":")[0] not in new:
                    kept.append(line)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join([*kept, *new.values()]) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"--mosquitto-passwd {path}: {exc.strerror or exc}") from exc
    return len(new)
