"""`posguard terminal init`: the lab terminal's config agrees with the host's seed, keeps the
TMK in an owner-only file, never overwrites without --force; a missing config is one line
that names `terminal init`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.cli import app
from posguard.host.seed import default_seed
from posguard.terminal.config import load_config


def test_config_agrees_with_the_lab_seed(tmp_path: Path) -> None:
    path = tmp_path / "lab" / "terminal.yaml"
    result = CliRunner().invoke(
        app, ["terminal", "init", str(path), "--primary", "127.0.0.1:6001", "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    cfg = load_config(path)
    seed = default_seed()
    term = next(t for t in seed.terminals if t.tid == cfg.terminal_id)
    assert term.registered
    assert term.mid == cfg.merchant_id
    assert next(m for m in seed.merchants if m.mid == term.mid).status == "active"
    assert cfg.tmk is None
    assert cfg.tmk_source is not None
    assert cfg.tmk_bytes == bytes.fromhex(term.tmk)
    assert cfg.mac_algorithm == term.mac
    assert [h.address for h in cfg.hosts] == ["127.0.0.1:6001", "127.0.0.1:5801"]
    key = tmp_path / "lab" / "tmk.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert term.tmk.lower() not in path.read_text(encoding="utf-8").lower()
    assert "#" in path.read_text(encoding="utf-8")  # commented
    # the next commands name the config and the port that differ from the defaults
    assert f"posguard terminal sign-on -c {path}" in result.stdout
    assert "posguard host serve --port 6001 &" in result.stdout


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "terminal.yaml"
    path.write_text("# mine\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["terminal", "init", str(path), "--lang", "en"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--force" in result.stderr
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert not (tmp_path / "tmk.key").exists()
    forced = CliRunner().invoke(app, ["terminal", "init", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_config(path).terminal_id == "10000001"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("bad", ["127.0.0.1", "127.0.0.1:0", ":5800", "h:99999"])
def test_a_bad_host_address_is_one_line_and_writes_nothing(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "t.yaml"
    result = CliRunner().invoke(
        app, ["terminal", "init", str(path), "--primary", bad, "--lang", "en"]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "--primary" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["sign-on"],
        ["sale", "--pan", "6214830000000000015", "--expiry", "3012", "--amount", "1"],
        ["journal"],
        ["doctor"],
    ],
)
def test_a_missing_config_points_to_terminal_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POSGUARD_LANG", "en")
    result = CliRunner().invoke(app, ["terminal", *command])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "var/terminal/terminal.yaml" in result.stderr
    assert "posguard terminal init" in result.stderr
    other = CliRunner().invoke(app, ["terminal", *command, "-c", "elsewhere.yaml"])
    assert "posguard terminal init elsewhere.yaml" in other.stderr
