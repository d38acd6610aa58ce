"""Reading one table of ``recondiff.toml``: typed getters that raise the
one-line :class:`ConfigError` of docs/config.md, and the unknown-key check
with its "did you mean" hint."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from recondiff.errors import ConfigError

# Bounds of the numeric settings (docs/config.md): a value outside is a one-line
# error at load, never a traceback or a run that stalls the machine.
MAX_COUNT = 1_000_000_000  # any count of records (max_deletes, ...)
MAX_HOURS = 87_600.0  # ten years


class Section:
    """Reads one TOML table, remembering which keys were used, so that every
    key left over is reported as unknown with a suggestion."""

    def __init__(self, file: Path, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {where} must be a table, not {_type_name(data)}")
        self.file = file
        self.where = where
        self.data: dict[str, Any] = data
        self.allowed: list[str] = []

    def err(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.where} {key}: {message}")

    def _get(self, key: str, required: bool) -> Any:
        self.allowed.append(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self.file}: {self.where} is missing required key '{key}'")
            return None
        return self.data[key]

    def string(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.err(key, f"must be a string, got {value!r}")
        if not value.strip():
            fix = "give a value" if required else "give a value or leave the key out"
            raise self.err(key, f"is empty; {fix}")
        return value

    def req_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.string(key, default=default)
        if value is not None and value not in choices:
            raise self.err(
                key, f"{value!r} is not one of {', '.join(choices)}{hint(value, choices)}"
            )
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.err(key, f"must be true or false, got {value!r}")
        return value

    def integer(self, key: str, minimum: int = 1, maximum: int = MAX_COUNT) -> int | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self.err(key, f"must be {what}, got {value!r}")
        if value > maximum:
            raise self.err(key, f"must be at most {maximum}, got {value!r}")
        return value

    def percent(self, key: str) -> float | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise self.err(key, f"must be a number from 0 to 100, got {value!r}")
        return float(value)

    def hours(self, key: str) -> float | None:
        value = self._get(key, False)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value <= MAX_HOURS  # NaN fails too
        ):
            raise self.err(
                key, f"must be a number of hours above 0 and at most {MAX_HOURS:g}, got {value!r}"
            )
        return float(value)

    def table(self, key: str) -> Any:
        return self._get(key, False)

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.err(key, f'must be a list of strings, like ["a", "b"], got {value!r}')
        return tuple(value)

    def finish(self) -> None:
        for key in self.data:
            if key not in self.allowed:
                raise ConfigError(
                    f"{self.file}: {self.where} has unknown key '{key}'{hint(key, self.allowed)}"
                    f" (allowed: {', '.join(self.allowed)})"
                )


def _type_name(value: Any) -> str:
    names: dict[type, str] = {dict: "a table", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def hint(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
