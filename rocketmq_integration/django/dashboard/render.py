"""How a message body is shown: as text when it is printable UTF-8, else as a hex dump.

The text is returned raw; escaping is the template's job (autoescape), so a body holding
``<script>`` is displayed, never executed.
"""

from __future__ import annotations

__all__ = ["MAX_SHOWN", "body_view", "hexdump"]

#: bytes of a body shown on a page (the rest is cut with a note)
MAX_SHOWN = 64 * 1024


def hexdump(data: bytes, width: int = 16) -> str:
    """``offset  hex bytes  |ascii|`` lines, like ``hexdump -C``."""
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off : off + width]
        hexpart = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexpart:<{width * 3 - 1}}  |{text}|")
    return "\n".join(lines)


def body_view(body: bytes) -> tuple[str, str]:
    """``("text", text)`` for printable UTF-8 (tabs and newlines allowed), else ``("hex", dump)``."""
    shown = body[:MAX_SHOWN]
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", hexdump(shown)
    if all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "text", text
    return "hex", hexdump(shown)
