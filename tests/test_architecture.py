"""The layout is the map in ARCHITECTURE.md, and imports point one way: web -> intake -> routing -> config.

Only the `intake` command (intake/cli/) reaches up to web, to build the app. Every module
sits in a folder the map names; intake/ and routing/ hold at their top only the modules
the map names one by one; the tests mirror the source folders.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ("config", "routing", "intake", "web")
# What each package may not import, and where an exception holds.
FORBIDDEN = {
    "config": {"routing", "intake", "web"},
    "routing": {"intake", "web"},
    "intake": {"web"},
    "web": set(),
}
ALLOWED_UP = ("intake/cli/",)
# Folders whose top level holds only modules the map names one by one.
NAMED_ONE_BY_ONE = ("intake/", "routing/")
# The tests of the project as a whole (its map, its docs) mirror no one source folder.
TEST_TOP = {"__init__.py", "conftest.py", "test_architecture.py", "test_docs.py"}


def imported(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in a module, relative ones made absolute."""
    package = path.relative_to(root).parent.parts
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            found.append((node.lineno, ".".join(part for part in (base, node.module or "") if part)))
    return found


def import_violations(root: Path) -> list[str]:
    problems = []
    for top in SOURCE:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(ALLOWED_UP):
                continue
            for line, module in imported(path, root):
                if module.split(".")[0] in FORBIDDEN[top]:
                    problems.append(
                        f"{relative}:{line} imports {module} ({top} may not import {module.split('.')[0]})"
                    )
    return problems


def mapped_paths(root: Path) -> set[str]:
    """The backticked paths of ARCHITECTURE.md's map: folders end in '/', modules in '.py'."""
    text = (root / "ARCHITECTURE.md").read_text()
    section = text.split("## The map", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`((?:config|routing|intake|web|tests)/(?:[a-z_]+/)*(?:[a-z_]+\.py)?)`", section))


def layout_violations(root: Path) -> list[str]:
    mapped = mapped_paths(root)
    folders = {path for path in mapped if path.endswith("/")}
    problems = [
        f"ARCHITECTURE.md names {path}, which does not exist"
        for path in sorted(mapped)
        if not (root / path).exists()
    ]
    for top in SOURCE:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            folder = relative.rsplit("/", 1)[0] + "/"
            if relative in mapped or (path.name == "__init__.py" and folder in folders):
                continue
            if folder in NAMED_ONE_BY_ONE:
                if path.name != "__main__.py" or folder != "intake/":
                    problems.append(
                        f"{relative} sits at the top of {folder}, where the map names each module"
                    )
            elif not any(folder.startswith(named) for named in folders - set(NAMED_ONE_BY_ONE)):
                problems.append(
                    f"{relative} is in {folder}, a folder the map in ARCHITECTURE.md does not name"
                )
    return problems


def mirror_violations(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "tests").rglob("*.py")):
        relative = path.relative_to(root / "tests")
        if len(relative.parts) == 1:
            if relative.name not in TEST_TOP:
                problems.append(
                    f"tests/{relative}: a test sits in a folder mirroring its source (tests/intake/email/, ...)"
                )
            continue
        folder = relative.parent
        if folder.parts[0] != "support" and not (root / folder).is_dir():
            problems.append(f"tests/{relative}: tests/{folder}/ mirrors no source folder")
        if not (path.parent / "__init__.py").exists():
            problems.append(f"tests/{folder}/ has no __init__.py")
    return problems


def test_imports_point_one_way() -> None:
    problems = import_violations(ROOT)
    assert not problems, "\n".join(problems)


def test_every_module_sits_where_the_map_says() -> None:
    problems = layout_violations(ROOT)
    assert not problems, "\n".join(problems)


def test_tests_mirror_the_source() -> None:
    problems = mirror_violations(ROOT)
    assert not problems, "\n".join(problems)


def test_a_wrong_import_is_named(tmp_path: Path) -> None:
    for top in SOURCE:
        (tmp_path / top).mkdir()
    (tmp_path / "routing" / "engine.py").write_text("from config.settings import Settings\nimport web.app\n")
    (tmp_path / "config" / "loading.py").write_text("from routing.engine import Router\n")
    (tmp_path / "intake" / "cli").mkdir()
    (tmp_path / "intake" / "cli" / "runtime.py").write_text("from web.app import create_app\n")
    (tmp_path / "intake" / "email.py").write_text("from web import app\n")
    assert import_violations(tmp_path) == [
        "config/loading.py:1 imports routing.engine (config may not import routing)",
        "routing/engine.py:2 imports web.app (routing may not import web)",
        "intake/email.py:1 imports web (intake may not import web)",
    ]


def test_a_module_off_the_map_is_named(tmp_path: Path) -> None:
    (tmp_path / "ARCHITECTURE.md").write_text(
        "## The map\n- `intake/email/`\n- `routing/engine.py`\n- `web/`\n"
    )
    for folder in ("config", "intake/email", "intake/phone", "routing", "web"):
        (tmp_path / folder).mkdir(parents=True)
    for module in (
        "intake/twilio_sms.py",
        "intake/email/smtp.py",
        "intake/phone/sms.py",
        "routing/engine.py",
    ):
        (tmp_path / module).write_text("")
    (tmp_path / "routing/people.py").write_text("")
    (tmp_path / "web/app.py").write_text("")
    assert layout_violations(tmp_path) == [
        "routing/people.py sits at the top of routing/, where the map names each module",
        "intake/phone/sms.py is in intake/phone/, a folder the map in ARCHITECTURE.md does not name",
        "intake/twilio_sms.py sits at the top of intake/, where the map names each module",
    ]
