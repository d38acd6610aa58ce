"""Load and validate ``recondiff.toml``.

Validation is strict and every error is one line naming the file and the key
and saying what is allowed (docs/config.md is the reference). Checks that need
the snapshots (does an attribute exist?) happen in :mod:`recondiff.compare`
once the snapshot schemas are known; they raise :class:`ConfigError` too.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from recondiff.errors import ConfigError
from recondiff.io.csvsafe import is_delimiter
from recondiff.vocabulary import (
    COMPARE_KINDS,
    DEFAULT_SITUATION_RESPONSES,
    DRIFT_KINDS,
    DRIFT_RESPONSES,
    RESPONSES,
    SET_KINDS,
    SITUATION_RESPONSES,
    SITUATIONS,
)

FORMATS = ("csv", "ldif", "jsonl", "parquet")
_T = TypeVar("_T")

# Bounds of the numeric settings (docs/config.md): a value outside is a one-line
# error at load, never a traceback or a run that stalls the machine.
MAX_COUNT = 1_000_000_000  # any count of records (max_deletes, ...)
MAX_HOURS = 87_600.0  # ten years
MAX_ROWS_PER_TABLE = 100_000
MAX_THREADS = 256
MIN_MEMORY = 64 * 1000**2  # bytes; DuckDB needs some to run at all
_MEMORY_UNITS = {
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", re.IGNORECASE)
# A {column} of [endpoint] create_dn (planner.py fills them)
_DN_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")

ENDPOINT_KINDS = ("ldap", "ad", "openldap")
DISABLE_METHODS = ("ad", "openldap", "attribute")
REJECTED_ACTIONS = ("disable", "delete")


@dataclass(frozen=True)
class DisableConfig:
    """How ``disable_in_endpoint`` disables an account (docs/plan.md)."""

    method: str
    attribute: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    snapshot: Path
    key: str
    format: str | None = None
    multi_valued: tuple[str, ...] = ()
    separator: str = ";"
    delimiter: str | None = None
    scope: str | None = None
    protected: tuple[str, ...] = ()
    incremental: bool = False
    kind: str = "ldap"
    disable: DisableConfig = DisableConfig("openldap")
    create_dn: str | None = None
    create_object_class: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepositoryConfig:
    snapshot: Path
    key: str
    name: str = "repository"
    format: str | None = None
    link: str | None = None
    status: str | None = None
    deleted_values: tuple[str, ...] = ()
    multi_valued: tuple[str, ...] = ()
    separator: str = ";"
    delimiter: str | None = None
    scope: str | None = None
    expect_account: bool = False


@dataclass(frozen=True)
class CorrelationRule:
    name: str
    compare: str
    endpoint: str | None = None
    repository: str | None = None
    endpoint_sql: str | None = None
    repository_sql: str | None = None


@dataclass(frozen=True)
class DriftRule:
    """A value-pattern rule of one attribute: the first that fits a drift row decides."""

    match: str
    kind: str = "any"
    response: str = "review"
    alert: str | None = None


@dataclass(frozen=True)
class AttributeMapping:
    endpoint: str
    repository: str
    compare: str = "exact"
    on_drift: str = "review"
    capability: bool = False
    membership: str | None = None
    rules: tuple[DriftRule, ...] = ()


@dataclass(frozen=True)
class PlanConfig:
    new_account_rejected_action: str = "disable"
    default_identity: str | None = None
    max_deletes: int = 50
    max_delete_percent: float = 5.0
    # the other mass-change guards (docs/plan.md, Guards): count and share of the endpoint
    max_value_removals: int = 50
    max_value_removal_percent: float = 5.0
    max_membership_removals: int = 50
    max_membership_removal_percent: float = 5.0
    max_modifies: int = 500
    max_modify_percent: float = 25.0
    max_shrink_percent: float = 10.0


@dataclass(frozen=True)
class EngineConfig:
    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: Path | None = None


@dataclass(frozen=True)
class ReportConfig:
    rows_per_table: int = 500
    segment: str | None = None
    max_age_hours: float = 24.0
    max_apart_hours: float = 12.0
    csv_bom: bool = False


@dataclass(frozen=True)
class Config:
    path: Path
    endpoint: EndpointConfig
    repository: RepositoryConfig
    correlation: tuple[CorrelationRule, ...] = ()
    attributes: tuple[AttributeMapping, ...] = ()
    situations: Mapping[str, str] = field(default_factory=dict)
    engine: EngineConfig = EngineConfig()
    plan: PlanConfig = PlanConfig()
    report: ReportConfig = ReportConfig()

    def response_for(self, situation: str) -> str:
        return self.situations.get(situation, DEFAULT_SITUATION_RESPONSES[situation])


class _Section:
    """Reads one TOML table, remembering which keys were used, so that every
    key left over is reported as unknown with a suggestion."""

    def __init__(self, file: Path, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {where} must be a table, not {_type_name(data)}")
        self.file = file
        self.where = where
        self.data: dict[str, Any] = data
        self.allowed: list[str] = []

    def _err(self, key: str, message: str) -> ConfigError:
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
            raise self._err(key, f"must be a string, got {value!r}")
        if not value.strip():
            fix = "give a value" if required else "give a value or leave the key out"
            raise self._err(key, f"is empty; {fix}")
        return value

    def req_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.string(key, default=default)
        if value is not None and value not in choices:
            raise self._err(
                key, f"{value!r} is not one of {', '.join(choices)}{_hint(value, choices)}"
            )
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._err(key, f"must be true or false, got {value!r}")
        return value

    def integer(self, key: str, minimum: int = 1, maximum: int = MAX_COUNT) -> int | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise self._err(key, f"must be {what}, got {value!r}")
        if value > maximum:
            raise self._err(key, f"must be at most {maximum}, got {value!r}")
        return value

    def percent(self, key: str) -> float | None:
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise self._err(key, f"must be a number from 0 to 100, got {value!r}")
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
            raise self._err(
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
            raise self._err(key, f'must be a list of strings, like ["a", "b"], got {value!r}')
        return tuple(value)

    def finish(self) -> None:
        for key in self.data:
            if key not in self.allowed:
                raise ConfigError(
                    f"{self.file}: {self.where} has unknown key '{key}'{_hint(key, self.allowed)}"
                    f" (allowed: {', '.join(self.allowed)})"
                )


def _type_name(value: Any) -> str:
    names: dict[type, str] = {dict: "a table", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _hint(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def load_config(path: str | Path) -> Config:
    """Read and validate a config file. Raises :class:`ConfigError`."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file; pass -c PATH to recondiff.toml") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text; save the config as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, file)


