"""Ed25519 signatures of update packages: who built a package is proven by a key the terminal
trusts, not by the server it came from.

What is signed is a short statement naming the package's SHA-256 (``package_sha256``: the
archive's bytes, or a directory's names and contents)::

    posguard update package v1\\n<64 hex digits>

so a signature covers exactly one package, and the terminal checks the SHA-256 of the bytes it
is about to install. Texts:

- a public key: ``ed25519:`` + base64 of its 32 raw bytes (one line, fits a YAML config);
- a private key: an unencrypted PKCS#8 PEM file, mode 0600 (``write_key_pair``);
- a signature: base64 of its 64 bytes; next to a package file it is ``<package>.sig``.

Every way a check fails (no signature, malformed, made by another key, another package) is a
:class:`~posguard.common.errors.ConfigError` with code ``SW.UPDATE_FAILED`` and one line.

>>> priv, pub = generate_key_pair()
>>> sig = sign_digest(priv, "ab" * 32)
>>> verify_digest("ab" * 32, sig, [public_key_text(pub)])
>>> verify_digest("cd" * 32, sig, [public_key_text(pub)])
Traceback (most recent call last):
...
posguard.common.errors.ConfigError: update package signature does not match any trusted key
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from posguard.common.errors import ConfigError
from posguard.common.update_package import FAILED, package_sha256

STATEMENT: Final = b"posguard update package v1\n"
KEY_PREFIX: Final = "ed25519:"
SIGNATURE_SUFFIX: Final = ".sig"


def _refused(reason: str) -> ConfigError:
    return ConfigError(reason, code=FAILED)


def statement(sha256: str) -> bytes:
    """The bytes a signature covers for the package whose SHA-256 is ``sha256``."""
    return STATEMENT + sha256.lower().encode("ascii")


def generate_key_pair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    key = Ed25519PrivateKey.generate()
    return key, key.public_key()


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """``ed25519:<base64 of 32 bytes>``; ConfigError naming what is wrong."""
    body = text.strip()
    if not body.startswith(KEY_PREFIX):
        raise ConfigError(f"public key {body[:20]!r}...: must start with {KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(body[len(KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("public key: not base64 after 'ed25519:'") from None
    if len(raw) != 32:
        raise ConfigError(f"public key: {len(raw)} bytes, an Ed25519 key is 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def parse_signature(text: str) -> bytes:
    """The 64 signature bytes of a base64 text; ConfigError (SW.UPDATE_FAILED) otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _refused("update package signature is not base64") from None
    if len(raw) != 64:
        raise _refused(f"update package signature is {len(raw)} bytes, an Ed25519 one is 64")
    return raw


def write_key_pair(directory: Path, name: str = "package-signing") -> tuple[Path, str]:
    """Write ``<name>.key`` (PKCS#8 PEM, mode 0600, never replaced) and ``<name>.pub`` into
    ``directory``; returns the private key's path and the public key text."""
    priv, pub = generate_key_pair()
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    pem = priv.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    directory.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{key_path} exists: a signing key is never overwritten") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    text = public_key_text(pub)
    pub_path.write_text(text + "\n", encoding="ascii")
    return key_path, text


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"signing key {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise ConfigError(f"signing key {path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path}: not an Ed25519 key")
    return key


def sign_digest(key: Ed25519PrivateKey, sha256: str) -> str:
    return base64.b64encode(key.sign(statement(sha256))).decode("ascii")


def sign_package(key: Ed25519PrivateKey, package: Path) -> tuple[str, Path]:
    """Sign ``package``; writes ``<package>.sig`` and returns (signature, its path)."""
    if not package.exists():
        raise ConfigError(f"update package {package}: no such file or directory")
    sig = sign_digest(key, package_sha256(package))
    path = signature_path(package)
    path.write_text(sig + "\n", encoding="ascii")
    return sig, path


def signature_path(package: Path) -> Path:
    return package.with_name(package.name + SIGNATURE_SUFFIX)


def verify_digest(sha256: str, signature: str | None, trusted: Sequence[str]) -> None:
    """Returns when ``signature`` is one of the ``trusted`` keys' over ``sha256``."""
    if not signature:
        raise _refused("update package is not signed: refused (the terminal trusts signed ones)")
    raw = parse_signature(signature)
    message = statement(sha256)
    for text in trusted:
        try:
            parse_public_key(text).verify(raw, message)
        except InvalidSignature:
            continue
        return
    raise _refused("update package signature does not match any trusted key")


def verify_package(package: Path, signature: str | None, trusted: Sequence[str]) -> str:
    """Check ``package`` against ``signature`` (default: its ``.sig`` file, when there is
    one); returns its SHA-256."""
    if signature is None:
        sig_file = signature_path(package)
        if sig_file.is_file():
            signature = sig_file.read_text(encoding="ascii", errors="replace").strip()
    digest = package_sha256(package)
    verify_digest(digest, signature, trusted)
    return digest
