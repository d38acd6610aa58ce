"""Privileged groups held outside the identity system raise alerts by default
(docs/config.md, ``privileged_groups``; docs/plan.md, Alerts).

With ``[endpoint] kind = "ad"``, AD's well-known privileged groups
(:data:`recondiff.vocabulary.PRIVILEGED_GROUPS`) and ``adminCount = 1`` alert
unless ``privileged_alerts = false``; ``privileged_groups`` adds groups (for any
kind). An alert is raised for:

* a drift row ``added`` (on the endpoint, not in the repository) of a group
  attribute (an ``[[attribute]]`` whose endpoint attribute is ``memberOf`` or that
  has ``membership``, under a set compare kind) whose value is a privileged group;
* with kind ``ad``, a drift row of an ``[[attribute]]`` mapping ``adminCount``
  whose endpoint value is 1 and whose repository value is not;
* with kind ``ad``, a drift row of an ``[[attribute]]`` mapping ``primaryGroupID``
  whose endpoint value is a privileged group's RID (:data:`PRIMARY_GROUP_RIDS`:
  a membership ``memberOf`` never lists) and whose repository value is another;
* an account that is neither linked nor correlated (no drift is computed for it:
  ``unmatched``, ``deleted_in_repository``, ``collision``, ``ambiguous``,
  ``excluded``, ``duplicate_key``) whose ``memberOf`` holds a privileged group or
  (kind ``ad``) whose ``adminCount`` is 1 or ``primaryGroupID`` a privileged RID,
  read from the snapshot whether mapped or not (the report's alerts);
* a drift row ``removed`` (in the repository, not on the endpoint: the event adds
  it) of a group attribute whose value is a privileged group an identity policy
  grants (``[[policy]] grant``): the alert names the policy and its ``when``, and
  the row is held for review (one careless ``when`` would add everyone to it).

A drift row's alert from an ``[[attribute.rule]]`` wins; the default adds an alert
to a row and keeps its response, but for ``do_nothing``, which becomes ``review``
(a ``do_nothing`` row has no event, and the alert would be lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recondiff.config.model import AttributeMapping, Config
from recondiff.vocabulary import (
    ADMIN_COUNT_ALERT,
    POLICY_GROUP_ALERT,
    PRIVILEGED_GROUP_ALERT,
    PRIVILEGED_GROUPS,
    SET_KINDS,
    attribute_type,
)

PRIMARY_GROUP_RIDS = ("512", "516", "518", "519")
"""The RIDs of Domain Admins, Domain Controllers, Schema Admins and Enterprise Admins:
an account's ``primaryGroupID`` among them is a privileged membership that
``memberOf`` does not list (AD leaves the primary group out of it)."""

PRIVILEGED_SIDS = (
    "S-1-5-21-*-512",  # Domain Admins
    "S-1-5-21-*-518",  # Schema Admins
    "S-1-5-21-*-519",  # Enterprise Admins
    "S-1-5-21-*-520",  # Group Policy Creator Owners
    "S-1-5-21-*-526",  # Key Admins
    "S-1-5-32-544",  # Administrators
    "S-1-5-32-548",  # Account Operators
    "S-1-5-32-549",  # Server Operators
    "S-1-5-32-550",  # Print Operators
    "S-1-5-32-551",  # Backup Operators
)
"""The well-known privileged groups by SID (MS-DTYP 2.4.2.4), whatever their name in
the domain's language: a group value that is a SID (``tokenGroups``, decoded by
recondiff/ingest/ad.py) matches them. DnsAdmins has no well-known RID."""

GROUP_ATTRIBUTES = frozenset({"memberof", "tokengroups", "tokengroupsglobalanduniversal"})
"""Endpoint attributes that are an account's groups (by DN, or by SID for tokenGroups)."""

PRIVILEGED_OWNERS = {
    "unmatched": "an account no identity owns",
    "deleted_in_repository": "an account whose identity is deleted",
    "collision": "an account two identities claim",
    "ambiguous": "an account several identities may own",
    "excluded": "an account excluded from the compare",
    "duplicate_key": "an account whose key another account also has",
}
"""The report's words for the account of a default alert, by situation."""


@dataclass(frozen=True)
class Privileged:
    """What the default alerts look for: group names (CNs) and DNs, and the
    ``[[attribute]]``s (1-based) whose drift they read."""

    names: list[str]
    dns: list[str]
    group_attrs: list[int]
    admin_count_attrs: list[int]
    admin_count: bool  # kind = "ad": adminCount = 1 and primaryGroupID alert too
    primary_group_attrs: list[int]

    def params(self) -> dict[str, Any]:
        """The parameters of plan/privileged.sql and report/privileged_default.sql."""
        return {
            "privileged_names": self.names,
            "privileged_dns": self.dns,
            "group_attrs": self.group_attrs,
            "admin_count_attrs": self.admin_count_attrs,
            "primary_group_attrs": self.primary_group_attrs,
            "primary_group_rids": list(PRIMARY_GROUP_RIDS),
            "group_alert": PRIVILEGED_GROUP_ALERT,
            "admin_count_alert": ADMIN_COUNT_ALERT,
        }


def plan_params(cfg: Config, found: Privileged) -> dict[str, Any]:
    """The parameters of plan/privileged.sql: :meth:`Privileged.params`, each
    ``[[attribute]]``'s repository column (to match the policies' grants) and the
    policy grant's alert."""
    return found.params() | {
        "repository_columns": [a.repository or "" for a in cfg.attributes],
        "policy_group_alert": POLICY_GROUP_ALERT,
        "on_drift": [a.on_drift for a in cfg.attributes],
    }


def privileged(cfg: Config) -> Privileged | None:
    """The default alerts of ``cfg``; None when they are off or there is nothing to
    look for (no group listed and not AD)."""
    endpoint = cfg.endpoint
    if not endpoint.privileged_alerts:
        return None
    ad = endpoint.kind == "ad"
    groups = (PRIVILEGED_GROUPS + PRIVILEGED_SIDS if ad else ()) + endpoint.privileged_groups
    if not groups and not ad:
        return None
    group_attrs = [
        i
        for i, a in enumerate(cfg.attributes, 1)
        if a.compare in SET_KINDS
        and (a.membership is not None or _type(a) in GROUP_ATTRIBUTES)
    ]
    admin_count_attrs = [
        i for i, a in enumerate(cfg.attributes, 1)
        if ad and _type(a) == "admincount"
    ]
    primary_group_attrs = [
        i for i, a in enumerate(cfg.attributes, 1)
        if ad and _type(a) == "primarygroupid"
    ]
    return Privileged(
        names=[g for g in groups if "=" not in g],
        dns=[g for g in groups if "=" in g],
        group_attrs=group_attrs,
        admin_count_attrs=admin_count_attrs,
        admin_count=ad,
        primary_group_attrs=primary_group_attrs,
    )


def _type(a: AttributeMapping) -> str | None:
    """The endpoint attribute type a mapping compares; None for a derived value
    (endpoint_sql), which no default alert reads: its drift is never written back."""
    return attribute_type(a.endpoint) if a.endpoint is not None else None
