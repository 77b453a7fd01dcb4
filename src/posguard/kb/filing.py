"""File a `kb walk` hand-over on the fleet, as a note on the terminal's timeline.

The engineer at the terminal walks the runbook with the terminal's own config (``kb walk
--config terminal.yaml``). That config names the fleet (``agent.url``) and holds the
terminal's credential (``agent.token``): what the engineer has in the field, where a fleet
login may not be at hand. The note is a ``lifecycle`` event ``{event: "kb_walk", ...}`` of
that terminal, so it shows on the terminal's timeline like everything else it reports:

1. it is written to the terminal's outbox (``<service.data_dir>/outbox.db``), which gives it
   the terminal's next ``seq`` -- a number of our own could collide with the terminal's and
   make the fleet drop one of the two as a duplicate;
2. it is sent at once to ``POST {agent.url}/api/v1/ingest/batch`` with the terminal's bearer
   credential, and forgotten from the outbox once the fleet confirms it;
3. when the fleet is not reachable it stays in the outbox, and the terminal service sends it
   with its next telemetry (over MQTT too). The record file is kept either way.

No card data reaches the note: every text is passed through :func:`posguard.card.redact`,
and a text that still looks like a card number is left out. The kb package does not depend
on the terminal: its modules are loaded at run time, as ``kb.cli.doctor_runners`` does.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from posguard.card import contains_pan, redact
from posguard.common.errors import PosguardError
from posguard.common.events import EventKind
from posguard.kb.wizard import Answer, Escalation

NOTE_EVENT: Final = "kb_walk"
"""The ``data.event`` of the lifecycle event a hand-over is filed as."""
SEND_TIMEOUT_S: Final = 5.0
_REMOVED = "[removed: looked like card data / 疑似卡号，已删除]"

_ANSWER_WORDS: Final = {
    Answer.SOLVED: ("好了", "solved"),
    Answer.NOT_SOLVED: ("做了，还不行", "done, not solved"),
    Answer.CANT: ("做不了", "could not do it"),
    Answer.ESCALATE: ("转人工", "handed over"),
}


def clean(text: str) -> str:
    """``text`` without card numbers: masked, or left out when still card-like."""
    masked = redact(text)
    return _REMOVED if contains_pan(masked) else masked


def step_lines(record: Escalation, of: int, lang: str, *, detail: bool = False) -> list[str]:
    """Each step reached, numbered as on screen: who answered it and how (with ``detail``,
    what the machine check found)."""
    zh = lang == "zh"
    lines = []
    for s in record.steps:
        if s.answered_by == "check":
            how = (
                f"自动检查 {s.check}：{s.check_result}"
                if zh
                else f"machine check {s.check}: {s.check_result}"
            )
            if detail and s.check_detail:
                how += f" ({s.check_detail})"
        else:
            word = _ANSWER_WORDS[s.answer][0 if zh else 1] if s.answer else "?"
            how = word + (f" — {s.note}" if s.note else "")
            if detail and s.check and s.check_result:
                found = f"{s.check}: {s.check_result}" + (
                    f" ({s.check_detail})" if s.check_detail else ""
                )
                how += f"（自动检查 {found}）" if zh else f" (machine check {found})"
        lines.append(f"{s.step}/{of} {how}")
    return lines


def walk_note(record: Escalation, of: int, lang: str, record_file: Path) -> dict[str, Any]:
    """The note's fields, flat strings the timeline shows as they are, free of card data."""
    return {
        "event": NOTE_EVENT,
        "runbook": record.code,
        "title": clean(record.title),
        "outcome": "handed_over",
        "reason": clean(record.reason),
        "steps": clean("; ".join(step_lines(record, of, lang, detail=True))),
        "record": record_file.name,
        "session": record.session_id[:8],
    }


