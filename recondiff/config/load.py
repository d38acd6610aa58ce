"""Load and validate ``recondiff.toml``.

Validation is strict and every error is one line naming the file and the key
and saying what is allowed (docs/config.md is the reference). Checks that need
the snapshots (does an attribute exist?) happen in :mod:`recondiff.compare`
once the snapshot schemas are known; they raise :class:`ConfigError` too.

:func:`parse_config` reads the tables in a fixed order, one function each
(the first fault found is the one reported); the dataclasses they fill are
:mod:`recondiff.config.model`, the typed getters :mod:`recondiff.config.section`.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from recondiff.config.attributes import parse_attributes
from recondiff.config.model import (
    DISABLE_METHODS,
    ENDPOINT_KINDS,
    FORMATS,
    REJECTED_ACTIONS,
    AttributeMapping,
    Config,
    CorrelationRule,
    DisableConfig,
    DriftRule,
    EndpointConfig,
    EngineConfig,
    PlanConfig,
    ReportConfig,
    RepositoryConfig,
    SparkConfig,
    TrustConfig,
    TrustEntry,
)
from recondiff.config.notify import parse_notify
from recondiff.config.policies import parse_policies
from recondiff.config.section import Section, hint
from recondiff.config.source import SourceConfig, parse_source
from recondiff.errors import ConfigError
from recondiff.io.csvsafe import is_delimiter
from recondiff.vocabulary import (
    COMPARE_KINDS,
    DEFAULT_SITUATION_RESPONSES,
    RESPONSES,
    SITUATION_RESPONSES,
    SITUATIONS,
)

__all__ = [
    "AttributeMapping",
    "Config",
    "CorrelationRule",
    "DisableConfig",
    "DriftRule",
    "EndpointConfig",
    "EngineConfig",
    "PlanConfig",
    "ReportConfig",
    "RepositoryConfig",
    "TrustConfig",
    "TrustEntry",
    "check_expression",
    "check_policy_expression",
    "dn_placeholders",
    "load_config",
    "parse_config",
]

_T = TypeVar("_T")

# Bounds of the numeric settings (docs/config.md; the counts' and hours' are
# recondiff.config.section's).
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
# A {column} of [endpoint] create_dn (plan/build.py fills them)
_DN_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")

# The tables of a config, in the order they are read (and listed in an error)
_TABLES = (
    "endpoint",
    "repository",
    "correlation",
    "attribute",
    "situations",
    "plan",
    "report",
    "engine",
    "trust",
    "policies",
    "policy",
    "notify",
)


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
    """The :class:`Config` of a parsed TOML document, table by table."""
    top = Section(file, "config", data)
    top.allowed = list(_TABLES)
    top.finish()
    for required in ("endpoint", "repository"):
        if required not in data:
            raise ConfigError(f"{file}: missing required table [{required}]")
    endpoint = _endpoint(file, data["endpoint"])
    repository = _repository(file, data["repository"])
    correlation = _correlations(file, data.get("correlation", []), endpoint, repository)
    attributes = parse_attributes(file, data.get("attribute", []), endpoint, repository)
    situations = _situations(file, data.get("situations", {}))
    plan = _plan(file, data.get("plan", {}))
    _check_default_identity(file, situations, plan)
    report = _report(file, data.get("report", {}))
    engine = _engine(file, data.get("engine", {}))
    trust = _trust(file, data.get("trust", {}))
    policies = parse_policies(
        file, data.get("policies", {}), data.get("policy", []), repository, check_policy_expression
    )
    notify = parse_notify(file, data.get("notify"))
    return Config(
        path=file,
        endpoint=endpoint,
        repository=repository,
        correlation=correlation,
        attributes=attributes,
        situations=situations,
        engine=engine,
        plan=plan,
        report=report,
        trust=trust,
        policies=policies,
        notify=notify,
    )


def _endpoint(file: Path, raw: Any) -> EndpointConfig:
    """[endpoint] and its [endpoint.disable]."""
    s = Section(file, "[endpoint]", raw)
    endpoint = EndpointConfig(
        name=s.req_string("name"),
        snapshot=_snapshot(file, "endpoint", s),
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
        privileged_groups=_privileged_groups(file, s),
        privileged_alerts=s.boolean("privileged_alerts", True),
    )
    raw_disable = s.table("disable")
    source = _source(file, "endpoint", s)
    s.finish()
    endpoint = replace(
        endpoint,
        disable=_disable(file, endpoint.kind, raw_disable),
        source=source,
        snapshot_from_source=source is not None and "snapshot" not in raw,
    )
    if endpoint.scope is not None:
        check_expression(file, "[endpoint] scope", endpoint.scope, endpoint.snapshot)
    if endpoint.create_dn is not None:
        _check_create_dn(file, endpoint.create_dn)
    return endpoint


def _privileged_groups(file: Path, s: Section) -> tuple[str, ...]:
    """``privileged_groups``: group CNs or DNs, none blank."""
    groups = s.strings("privileged_groups") or ()
    for i, group in enumerate(groups, 1):
        if not group.strip():
            raise ConfigError(
                f"{file}: [endpoint] privileged_groups #{i} is blank; "
                "name a group by its CN (Tier0 Admins) or its DN"
            )
    return tuple(g.strip() for g in groups)


def _repository(file: Path, raw: Any) -> RepositoryConfig:
    """[repository]; ``deleted_values`` defaults to deleted, terminated when there is a status."""
    s = Section(file, "[repository]", raw)
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
        snapshot=_snapshot(file, "repository", s),
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
    source = _source(file, "repository", s)
    s.finish()
    repository = replace(
        repository, source=source, snapshot_from_source=source is not None and "snapshot" not in raw
    )
    if repository.scope is not None:
        check_expression(file, "[repository] scope", repository.scope, repository.snapshot)
    return repository


def _source(file: Path, side: str, s: Section) -> SourceConfig | None:
    raw = s.table("source")
    return None if raw is None else parse_source(file, side, raw)


def _snapshot(file: Path, side: str, s: Section) -> Path:
    """The snapshot's path; with a source and no ``snapshot`` key, the name compare
    gives the explored snapshot under OUTDIR (docs/explore.md)."""
    if "source" in s.data and "snapshot" not in s.data:
        s.allowed.append("snapshot")
        return Path("snapshots") / f"{side}.parquet"
    return file.parent / s.req_string("snapshot")


def _correlations(
    file: Path, raw: Any, endpoint: EndpointConfig, repository: RepositoryConfig
) -> tuple[CorrelationRule, ...]:
    """[[correlation]]: uniquely named rules, each side an attribute or a SQL expression."""
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: correlation must be written [[correlation]] (a list of tables)")
    rules = []
    names: set[str] = set()
    for i, raw_rule in enumerate(raw, 1):
        s = Section(file, f"[[correlation]] #{i}", raw_rule)
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
    return tuple(rules)


def _situations(file: Path, raw: Any) -> dict[str, str]:
    """[situations]: a response, among those the situation accepts, per situation."""
    s = Section(file, "[situations]", raw)
    situations: dict[str, str] = {}
    for key, value in s.data.items():
        if key not in SITUATIONS:
            raise ConfigError(
                f"{file}: [situations] has unknown situation '{key}'{hint(key, SITUATIONS)}"
                f" (allowed: {', '.join(SITUATIONS)})"
            )
        allowed = SITUATION_RESPONSES[key]
        if not isinstance(value, str) or value not in allowed:
            what = "is not a response" if value not in RESPONSES else "does not apply here"
            raise ConfigError(
                f"{file}: [situations] {key}: {value!r} {what}"
                f"{hint(str(value), allowed)} (allowed for {key}: {', '.join(allowed)})"
            )
        situations[key] = value
    return situations


def _plan(file: Path, raw: Any) -> PlanConfig:
    """[plan]: what a rejected new account gets, the default identity, the guards."""
    s = Section(file, "[plan]", raw)
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
    signing_key = s.string("signing_key")
    s.finish()
    return replace(plan, signing_key=file.parent / signing_key) if signing_key else plan


def _check_default_identity(file: Path, situations: dict[str, str], plan: PlanConfig) -> None:
    """assign_default_user needs [plan] default_identity."""
    responses = {situations.get(k, v) for k, v in DEFAULT_SITUATION_RESPONSES.items()}
    if "assign_default_user" in responses and not plan.default_identity:
        raise ConfigError(
            f"{file}: [situations] uses assign_default_user, which needs "
            "[plan] default_identity = '<identity key>'"
        )


def _report(file: Path, raw: Any) -> ReportConfig:
    s = Section(file, "[report]", raw)
    report = ReportConfig(
        rows_per_table=_or(s.integer("rows_per_table", maximum=MAX_ROWS_PER_TABLE), 500),
        segment=s.string("segment"),
        max_age_hours=_or(s.hours("max_age_hours"), 24.0),
        max_apart_hours=_or(s.hours("max_apart_hours"), 12.0),
        csv_bom=s.boolean("csv_bom", False),
    )
    s.finish()
    return report


def _engine(file: Path, raw: Any) -> EngineConfig:
    s = Section(file, "[engine]", raw)
    temp = s.string("temp_directory")
    kind = s.choice("kind", ENGINE_KINDS, "duckdb") or "duckdb"
    raw_spark = s.table("spark")
    engine = EngineConfig(
        memory_limit=_memory_limit(s, s.string("memory_limit")),
        threads=s.integer("threads", maximum=MAX_THREADS),
        temp_directory=_temp_directory(s, file.parent / temp) if temp else None,
        kind=kind,
        spark=_spark(file, raw_spark) if raw_spark is not None else SparkConfig(),
    )
    s.finish()
    if raw_spark is not None and kind != "spark":
        raise ConfigError(
            f'{file}: [engine.spark] is set but [engine] kind is "{kind}"; add '
            'kind = "spark" to [engine], or remove [engine.spark]'
        )
    return engine


ENGINE_KINDS = ("duckdb", "spark")

# The Spark settings a config may pass through ([engine.spark] conf): sizes,
# parallelism and time-outs, by exact key or by a prefix ending in ".". None
# of them names a class, a file, a program, a package or an environment (a
# config is code, but confined: spark.jars, spark.*.extraJavaOptions,
# spark.pyspark.python, spark.sql.extensions, spark.plugins... would run
# anything). Cluster-wide settings belong in spark-defaults.conf or
# spark-submit --conf, which the cluster's owner writes (docs/spark.md).
SPARK_SETTINGS = (
    "spark.app.name",
    "spark.cores.max",
    "spark.default.parallelism",
    "spark.driver.cores",
    "spark.driver.maxResultSize",
    "spark.driver.memory",
    "spark.driver.memoryOverhead",
    "spark.dynamicAllocation.",
    "spark.executor.cores",
    "spark.executor.instances",
    "spark.executor.memory",
    "spark.executor.memoryOverhead",
    "spark.memory.fraction",
    "spark.memory.storageFraction",
    "spark.network.timeout",
    "spark.sql.adaptive.",
    "spark.sql.autoBroadcastJoinThreshold",
    "spark.sql.broadcastTimeout",
    "spark.sql.files.maxPartitionBytes",
    "spark.sql.files.openCostInBytes",
    "spark.sql.shuffle.partitions",
    "spark.task.cpus",
)
_SPARK_VALUE = re.compile(r"[A-Za-z0-9._:+-]{1,64}")


def _spark_setting_allowed(key: str) -> bool:
    if any(word in key.lower() for word in ("class", "rules")):
        # under the prefixes, yet naming classes: spark.sql.adaptive.customCostEvaluatorClass
        # (a class to load), spark.sql.adaptive.optimizer.excludedRules
        return False
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in SPARK_SETTINGS)


def _spark(file: Path, raw: Any) -> SparkConfig:
    """[engine.spark]: ``master`` (a Spark master URL, default local[*]) and
    ``conf``, a table of the settings of :data:`SPARK_SETTINGS`."""
    s = Section(file, "[engine.spark]", raw)
    master = s.string("master", default="local[*]") or "local[*]"
    raw_conf = s.table("conf")
    s.finish()
    if not re.fullmatch(r"(local(\[(\*|[1-9][0-9]{0,3})(,[0-9]{1,3})?\])?|"
                        r"(spark|yarn|k8s|mesos)(://[A-Za-z0-9._\[\]:,/-]+)?|yarn)", master):
        raise s.err("master", f"{master!r} is not a Spark master URL; use local[2], "
                    "local[*], spark://host:7077, yarn or k8s://https://host:port")
    conf: list[tuple[str, str]] = []
    if raw_conf is not None:
        if not isinstance(raw_conf, dict):
            raise s.err("conf", "must be a table of Spark settings, like "
                        '{ "spark.sql.shuffle.partitions" = 200 }')
        for key, value in raw_conf.items():
            if not _spark_setting_allowed(key):
                raise s.err(
                    "conf", f"{key!r} cannot be set from a config (it is not a size, a "
                    "parallelism or a time-out; allowed: " + ", ".join(SPARK_SETTINGS)
                    + "); cluster settings belong in spark-defaults.conf or spark-submit --conf"
                )
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise s.err("conf", f"{key}: must be a string or a number, got {value!r}")
            text = str(value)
            if not _SPARK_VALUE.fullmatch(text):
                raise s.err("conf", f"{key}: {text!r} is not a plain value (letters, digits, "
                            "'.', '_', ':', '+', '-'; at most 64)")
            conf.append((key, text))
    return SparkConfig(master=master, conf=tuple(conf))


def _trust(file: Path, raw: Any) -> TrustConfig:
    """[trust]: ``file`` (a trust file, relative to the config) and/or
    [[trust.key]] tables, each checked as a trust file's [[key]] is."""
    s = Section(file, "[trust]", raw)
    name = s.string("file")
    raw_keys = s.table("key")
    s.finish()
    if raw_keys is None:
        raw_keys = []
    if not isinstance(raw_keys, list):
        raise ConfigError(f"{file}: [trust] key must be written [[trust.key]] (a list of tables)")
    keys = []
    for i, raw_key in enumerate(raw_keys, 1):
        k = Section(file, f"[[trust.key]] #{i}", raw_key)
        entry = TrustEntry(
            name=k.req_string("name"),
            public=k.req_string("public"),
            roles=_roles(k),
            where=f"{file}: [[trust.key]] #{i}",
        )
        k.finish()
        keys.append(entry)
    if keys:
        from recondiff.io.signing import Trust  # here: it loads cryptography

        Trust.from_entries(keys)  # a malformed key, a bad role, a duplicate: one line
    return TrustConfig(file=file.parent / name if name else None, keys=tuple(keys))


