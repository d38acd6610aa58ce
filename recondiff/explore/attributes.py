"""What ``recondiff explore`` asks a directory for: only the attributes the
config needs (docs/explore.md), so that a search over a large directory reads
no more than the comparison uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from recondiff.config.expression import expression_columns
from recondiff.config.load import Config, dn_placeholders

# The entry's UUID: asserted on every event of the plan (plan/assertions.py)
UUID_ATTRIBUTES = ("entryUUID", "objectGUID")
# What tells a locked or disabled account (plan/build.py, plan/checks.py)
LOCK_ATTRIBUTES = ("pwdAccountLockedTime", "userAccountControl")
# AD keeps the lockout bit only in this constructed attribute (ingest/ad.py's uac_locked_out)
AD_ACCOUNT_CONTROL = ("msDS-User-Account-Control-Computed",)


def needed_attributes(cfg: Config, side: str) -> list[str]:
    """The attributes of ``side`` ("endpoint" or "repository") the config needs, each
    once (case-insensitively, as first named): ``dn``, the key, the compared and
    correlation attributes, the columns the scope and ``*_sql`` expressions read
    (a derived [[attribute]] side's too),
    and any the source adds (``attributes``). The endpoint adds what the plan and
    apply use (the disable attribute, entryUUID/objectGUID, the lock attributes,
    what the privileged-group alerts read; on AD the computed account control);
    the repository adds its
    link and status columns, the ``create_dn`` placeholders and what the identity
    policies need (:func:`_policies`)."""
    if side == "endpoint":
        names = _endpoint(cfg)
        source = cfg.endpoint.source
    elif side == "repository":
        names = _repository(cfg)
        source = cfg.repository.source
    else:
        raise ValueError(f"side must be endpoint or repository, not {side!r}")
    extra = source.attributes if source is not None else ()
    return _unique(["dn", *names, *extra])


def _endpoint(cfg: Config) -> list[str]:
    ep = cfg.endpoint
    names = [ep.key]
    for a in cfg.attributes:
        names += _side_of(a.endpoint, a.endpoint_sql)
    for rule in cfg.correlation:
        names += _side_of(rule.endpoint, rule.endpoint_sql)
    names += expression_columns(ep.scope) if ep.scope else []
    if ep.disable.attribute:
        names.append(ep.disable.attribute)
    names += [*UUID_ATTRIBUTES, *LOCK_ATTRIBUTES]
    names += ep.privileged_attributes()  # the default privileged-group alerts (memberOf, ...)
    if ep.kind == "ad":
        names += AD_ACCOUNT_CONTROL
    # modifyTimestamp / uSNChanged, the high-water mark of incremental runs, are
    # asked for by the reader itself (ingest/ldap_read.py) and not kept as columns
    return names


def _repository(cfg: Config) -> list[str]:
    repo = cfg.repository
    names = [repo.key]
    for a in cfg.attributes:
        names += _side_of(a.repository, a.repository_sql)
    names += [c for c in (repo.link, repo.status) if c]
    for rule in cfg.correlation:
        names += _side_of(rule.repository, rule.repository_sql)
    names += expression_columns(repo.scope) if repo.scope else []
    if cfg.endpoint.create_dn:
        # {key} is the account's key (already read); the others are repository columns
        names += [n for n in dn_placeholders(cfg.endpoint.create_dn) if n.lower() != "key"]
    return names + _policies(cfg)


def _policies(cfg: Config) -> list[str]:
    """The repository columns the identity policies need (docs/policies.md): the
    ``[policies] applied`` list, every column a policy sets or grants (its value
    before the policies ran is what they change), and every column a ``when`` or a
    ``set_sql`` reads."""
    policies = cfg.policies
    if not policies.policies:
        return []
    names = [policies.applied] if policies.applied else []
    for p in policies.policies:
        names += expression_columns(p.when)
        names += [column for column, _ in p.sets]
        for column, expression in p.set_sql:
            names += [column, *expression_columns(expression)]
        names += [column for column, _ in p.grants]
    return names


def _side_of(attribute: str | None, expression: str | None) -> list[str]:
    if attribute is not None:
        return [attribute]
    return expression_columns(expression) if expression else []


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        name = name.strip()
        if name:
            seen.setdefault(name.lower(), name)
    return list(seen.values())
