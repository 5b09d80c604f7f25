"""The documentation holds together: links lead somewhere, and every key is documented.

README.md, ARCHITECTURE.md and docs/*.md link to one another, to pictures and to files
of the project; a moved file or a renamed heading must not leave a dead link behind.
Every key the sample office file names (also the ones it leaves commented out) must be
documented, and README.md must list every limit of the settings with its default.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = [README, ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_MODULE_PATH = re.compile(r"^[\w.-]+(/[\w.-]+)+\.py$")

# Tables of the office file whose keys are names the office chooses (a domain, a called
# number, a department id): the docs write those as the placeholder.
_NAMED_BY_THE_OFFICE = {
    "smtp.catch_all": "DOMAIN",
    "twilio.greetings": "NUMBER",
    "twilio.acknowledgements": "DEPARTMENT",
    "departments.acknowledgement.texts": "LANGUAGE",
}
_TOML_HEADER = re.compile(r"^#?\s?\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r'^#?\s?("[^"]+"|[A-Za-z0-9_-]+)\s*=')
# Settings fields that bound what Intake takes or spends: sizes, counts, times, tries.
_LIMIT_NAME = re.compile(r"^max_|^threads$|_(seconds|limit|attempts|bytes|mb|workers|size)$")


def outside_code_blocks(text: str) -> Iterator[tuple[int, str]]:
    """The lines outside code blocks (fenced, or indented by four spaces), with their numbers."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and not line.startswith(("    ", "\t")):
            yield number, line


def code_spans(text: str) -> set[str]:
    return {span.strip() for line in text.splitlines() for _, span in _CODE_SPAN.findall(line)}


def slug(heading: str, seen: dict[str, int]) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = _CODE_SPAN.sub(lambda match: match.group(2), heading).lower()
    base = re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    return {
        slug(match.group(1), seen)
        for _, line in outside_code_blocks(path.read_text(encoding="utf-8"))
        if (match := _HEADING.match(line))
    }


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in outside_code_blocks(path.read_text(encoding="utf-8")):
        prose = _CODE_SPAN.sub("", line)
        for match in [*_LINK.finditer(prose), *_LINK_DEFINITION.finditer(prose)]:
            yield number, match.group(1)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each relative link or image of `path` that names no file, or no heading in it."""
    broken = []
    for number, target in links(path):
        if _SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not linked.exists():
            broken.append(f"{where}: no such file")
        elif anchor and linked.suffix != ".md":
            broken.append(f"{where}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{where}: no heading {anchor!r} in {linked.name}")
    return broken


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_leads_to_a_file_and_heading(path: Path) -> None:
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_module_path_named_exists(path: Path) -> None:
    named = {span for span in code_spans(path.read_text(encoding="utf-8")) if _MODULE_PATH.match(span)}
    assert sorted(span for span in named if not (ROOT / span).is_file()) == []


def test_a_dead_link_an_unknown_heading_and_a_missing_picture_are_found(tmp_path: Path) -> None:
    # The checker itself, on a page of the project's shape: it must see each kind of fault.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "email.md").write_text("# Email\n\n## The SMTP listener's limits\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "# Intake\n\n"
        "[fine](docs/email.md#the-smtp-listeners-limits) [here](#intake) [web](https://example.com/x)\n"
        "[gone](docs/phone.md) [moved](docs/email.md#limits) ![a picture](docs/screenshots/queue.png)\n"
        "    [in a code block](docs/nowhere.md) and `[in a code span](docs/nowhere.md)`\n",
        encoding="utf-8",
    )
    faults = [fault.split(": ", 1)[1] for fault in broken_links(page, tmp_path)]
    assert faults == [
        "docs/phone.md: no such file",
        "docs/email.md#limits: no heading 'limits' in email.md",
        "docs/screenshots/queue.png: no such file",
    ]


def test_headings_give_githubs_anchors() -> None:
    seen: dict[str, int] = {}
    headings = [
        "The web server's limits",
        "The `intake` command",
        "`[[imap]]`, one per mailbox",
        "Speed",
        "Speed",
    ]
    assert [slug(heading, seen) for heading in headings] == [
        "the-web-servers-limits",
        "the-intake-command",
        "imap-one-per-mailbox",
        "speed",
        "speed-1",
    ]


def sample_office_keys() -> list[str]:
    """Every key of config/default.toml as `table.key`, also those left commented out.

    A commented line counts when it is TOML on its own (a key or a table header), so that
    prose such as "all = [...], any = [...]" is not taken for a key.
    """
    table, keys = "", []
    for line in (ROOT / "config" / "default.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and not _is_toml(line.lstrip("#")):
            continue
        if header := _TOML_HEADER.match(line):
            table = header.group(1).replace(" ", "")
        elif key := _TOML_KEY.match(line):
            keys.append(f"{table}.{key.group(1)}")
    return [_with_placeholders(key) for key in keys]


def _is_toml(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


def _with_placeholders(key: str) -> str:
    for table, placeholder in _NAMED_BY_THE_OFFICE.items():
        if key.startswith(table + "."):
            rest = key[len(table) + 1 :]
            named = re.match(r'^("[^"]+"|[^."]+)(.*)$', rest)
            assert named is not None, key
            return f"{table}.{placeholder}{named.group(2)}"
    return key


def test_the_sample_office_names_keys_commented_out_too() -> None:
    keys = sample_office_keys()
    assert {"office.hours.mon", "rules.when", "smtp.max_recipients", "web.connection_limit"} <= set(keys)
    assert {"departments.notify.digest_minutes", "smtp.submission.users_file", "twilio.proxy_hops"} <= set(
        keys
    )
    assert {"smtp.catch_all.DOMAIN", "twilio.greetings.NUMBER.open", "notifications.retry_seconds"} <= set(
        keys
    )


def test_every_key_of_the_sample_office_is_documented() -> None:
    documented: set[str] = set()
    for path in DOCUMENTS:
        documented |= code_spans(path.read_text(encoding="utf-8"))
    assert sorted(set(sample_office_keys()) - documented) == []


def limit_keys(cls: type = Settings, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Each limit of the settings as (`table.key`, its default), found through the types."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key = f"{prefix}{field.name}"
        nested = _settings_class(hints[field.name])
        if nested is not None:
            yield from limit_keys(nested, key + ".")
        elif hints[field.name] in (int, float) and _LIMIT_NAME.search(field.name):
            yield key, field.default


def _settings_class(hint: object) -> type | None:
    """The settings dataclass a field holds: directly, optionally, or as a tuple of them."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    arguments = typing.get_args(hint)
    if typing.get_origin(hint) in (tuple, types.UnionType) and arguments:
        return _settings_class(arguments[0])
    return None


def _written(default: object) -> str:
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_readme_lists_every_limit_with_its_key_and_default() -> None:
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    limits = dict(limit_keys())
    assert {"smtp.max_message_size", "email.parse_seconds", "web.threads", "imap.timeout_seconds"} <= set(
        limits
    )
    missing = []
    for key, default in limits.items():
        row = next((row for row in rows if f"`{key}`" in row), None)
        if row is None:
            missing.append(f"{key}: no row in README.md")
        elif default is not dataclasses.MISSING and not re.search(
            rf"(?<![\d.]){_written(default)}(?![\d.])", row
        ):
            missing.append(f"{key}: its default {_written(default)} is not in its row")
    assert missing == []