@dataclass(frozen=True, slots=True)
class Filing:
    """What became of the note, said in one line in each language."""

    filed: bool
    en: str
    zh: str

    def say(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _not_filed(why_en: str, why_zh: str, record_file: Path) -> Filing:
    return Filing(
        False,
        f"not filed on the fleet: {why_en}; the record is kept in {record_file}",
        f"未提交到终端管理服务：{why_zh}；转交记录保存在 {record_file}",
    )


def file_handover(
    record: Escalation, *, of: int, lang: str, record_file: Path, config: Path | None
) -> Filing:
    """File the hand-over on the fleet named by the terminal config ``config`` (see the
    module doc). Never raises for an expected failure: the answer says what happened."""
    if config is None:
        return _not_filed(
            "no fleet configured (give --config with the terminal's config)",
            "没有配置终端管理服务（请用 --config 指定终端配置）",
            record_file,
        )
    try:
        service = importlib.import_module("posguard.terminal.service")
        outbox_mod = importlib.import_module("posguard.terminal.agent.outbox")
    except ImportError:
        return _not_filed("the terminal face is not installed", "未安装终端组件", record_file)
    try:
        cfg = service.load_service_config(config)
    except PosguardError as exc:
        return _not_filed(f"{config}: {exc}", f"{config} 无法读取：{exc}", record_file)
    agent, terminal = cfg.agent, cfg.terminal
    direct = bool(agent.url and agent.token)
    if agent.transport == "none" and not direct:
        return _not_filed(
            f"{config} names no fleet (agent.url and agent.token)",
            f"{config} 里没有终端管理服务的地址和凭证（agent.url、agent.token）",
            record_file,
        )
    tid = terminal.terminal_id
    if record.terminal_id and record.terminal_id != tid:
        return _not_filed(
            f"--terminal {record.terminal_id} is not the terminal of {config} ({tid})",
            f"--terminal {record.terminal_id} 与 {config} 的终端（{tid}）不一致",
            record_file,
        )
    box_path = Path(cfg.service.data_dir) / "outbox.db"
    if not box_path.is_file():
        return _not_filed(
            f"terminal {tid} has no outbox at {box_path} (use the config its service runs with)",
            f"终端 {tid} 在 {box_path} 没有事件队列（请用终端服务运行时的配置）",
            record_file,
        )
    try:
        box = outbox_mod.Outbox(box_path, tid, terminal.merchant_id)
    except PosguardError as exc:
        return _not_filed(f"{box_path}: {exc}", f"{box_path} 无法写入：{exc}", record_file)
    try:
        try:
            note = walk_note(record, of, lang, record_file)
            event = box.emit(EventKind.LIFECYCLE, None, **note)
        except PosguardError as exc:
            return _not_filed(
                f"the terminal's outbox refused the note: {exc}",
                f"终端事件队列拒收了这条记录：{exc}",
                record_file,
            )
        if not direct:
            return Filing(
                True,
                f"queued as a note for terminal {tid}'s timeline: the terminal service sends it "
                "to the fleet",
                f"已排队作为终端 {tid} 时间线上的记录：由终端服务发送到终端管理服务",
            )
        return _send(event, box, agent.url, agent.token, tid, record_file)
    finally:
        box.close()


def _send(event: Any, box: Any, url: str, token: str, tid: str, record_file: Path) -> Filing:
    import httpx

    publish = importlib.import_module("posguard.terminal.agent.publish")

    async def post() -> list[tuple[int, int]]:
        client = httpx.AsyncClient(timeout=SEND_TIMEOUT_S)
        sender = publish.HttpPublisher(url, token, client=client)
        try:
            return list(await sender.publish([event]))
        finally:
            await sender.close()

    try:
        confirmed = asyncio.run(post())
    except publish.PublishError as exc:
        return Filing(
            False,
            f"fleet not reachable ({exc}): the note waits in the terminal's outbox and goes "
            f"with its next telemetry; the record is kept in {record_file}",
            f"终端管理服务连不上（{exc}）：记录留在终端的事件队列里，随下次上报发送；"
            f"转交记录保存在 {record_file}",
        )
    box.ack_ranges(confirmed)
    if not any(lo <= event.seq <= hi for lo, hi in confirmed):
        box.ack([event.seq])  # refused for good: a resend would be refused again
        return _not_filed("the fleet refused the note", "终端管理服务拒收了这条记录", record_file)
    return Filing(
        True,
        f"filed on the fleet as a note on terminal {tid}'s timeline",
        f"已提交到终端管理服务，记在终端 {tid} 的时间线上",
    )