def _roles(s: Section) -> tuple[str, ...]:
    roles = s.strings("roles")
    if roles is None:
        raise ConfigError(
            f'{s.file}: {s.where} is missing required key \'roles\' (["plan"], ["decide"] or both)'
        )
    return roles


def _or(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def check_expression(
    file: Path, key: str, expression: str, snapshot: Path, *, stable: bool = False
) -> None:
    """:func:`recondiff.config.expression.check_expression`: refuse a config SQL
    expression that is not exactly one plain expression (parses only); ``stable``
    also refuses random(), uuid(), now(), current_date and the like (a policy's)."""
    from recondiff.config import expression as parse_check  # here: it imports DuckDB

    parse_check.check_expression(file, key, expression, snapshot, stable=stable)


def check_policy_expression(file: Path, key: str, expression: str, snapshot: Path) -> None:
    """:func:`check_expression` for a ``[[policy]]`` when or set_sql: its value must
    follow from the identity's columns alone (``stable=True``)."""
    check_expression(file, key, expression, snapshot, stable=True)


def dn_placeholders(template: str) -> list[str]:
    """The {column} names of an [endpoint] create_dn template, as written
    ({key} is the account's key; any other names a repository column)."""
    return [m.group(1).strip() for m in _DN_PLACEHOLDER.finditer(template)]


def _check_create_dn(file: Path, template: str) -> None:
    """[endpoint] create_dn: every {placeholder} names something (whether the
    column exists is checked against the repository snapshot, engine/fills.Fills)."""
    if any(not name for name in dn_placeholders(template)):
        raise ConfigError(
            f"{file}: [endpoint] create_dn: a placeholder is blank; write a repository "
            "column name inside { }, such as \"CN={display_name},OU=Staff,DC=example,DC=org\""
        )


def _memory_limit(s: Section, value: str | None) -> str | None:
    """[engine] memory_limit: a DuckDB size between MIN_MEMORY and this machine's memory."""
    if value is None:
        return None
    match = _MEMORY.fullmatch(value)
    unit = _MEMORY_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise s.err(
            "memory_limit",
            f'{value!r} is not a size like "2GB" or "512MB" (units KB, MB, GB, TB, or KiB, '
            "MiB, GiB, TiB)",
        )
    size = float(match.group(1)) * unit
    physical = _physical_memory()
    if size < MIN_MEMORY:
        raise s.err("memory_limit", f"{value!r} is too small to run; give at least 64MB")
    if physical is not None and size > physical:
        raise s.err(
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


def _temp_directory(s: Section, path: Path) -> Path:
    """[engine] temp_directory: a directory, or one that can be created, where
    this user may write."""
    if path.exists() and not path.is_dir():
        raise s.err("temp_directory", f"{path} is not a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise s.err("temp_directory", f"{existing} is a file, so {path} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "" if existing == path else f" (its nearest existing parent {existing})"
        raise s.err(
            "temp_directory",
            f"{path}{what} is not writable by this user; give a directory recondiff can write to",
        )
    return path


def _disable(file: Path, kind: str, raw: Any) -> DisableConfig:
    """[endpoint.disable]; by default AD's userAccountControl bit or OpenLDAP's lock."""
    if raw is None:
        # a plain LDAP server: the password-policy lock (draft-behera ppolicy)
        return DisableConfig("ad" if kind == "ad" else "openldap")
    s = Section(file, "[endpoint.disable]", raw)
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


def _delimiter(s: Section) -> str | None:
    """The CSV field delimiter: one ASCII character (the CSV reader takes one byte),
    not a quote or a line break."""
    delimiter = s.string("delimiter")
    if delimiter is not None and not is_delimiter(delimiter):
        raise ConfigError(
            f"{s.file}: {s.where} delimiter: must be one ASCII character other than a quote or a "
            f'line break (",", ";" or "\\t" for a tab), got {delimiter!r}'
        )
    return delimiter


def _separator(s: Section) -> str:
    sep = s.string("separator", default=";") or ";"
    if len(sep) != 1:
        raise ConfigError(f"{s.file}: {s.where} separator: must be one character, got {sep!r}")
    return sep
