"""`posguard host lab`: the lab's terminals, merchants and test cards from the seed, masked,
each card's response code checked against a real host, tables whole at 80 and 120 columns."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from posguard.card import mask_pan
from posguard.cli import app
from posguard.host.lab import lab_view
from posguard.host.lab_cli import print_lab
from posguard.host.seed import default_seed
from posguard.host.testing import HostClient, running_host


async def test_each_card_gets_the_code_the_lab_lists_from_a_real_host() -> None:
    """The listing is a promise: a sale with each card (above the balance for the poor card,
    a wrong PIN for the one-try card) gets exactly the response code `host lab` names."""
    seed = default_seed()
    view = lab_view(seed, date.today())
    got = {}
    async with running_host(seed) as (_h, port, _l), HostClient(port) as client:
        assert (await client.sign_on())["39"] == "00"
        for card, row in zip(seed.cards, view.cards, strict=True):
            amount = row.balance + 1 if row.rc == "51" else 1_234
            pin = "000000" if row.rc == "75" else None
            answer = await client.sale(card.pan, amount, pin=pin, expiry=card.expiry)
            got[row.pan_masked] = str(answer["39"])
    assert got == {row.pan_masked: row.rc for row in view.cards}
    assert {"00", "51", "54", "55", "41", "43", "91"} <= set(got.values())


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_tables_keep_ids_cards_and_amounts_whole(width: int, lang: str) -> None:
    seed = default_seed()
    out = io.StringIO()
    console = Console(width=width, file=out, force_terminal=False)
    print_lab(seed, lang=lang, as_json=False, console=console)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    for card in seed.cards:
        assert mask_pan(card.pan) in text
        assert card.pan not in text
    for t in seed.terminals:
        assert t.tid in text
        assert t.mid in text
    assert "50,000.00" in text


def test_json_lists_the_seed_masked_and_the_cli_takes_lang() -> None:
    seed = default_seed()
    result = CliRunner().invoke(app, ["host", "lab", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["pan_masked"] for c in data["cards"]] == [mask_pan(c.pan) for c in seed.cards]
    assert [t["tid"] for t in data["terminals"]] == [t.tid for t in seed.terminals]
    assert [m["mid"] for m in data["merchants"]] == [m.mid for m in seed.merchants]
    for card in seed.cards:
        assert card.pan not in result.stdout
    poor = [c for c in data["cards"] if c["rc"] == "51"]
    assert len(poor) == 1
    assert poor[0]["balance"] == 10_000
    assert "51" in poor[0]["purpose"]["zh"]
    assert "poor card" in poor[0]["purpose"]["en"]
    bad = CliRunner().invoke(app, ["host", "lab", "--lang", "fr"])
    assert bad.exit_code == 2
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_bad_seed_file_is_one_line(tmp_path: Path) -> None:
    seed = tmp_path / "s.yaml"
    seed.write_text("cards: [{pan: '123'}]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["host", "lab", "--seed", str(seed), "--lang", "en"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "invalid seed data" in result.stderr
