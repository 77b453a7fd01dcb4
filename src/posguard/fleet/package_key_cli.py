"""`posguard fleet package keygen | sign | verify`: the Ed25519 key that signs firmware
packages (``common.package_signature``), kept by whoever builds the firmware, never by the
fleet service. The public key goes into each terminal's config
(``service.update_public_keys``); the signature (``<package>.sig``) is uploaded with the package.

Exit 0 done, 1 a package whose signature does not verify, 2 a bad key, path or package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError
from posguard.common.package_signature import (
    load_private_key,
    sign_package,
    verify_package,
    write_key_pair,
)

app = FaceApp(help="Sign firmware packages / 固件包签名.", no_args_is_help=True)


def _bad(exc: ConfigError, zh: str, code: ExitCode = ExitCode.USAGE) -> CliError:
    return CliError(exc.message, f"{zh}：{exc.message}", exit_code=code)


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key pair / 密钥目录.")],
    name: Annotated[str, typer.Option(help="File name stem / 文件名.")] = "package-signing",
    lang: LangOption = None,
) -> None:
    """Create <name>.key (private, mode 0600, never overwritten) and <name>.pub; prints the
    public key for the terminals' config."""
    if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
        raise CliError(
            f"--name {name[:70]!r}: letters, digits, - and _ only",
            f"--name {name[:70]!r}：只能用字母、数字、- 和 _",
        )
    try:
        key_path, public = write_key_pair(out, name)
    except ConfigError as exc:
        raise _bad(exc, "无法生成签名密钥") from None
    except OSError as exc:
        raise CliError(f"--out {out}: {exc.strerror}", f"--out {out}：{exc.strerror}") from None
    if lang == "en":
        typer.echo(f"private key: {key_path} (keep it offline; mode 0600)")
        typer.echo(f"public key (terminal config service.update_public_keys): {public}")
    else:
        typer.echo(f"私钥：{key_path}（请离线保管，权限 0600）")
        typer.echo(f"公钥（写入终端配置 service.update_public_keys）：{public}")


@app.command("sign")
def sign(
    package: Annotated[Path, typer.Argument(help="The package (.tar.gz) / 固件包.")],
    key: Annotated[Path, typer.Option("--key", help="Private key file / 私钥文件.")],
    lang: LangOption = None,
) -> None:
    """Write <package>.sig (base64 Ed25519 signature over the package's SHA-256)."""
    try:
        signature, path = sign_package(load_private_key(key), package)
    except ConfigError as exc:
        raise _bad(exc, "签名失败") from None
    except OSError as exc:
        raise CliError(f"{package}: {exc.strerror}", f"{package}：{exc.strerror}") from None
    typer.echo(f"{'signature' if lang == 'en' else '签名'}: {path}")
    typer.echo(signature)


@app.command("verify")
def verify(
    package: Annotated[Path, typer.Argument(help="The package (.tar.gz) / 固件包.")],
    public_key: Annotated[
        list[str], typer.Option("--public-key", help="Trusted public key (ed25519:...) / 公钥.")
    ],
    signature: Annotated[
        str | None, typer.Option(help="Signature (default: <package>.sig) / 签名.")
    ] = None,
    lang: LangOption = None,
) -> None:
    """Check a package's signature as a terminal would before installing it."""
    if not package.exists():
        raise CliError(f"{package}: no such file", f"{package}：文件不存在")
    try:
        digest = verify_package(package, signature, public_key)
    except ConfigError as exc:
        code = ExitCode.USAGE if exc.code is None else ExitCode.FINDINGS
        raise _bad(exc, "签名校验未通过", code) from None
    typer.echo(f"{'signature good' if lang == 'en' else '签名有效'}: sha256 {digest}")
