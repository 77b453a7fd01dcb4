"""A readable dump of ESC/POS bytes: commands by name, text decoded, one printed line per row.

Used for the golden files (``*.bin`` next to a ``*.txt`` a person can review) and
for debugging what was sent to a printer.

>>> raw = b"\\x1b@\\x1c&\\x1ba\\x01" + "金额".encode("gbk") + b" 1.00\\n\\x1dVB\\x04"
>>> print(dump_escpos(raw, "gbk"))
<ESC @ init><FS & chinese-on><ESC a 1 align>金额 1.00
<GS V B 4 partial-cut>
"""

from __future__ import annotations

from typing import Final

# prefix -> (name, number of parameter bytes)
_COMMANDS: Final[dict[bytes, tuple[str, int]]] = {
    b"\x1b@": ("ESC @ init", 0),
    b"\x1bt": ("ESC t codetable", 1),
    b"\x1ba": ("ESC a align", 1),
    b"\x1bE": ("ESC E bold", 1),
    b"\x1bd": ("ESC d feed", 1),
    b"\x1d!": ("GS ! size", 1),
    b"\x1dVA": ("GS V A full-cut", 1),
    b"\x1dVB": ("GS V B partial-cut", 1),
    b"\x1dI": ("GS I identify", 1),
    b"\x1c&": ("FS & chinese-on", 0),
    b"\x1c.": ("FS . chinese-off", 0),
    b"\x10\x04": ("DLE EOT status", 1),
}


def dump_escpos(data: bytes, encoding: str = "gbk") -> str:
    """Render ``data`` as text: ``<NAME params>`` for commands, decoded text, LF as a newline."""
    out: list[str] = []
    text = bytearray()

    def flush() -> None:
        if text:
            out.append(text.decode(encoding, errors="backslashreplace"))
            text.clear()

    i = 0
    while i < len(data):
        for prefix, (name, nparams) in _COMMANDS.items():
            if data.startswith(prefix, i):
                flush()
                params = data[i + len(prefix) : i + len(prefix) + nparams]
                mnemonic, word = name.rsplit(" ", 1)
                args = "".join(f" {b}" for b in params)
                out.append(f"<{mnemonic}{args} {word}>")
                i += len(prefix) + nparams
                break
        else:
            byte = data[i]
            if byte == 0x0A:
                flush()
                out.append("\n")
            elif byte < 0x20:
                flush()
                out.append(f"<0x{byte:02X}>")
            else:
                text.append(byte)
            i += 1
    flush()
    return "".join(out)
