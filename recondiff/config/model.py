"""The validated configuration of a run (docs/config.md): one frozen
dataclass per table of ``recondiff.toml``. :mod:`recondiff.config.load` reads
and checks the file into these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from recondiff.config.notify import NotifyTarget
from recondiff.config.source import SourceConfig
from recondiff.vocabulary import DEFAULT_SITUATION_RESPONSES

FORMATS = ("csv", "ldif", "jsonl", "parquet")
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
    # privileged groups held outside the identity system raise alerts (docs/config.md):
    # AD's well-known ones with kind = "ad", plus these (a group's CN or full DN)
    privileged_groups: tuple[str, ...] = ()
    privileged_alerts: bool = True
    # [endpoint.source]: a live directory to explore (docs/explore.md); without a
    # `snapshot` key, compare writes the explored one under OUTDIR and points here
    source: SourceConfig | None = None
    snapshot_from_source: bool = False

    def privileged_attributes(self) -> tuple[str, ...]:
        """The attributes the default privileged alerts read from the snapshot even
        when no [[attribute]] maps them (recondiff/plan/privileged.py): an explore
        must read them too (docs/config.md, "Privileged groups")."""
        if not self.privileged_alerts:
            return ()
        if self.kind == "ad":
            return ("memberOf", "adminCount", "primaryGroupID")
        return ("memberOf",) if self.privileged_groups else ()


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
    source: SourceConfig | None = None  # [repository.source], as [endpoint.source]
    snapshot_from_source: bool = False


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
    """An ``[[attribute]]``: each side a column (``endpoint``, ``repository``) or a
    SQL expression over that side's columns (``endpoint_sql``, ``repository_sql``;
    docs/config.md, "Derived values"). ``name`` labels it in the outputs (drift.csv,
    report, plan); it defaults to the endpoint column. An expression side is never
    written, asserted or read by name (recondiff/config/attributes.py refuses the
    responses that would write it)."""

    endpoint: str | None = None
    repository: str | None = None
    compare: str = "exact"
    on_drift: str = "review"
    capability: bool = False
    membership: str | None = None
    rules: tuple[DriftRule, ...] = ()
    endpoint_sql: str | None = None
    repository_sql: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.endpoint or "")

    @property
    def repository_label(self) -> str:
        """The repository side as outputs name it: its column, or ``name`` for an expression."""
        return self.repository if self.repository is not None else self.name


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
    # the key compare signs the plan with (docs/signing.md); $RECONDIFF_SIGNING_KEY overrides
    signing_key: Path | None = None


@dataclass(frozen=True)
class TrustEntry:
    """A ``[[trust.key]]``: a public key allowed to sign plans or decisions
    (checked by recondiff.io.signing when the config is loaded)."""

    name: str
    public: str
    roles: tuple[str, ...]
    where: str  # "FILE: [[trust.key]] #N", for messages


@dataclass(frozen=True)
class TrustConfig:
    """``[trust]``: a trust file (relative to the config) and/or inline keys
    (docs/signing.md). Empty: nothing is trusted."""

    file: Path | None = None
    keys: tuple[TrustEntry, ...] = ()


@dataclass(frozen=True)
class SparkConfig:
    """``[engine.spark]``: where the heavy steps run when ``[engine] kind =
    "spark"`` (docs/spark.md). ``conf``: Spark settings passed through, only
    those of :data:`recondiff.config.load.SPARK_SETTINGS` (a config is code:
    none may load code or reach beyond the run's files)."""

    master: str = "local[*]"
    conf: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EngineConfig:
    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: Path | None = None
    kind: str = "duckdb"  # or "spark" (recondiff/engine/spark_run.py)
    spark: SparkConfig = SparkConfig()


@dataclass(frozen=True)
class ReportConfig:
    rows_per_table: int = 500
    segment: str | None = None
    max_age_hours: float = 24.0
    max_apart_hours: float = 12.0
    csv_bom: bool = False


@dataclass(frozen=True)
class PolicyConfig:
    """One ``[[policy]]`` (docs/policies.md): when ``when`` holds for an identity,
    its ``sets`` (constants), ``set_sql`` (expressions) and ``grants`` (values of
    multi-valued columns) are what the identity should hold. Column names as
    written; resolved against the repository snapshot at compare."""

    name: str
    when: str
    sets: tuple[tuple[str, str], ...] = ()
    set_sql: tuple[tuple[str, str], ...] = ()
    grants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reapply: bool = False


POLICY_RESPONSES = ("update_repository", "review", "do_nothing")


@dataclass(frozen=True)
class PoliciesConfig:
    """``[policies]`` and the ``[[policy]]`` list (seed 003, docs/policies.md)."""

    applied: str | None = None  # the repository column of the policies already applied
    max_recursion: int = 3  # evaluation passes in one run
    response: str = "update_repository"  # the repository event of a changed identity
    policies: tuple[PolicyConfig, ...] = ()


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
    trust: TrustConfig = TrustConfig()
    policies: PoliciesConfig = PoliciesConfig()
    notify: tuple[NotifyTarget, ...] = ()  # [[notify]] (config/notify.py)

    def response_for(self, situation: str) -> str:
        return self.situations.get(situation, DEFAULT_SITUATION_RESPONSES[situation])