def parse_config(data: dict[str, Any], file: Path) -> Config:
    base = file.parent
    top = _Section(file, "config", data)
    top.allowed = [
        "endpoint",
        "repository",
        "correlation",
        "attribute",
        "situations",
        "plan",
        "report",
        "engine",
    ]
    top.finish()
    if "endpoint" not in data:
        raise ConfigError(f"{file}: missing required table [endpoint]")
    if "repository" not in data:
        raise ConfigError(f"{file}: missing required table [repository]")

    s = _Section(file, "[endpoint]", data["endpoint"])
    endpoint = EndpointConfig(
        name=s.req_string("name"),
        snapshot=base / s.req_string("snapshot"),
        key=s.req_string("key"),
        format=s.choice("format", FORMATS, None),
        multi_valued=s.strings("multi_valued") or (),
        separator=_separator(s),
        delimiter=_delimiter(s),
        scope=s.string("scope"),
        protected=s.strings("protected") or (),
        incremental=s.boolean("incremental", False),
        kind=s.choice("kind", ENDPOINT_KINDS, "ldap") or "ldap",
        create_dn=s.string("create_dn"),
        create_object_class=s.strings("create_object_class") or (),
    )
    raw_disable = s.table("disable")
    s.finish()
    endpoint = replace(endpoint, disable=_disable(file, endpoint.kind, raw_disable))
    if endpoint.scope is not None:
        check_expression(file, "[endpoint] scope", endpoint.scope, endpoint.snapshot)
    if endpoint.create_dn is not None:
        _check_create_dn(file, endpoint.create_dn)

    s = _Section(file, "[repository]", data["repository"])
    status = s.string("status")
    deleted = s.strings("deleted_values")
    if deleted is None:
        deleted = ("deleted", "terminated") if status else ()
    elif deleted and not status:
        raise ConfigError(
            f"{file}: [repository] deleted_values needs 'status' naming the status column"
        )
    repository = RepositoryConfig(
        name=s.string("name", default="repository") or "repository",
        snapshot=base / s.req_string("snapshot"),
        key=s.req_string("key"),
        format=s.choice("format", FORMATS, None),
        link=s.string("link"),
        status=status,
        deleted_values=deleted,
        multi_valued=s.strings("multi_valued") or (),
        separator=_separator(s),
        delimiter=_delimiter(s),
        scope=s.string("scope"),
        expect_account=s.boolean("expect_account", False),
    )
    s.finish()
    if repository.scope is not None:
        check_expression(file, "[repository] scope", repository.scope, repository.snapshot)

    rules = []
    raw_rules = data.get("correlation", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{file}: correlation must be written [[correlation]] (a list of tables)")
    names: set[str] = set()
    for i, raw_rule in enumerate(raw_rules, 1):
        s = _Section(file, f"[[correlation]] #{i}", raw_rule)
        name = s.req_string("name")
        if name.lower() in names:
            raise ConfigError(
                f"{file}: [[correlation]] #{i} name '{name}' is used twice; names must be unique"
            )
        names.add(name.lower())
        rule = CorrelationRule(
            name=name,
            compare=s.choice("compare", COMPARE_KINDS, "casefold_trim") or "casefold_trim",
            endpoint=s.string("endpoint"),
            repository=s.string("repository"),
            endpoint_sql=s.string("endpoint_sql"),
            repository_sql=s.string("repository_sql"),
        )
        s.finish()
        for side in ("endpoint", "repository"):
            attr, expr = getattr(rule, side), getattr(rule, f"{side}_sql")
            if (attr is None) == (expr is None):
                raise ConfigError(
                    f"{file}: [[correlation]] #{i} ('{name}') needs exactly one of "
                    f"'{side}' (an attribute) or '{side}_sql' (a SQL expression)"
                )
            if expr is not None:
                snapshot = endpoint.snapshot if side == "endpoint" else repository.snapshot
                check_expression(file, f"[[correlation]] #{i} {side}_sql", expr, snapshot)
        rules.append(rule)

    attributes = []
    raw_attrs = data.get("attribute", [])
    if not isinstance(raw_attrs, list):
        raise ConfigError(f"{file}: attribute must be written [[attribute]] (a list of tables)")
    seen: dict[str, int] = {}
    for i, raw_attr in enumerate(raw_attrs, 1):
        s = _Section(file, f"[[attribute]] #{i}", raw_attr)
        mapping = AttributeMapping(
            endpoint=s.req_string("endpoint"),
            repository=s.req_string("repository"),
            compare=s.choice("compare", COMPARE_KINDS, "exact") or "exact",
            on_drift=s.choice("on_drift", DRIFT_RESPONSES, "review") or "review",
        )
        capability = s.boolean("capability", False)
        membership = s.string("membership")
        mapping = replace(
            mapping,
            capability=capability or membership is not None,
            membership=membership,
            rules=_rules(file, i, s.table("rule")),
        )
        s.finish()
        if mapping.membership and mapping.compare not in SET_KINDS:
            raise ConfigError(
                f"{file}: [[attribute]] #{i} membership needs a set compare kind "
                f"(set, casefold_set, dn_set), not {mapping.compare!r}"
            )
        if mapping.endpoint.lower() in seen:
            raise ConfigError(
                f"{file}: [[attribute]] #{i} endpoint '{mapping.endpoint}' is already mapped by "
                f"[[attribute]] #{seen[mapping.endpoint.lower()]}; map each endpoint attribute once"
            )
        seen[mapping.endpoint.lower()] = i
        attributes.append(mapping)

    s = _Section(file, "[situations]", data.get("situations", {}))
    situations: dict[str, str] = {}
    for key, value in s.data.items():
        if key not in SITUATIONS:
            raise ConfigError(
                f"{file}: [situations] has unknown situation '{key}'{_hint(key, SITUATIONS)}"
                f" (allowed: {', '.join(SITUATIONS)})"
            )
        allowed = SITUATION_RESPONSES[key]
        if not isinstance(value, str) or value not in allowed:
            what = "is not a response" if value not in RESPONSES else "does not apply here"
            raise ConfigError(
                f"{file}: [situations] {key}: {value!r} {what}"
                f"{_hint(str(value), allowed)} (allowed for {key}: {', '.join(allowed)})"
            )
        situations[key] = value

    s = _Section(file, "[plan]", data.get("plan", {}))
    plan = PlanConfig(
        new_account_rejected_action=s.choice(
            "new_account_rejected_action", REJECTED_ACTIONS, "disable"
        )
        or "disable",
        default_identity=s.string("default_identity"),
        max_deletes=_or(s.integer("max_deletes", minimum=0), 50),
        max_delete_percent=_or(s.percent("max_delete_percent"), 5.0),
        max_value_removals=_or(s.integer("max_value_removals", minimum=0), 50),
        max_value_removal_percent=_or(s.percent("max_value_removal_percent"), 5.0),
        max_membership_removals=_or(s.integer("max_membership_removals", minimum=0), 50),
        max_membership_removal_percent=_or(s.percent("max_membership_removal_percent"), 5.0),
        max_modifies=_or(s.integer("max_modifies", minimum=0), 500),
        max_modify_percent=_or(s.percent("max_modify_percent"), 25.0),
        max_shrink_percent=_or(s.percent("max_shrink_percent"), 10.0),
    )
    s.finish()
    responses = {situations.get(k, v) for k, v in DEFAULT_SITUATION_RESPONSES.items()}
    if "assign_default_user" in responses and not plan.default_identity:
        raise ConfigError(
            f"{file}: [situations] uses assign_default_user, which needs "
            "[plan] default_identity = '<identity key>'"
        )

    s = _Section(file, "[report]", data.get("report", {}))
    report = ReportConfig(
        rows_per_table=_or(s.integer("rows_per_table", maximum=MAX_ROWS_PER_TABLE), 500),
        segment=s.string("segment"),
        max_age_hours=_or(s.hours("max_age_hours"), 24.0),
        max_apart_hours=_or(s.hours("max_apart_hours"), 12.0),
        csv_bom=s.boolean("csv_bom", False),
    )
    s.finish()

    s = _Section(file, "[engine]", data.get("engine", {}))
    temp = s.string("temp_directory")
    engine = EngineConfig(
        memory_limit=_memory_limit(s, s.string("memory_limit")),
        threads=s.integer("threads", maximum=MAX_THREADS),
        temp_directory=_temp_directory(s, base / temp) if temp else None,
    )
    s.finish()

    return Config(
        path=file,
        endpoint=endpoint,
        repository=repository,
        correlation=tuple(rules),
        attributes=tuple(attributes),
        situations=situations,
        engine=engine,
        plan=plan,
        report=report,
    )


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def check_expression(file: Path, key: str, expression: str, snapshot: Path) -> None:
    """Refuse a config SQL expression (scope, endpoint_sql, repository_sql) that
    is not exactly one expression, or that holds a subquery, table function or
    anything else that could reach outside the snapshot (recondiff.engine.confine).
    Parses only: nothing of the expression is run."""
    from recondiff.engine import confine  # here: it imports DuckDB

    problem = confine.expression_problem(expression)
    if problem is None:
        return
    what, why = problem
    if what == "syntax":
        raise ConfigError(f"{file}: {key} is not a valid SQL expression over {snapshot}: {why}")
    raise ConfigError(f"{file}: {key} must be one SQL expression, but {why}; {confine.ALLOWED}")


def dn_placeholders(template: str) -> list[str]:
    """The {column} names of an [endpoint] create_dn template, as written
    ({key} is the account's key; any other names a repository column)."""
    return [m.group(1).strip() for m in _DN_PLACEHOLDER.finditer(template)]


def _check_create_dn(file: Path, template: str) -> None:
    """[endpoint] create_dn: every {placeholder} names something (whether the
    column exists is checked against the repository snapshot, compare._Fills)."""
    if any(not name for name in dn_placeholders(template)):
        raise ConfigError(
            f"{file}: [endpoint] create_dn: a placeholder is blank; write a repository "
            "column name inside { }, such as \"CN={display_name},OU=Staff,DC=example,DC=org\""
        )


def _memory_limit(s: _Section, value: str | None) -> str | None:
    """[engine] memory_limit: a DuckDB size between MIN_MEMORY and this machine's memory."""
    if value is None:
        return None
    match = _MEMORY.fullmatch(value)
    unit = _MEMORY_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise s._err(
            "memory_limit",
            f'{value!r} is not a size like "2GB" or "512MB" (units KB, MB, GB, TB, or KiB, '
            "MiB, GiB, TiB)",
        )
    size = float(match.group(1)) * unit
    physical = _physical_memory()
    if size < MIN_MEMORY:
        raise s._err("memory_limit", f"{value!r} is too small to run; give at least 64MB")
    if physical is not None and size > physical:
        raise s._err(
            "memory_limit",
            f"{value!r} is more than this machine's memory ({physical / 1024**3:.1f} GiB); "
            "give less, or leave it out (default 1GB; beyond it, work spills to temp_directory)",
        )
    return value


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def _temp_directory(s: _Section, path: Path) -> Path:
    """[engine] temp_directory: a directory, or one that can be created, where
    this user may write."""
    if path.exists() and not path.is_dir():
        raise s._err("temp_directory", f"{path} is not a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise s._err("temp_directory", f"{existing} is a file, so {path} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "" if existing == path else f" (its nearest existing parent {existing})"
        raise s._err(
            "temp_directory",
            f"{path}{what} is not writable by this user; give a directory recondiff can write to",
        )
    return path


def _disable(file: Path, kind: str, raw: Any) -> DisableConfig:
    """[endpoint.disable]; by default AD's userAccountControl bit or OpenLDAP's lock."""
    if raw is None:
        # a plain LDAP server: the password-policy lock (draft-behera ppolicy)
        return DisableConfig("ad" if kind == "ad" else "openldap")
    s = _Section(file, "[endpoint.disable]", raw)
    method = s.choice("method", DISABLE_METHODS, None)
    attribute, value = s.string("attribute"), s.string("value")
    s.finish()
    if method is None:
        method = "attribute" if attribute else "ad" if kind == "ad" else "openldap"
    if method == "attribute" and not (attribute and value):
        raise ConfigError(
            f"{file}: [endpoint.disable] method 'attribute' needs attribute and value "
            "(for example attribute = 'nsAccountLock', value = 'TRUE')"
        )
    return DisableConfig(method, attribute, value)


def _rules(file: Path, i: int, raw: Any) -> tuple[DriftRule, ...]:
    """[[attribute.rule]] tables of attribute #i."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: [[attribute]] #{i} rule must be written [[attribute.rule]]")
    rules = []
    for j, raw_rule in enumerate(raw, 1):
        s = _Section(file, f"[[attribute]] #{i} rule #{j}", raw_rule)
        rule = DriftRule(
            match=s.req_string("match"),
            kind=s.choice("kind", DRIFT_KINDS, "any") or "any",
            response=s.choice("response", DRIFT_RESPONSES, "review") or "review",
            alert=s.string("alert"),
        )
        s.finish()
        rules.append(rule)
    return tuple(rules)


def _delimiter(s: _Section) -> str | None:
    """The CSV field delimiter: one ASCII character (the CSV reader takes one byte),
    not a quote or a line break."""
    delimiter = s.string("delimiter")
    if delimiter is not None and not is_delimiter(delimiter):
        raise ConfigError(
            f"{s.file}: {s.where} delimiter: must be one ASCII character other than a quote or a "
            f'line break (",", ";" or "\\t" for a tab), got {delimiter!r}'
        )
    return delimiter


def _separator(s: _Section) -> str:
    sep = s.string("separator", default=";") or ";"
    if len(sep) != 1:
        raise ConfigError(f"{s.file}: {s.where} separator: must be one character, got {sep!r}")
    return sep
