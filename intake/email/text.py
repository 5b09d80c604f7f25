"""Bytes and encoded words from real mail -> clean text, whatever the charset claims.

Mail declares charsets that Python does not know (x-unknown, x-mac-cyrillic), names
a charset where the sender's program used a superset of it (gb2312 for GBK text,
iso-8859-1 for windows-1252), or declares none and sends 8-bit bytes anyway. Every
function here returns text and records what it had to guess; none raises.
"""

from __future__ import annotations

import codecs
import re
from email.errors import HeaderParseError
from email.header import decode_header

# What a mail program really wrote when it declared one of these: the superset first.
_SUPERSETS = {
    "iso8859-1": ("cp1252",),
    "iso8859-9": ("cp1254",),
    "iso8859-11": ("cp874",),
    "tis-620": ("cp874",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "euc_kr": ("cp949",),
    "shift_jis": ("cp932",),
    "iso2022_jp": ("iso2022_jp_2", "iso2022_jp_ext"),
    "big5": ("big5hkscs", "cp950"),
}
# Names seen in real mail that Python's codec registry does not know.
_ALIASES = {
    "x-sjis": "shift_jis",
    "sjis": "shift_jis",
    "iso-8859-8-i": "iso-8859-8",
    "iso-2022-jp-ms": "iso-2022-jp",
    "x-euc-jp": "euc-jp",
    "x-gbk": "gbk",
    "ks_c_5601": "euc-kr",
}
FALLBACK = "windows-1252"


def codec_name(charset: str | None) -> str | None:
    """Python's codec for a charset label from mail, or None when there is none."""
    label = (charset or "").strip().strip("\"'").lower()
    if not label:
        return None
    label = _ALIASES.get(label, label)
    if label.startswith("x-mac-"):
        label = "mac-" + label[len("x-mac-") :]
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: NUL or raw bytes in the label
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str], what: str) -> str:
    """Decode `data` declared as `charset`, falling back and recording it, never raising."""
    codec = codec_name(charset)
    for candidate in (*_SUPERSETS.get(codec, ()), codec) if codec else ():
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    if codec == "iso2022_jp":
        try:
            return iso2022jp_as_cp932(data)
        except ValueError:  # UnicodeDecodeError, or a byte outside JIS X 0208
            pass
    text, used = guess_decode(data)
    if codec is not None:
        defects.append(f"{what} is not valid {charset}; decoded as {used}")
    elif charset:
        defects.append(f"unknown charset {charset!r} in {what}; decoded as {used}")
    return text


_JIS_MODES = {b"\x1b$B": "jis", b"\x1b$@": "jis", b"\x1b(B": "ascii", b"\x1b(J": "ascii", b"\x1b(I": "kana"}


def iso2022jp_as_cp932(data: bytes) -> str:
    """Decode ISO-2022-JP as Microsoft's mail programs write it (code page 50220).

    They use the NEC and IBM extensions of code page 932 (circled numbers, "No."),
    which Python's iso2022_jp codecs refuse; re-encoded as Shift_JIS they decode.
    """
    out = bytearray()
    mode = "ascii"
    pieces = re.split(rb"(\x1b\$[B@]|\x1b\([BJI])", data)
    for piece in pieces:
        if piece in _JIS_MODES:
            mode = _JIS_MODES[piece]
        elif mode == "jis":
            if len(piece) % 2:
                raise UnicodeDecodeError("iso-2022-jp", piece, 0, len(piece), "odd double-byte run")
            for j1, j2 in zip(piece[::2], piece[1::2], strict=True):
                out += _jis_to_sjis(j1, j2)
        elif mode == "kana":
            out += bytes(b | 0x80 for b in piece)
        else:
            out += piece
    return out.decode("cp932")


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = ((j1 - 0x21) >> 1) + 0x81
    s1 += 0x40 if s1 > 0x9F else 0
    s2 = j2 + (0x1F + (j2 >= 0x60) if j1 % 2 else 0x7E)
    return bytes((s1, s2 & 0xFF))


def guess_decode(data: bytes) -> tuple[str, str]:
    """UTF-8 when the bytes are valid UTF-8, else windows-1252 (which fits any byte)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode(FALLBACK, errors="replace"), FALLBACK


def fix_raw_8bit(value: str, hint: str | None, defects: list[str], what: str) -> str:
    """Turn raw 8-bit bytes in a header (kept by the parser as surrogates) into text."""
    if not _has_surrogates(value):
        return value
    data = value.encode("utf-8", errors="surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"{what} has raw 8-bit bytes that are not UTF-8")
        return decode_bytes(data, hint, [], what)


def decode_words(value: str, defects: list[str], what: str) -> str:
    """Decode RFC 2047 encoded words, tolerating unknown charsets and bad encodings."""
    try:
        chunks = decode_header(value)
    except (HeaderParseError, ValueError):
        defects.append(f"{what} has a broken encoded word; shown as written")
        return value
    text = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            text.append(chunk)
        elif charset is None:
            try:
                text.append(chunk.decode("raw-unicode-escape"))
            except UnicodeDecodeError:  # a literal "\\U" or "\\u" in the unencoded text
                text.append(chunk.decode("latin-1"))
        else:
            text.append(decode_bytes(chunk, charset, defects, what))
    return "".join(text)


def decode_header_text(raw: str, hint: str | None, defects: list[str], what: str) -> str:
    """A raw header value (as read from the bytes) as one line of clean text."""
    value = fix_raw_8bit(raw, hint, defects, what)
    value = decode_words(value, defects, what)
    return clean(re.sub(r"\s*[\r\n]+\s*", " ", value)).strip()


def unknown_word_charsets(raw: str) -> list[str]:
    """Charsets named by RFC 2047 encoded words in `raw` that no codec decodes."""
    named = re.findall(r"=\?([^?*\s]+)(?:\*[^?]*)?\?[bBqQ]\?", raw)
    return [charset for charset in dict.fromkeys(named) if codec_name(charset) is None]


def needs_redecoding(text: str) -> bool:
    """True when a decoder left replacement characters or raw bytes in `text`."""
    return "\ufffd" in text or _has_surrogates(text)


def clean(text: str) -> str:
    """Text safe to store anywhere: no NUL characters and no lone surrogates."""
    text = text.replace("\x00", "")
    if _has_surrogates(text):
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


def _has_surrogates(text: str) -> bool:
    # Only a lone surrogate makes UTF-8 encoding fail; encoding runs in C, a loop would not.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
