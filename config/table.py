"""A TOML table being read: typed getters whose errors name the file and the full key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config.settings import ListenAddress

PHONE = re.compile(r"^\+[1-9][0-9]{5,14}\Z")
ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")
# Never in a value: NUL cannot be stored, and the others are no text anyone means. Tabs
# may be anywhere; line breaks only in texts of several lines (`Table.text(lines=True)`).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_BREAK = re.compile(r"[\n\r]")
_HOST = re.compile(r"^[^\s\x00-\x1f\x7f]+\Z")
_PORT = re.compile(r"^[0-9]{1,5}\Z")


class ConfigError(Exception):
    """A configuration file that cannot be used, with the key at fault."""

    def __init__(self, source: Path, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem


class Table:
    """One TOML table being read: typed getters that name the full key on error."""

    def __init__(self, source: Path, prefix: str, data: Mapping[str, Any]) -> None:
        self.source, self.prefix, self.data = source, prefix, data

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def only(self, *allowed: str) -> None:
        for name in self.data:
            if name not in allowed:
                raise self.fail(name, f"unknown key (allowed here: {', '.join(allowed)})")

    def get(self, name: str, kind: type, default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "is required")
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(name, f"must be {kind.__name__}, not {type(value).__name__}")
        if isinstance(value, str) and CONTROL.search(value):
            # Not repeated: it may be a secret.
            raise self.fail(name, "holds a control character (such as NUL)")
        return value

    def text(self, name: str, default: Any = ..., lines: bool = False) -> str:
        """A string that is not blank, on one line unless `lines`."""
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(name, "must not be empty")
        if isinstance(value, str) and not lines and LINE_BREAK.search(value):
            raise self.fail(name, "must be on one line")
        return value  # type: ignore[no-any-return]

    def line(self, name: str) -> str:
        """An optional string on one line, "" when left out."""
        value: str = self.get(name, str, "")
        if LINE_BREAK.search(value):
            raise self.fail(name, "must be on one line")
        return value

    def from_env(self, name: str, env: Mapping[str, str], example: str) -> str:
        """The secret in the environment variable that key `name` names (a password,
        a token), so that the secret itself stays out of the config file."""
        variable = self.text(name)
        if not ENV_NAME.match(variable):
            # It may be the secret itself, pasted in the wrong key: never repeat it.
            raise self.fail(name, f"is not an environment variable name such as {example}")
        if not env.get(variable):
            raise self.fail(name, f"the environment variable {variable} is not set")
        return self.secret(name, variable, env[variable])

    def secret(self, name: str, variable: str, value: str) -> str:
        """`value`, read from the environment variable `variable` for key `name`, unless it
        holds a line break or a control character: a secret pasted with its file's last
        newline would fail every login or signature, far from its cause."""
        if LINE_BREAK.search(value) or CONTROL.search(value):
            raise self.fail(
                name, f"the environment variable {variable} holds a line break or a control character"
            )
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.get(name, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(name, "must be a list of strings")
        if any(CONTROL.search(v) for v in values):
            raise self.fail(name, "holds a control character (such as NUL)")
        if any(LINE_BREAK.search(v) for v in values):
            raise self.fail(name, "must hold entries of one line each")
        return tuple(values)

    def table(self, name: str) -> Table:
        return Table(self.source, self.key(name), self.get(name, dict, {}))

    def tables(self, name: str) -> list[Table]:
        values = self.get(name, list, [])
        if not all(isinstance(v, dict) for v in values):
            raise self.fail(name, "must be an array of tables ([[" + self.key(name) + "]])")
        return [Table(self.source, f"{self.key(name)}[{i}]", v) for i, v in enumerate(values)]


def read_listen(table: Table, name: str, override: str | None, default: str) -> ListenAddress:
    text = override if override is not None else table.get(name, str, default)
    return parse_listen(text, lambda problem: table.fail(name, problem))


def parse_listen(text: str, error: Any = ValueError) -> ListenAddress:
    """Parse "HOST:PORT" (an IPv6 host in brackets), raising error(problem) when bad."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not _HOST.match(host) or not _PORT.match(port) or not 0 < int(port) < 65536:
        raise error(f"{text!r} is not HOST:PORT with a port from 1 to 65535")
    return ListenAddress(host, int(port))


def seconds(table: Table, name: str, default: float, limit: float) -> float:
    value: float = table.get(name, float, default)
    if not value > 0:  # nan is neither greater nor smaller
        raise table.fail(name, "must be greater than 0")
    if value > limit:
        raise table.fail(name, f"must be at most {limit:g}")
    return value


def bounded(table: Table, name: str, default: Any, low: Any, high: Any) -> Any:
    value = table.get(name, type(default), default)
    if not low <= value <= high:
        raise table.fail(name, f"must be from {low} to {high}")
    return value
