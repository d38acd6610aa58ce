"""The words recondiff's data flow is spoken in: compare kinds, situations and
responses (docs/semantics.md, docs/plan.md). One definition each; config,
engine, plan and report all read them from here.
"""

from __future__ import annotations

COMPARE_KINDS = (
    "exact",
    "casefold",
    "trim",
    "casefold_trim",
    "dn",
    "set",
    "casefold_set",
    "dn_set",
    "integer",
    "boolean",
    "date",
    "timestamp",
    "uac_flags",
)
SET_KINDS = frozenset({"set", "casefold_set", "dn_set"})

# In the order of docs/design.md's table: a situation's rank is its place here,
# in Python and in SQL (the run's connection binds this list for
# queries/macros/situations.sql rd_situations() and rd_rank()).
SITUATIONS = (
    "linked",
    "correlated",
    "collision",
    "ambiguous",
    "unmatched",
    "missing",
    "deleted_in_repository",
    "excluded",
    "duplicate_key",
)

POLICY_SITUATION = "policy"
"""The ``reason.situation`` of an identity policies' repository event (docs/policies.md):
not a situation of a record, but selectable like one (``plan approve --situation policy``)."""

RESPONSES = (
    "do_nothing",
    "link",
    "unlink",
    "add_to_repository",
    "assign_default_user",
    "delete_from_repository",
    "add_to_endpoint",
    "delete_from_endpoint",
    "disable_in_endpoint",
    "update_endpoint",
    "update_repository",
    "review",
    "reject",
    "assign_owner",  # an owner decision: the reviewer picks the identity (docs/plan.md, Owners)
)

# Conservative defaults: nothing is deleted or disabled unless configured.
DEFAULT_SITUATION_RESPONSES: dict[str, str] = {
    "linked": "do_nothing",
    "correlated": "review",
    "collision": "review",
    "ambiguous": "review",
    "unmatched": "review",
    "missing": "review",
    "deleted_in_repository": "review",
    "excluded": "do_nothing",
    "duplicate_key": "do_nothing",
}

# Which responses each situation accepts (docs/plan.md). `review` holds the
# situation's default proposal (REVIEW_PROPOSALS) for an approver.
SITUATION_RESPONSES: dict[str, tuple[str, ...]] = {
    "linked": ("do_nothing", "unlink"),
    "correlated": ("do_nothing", "link", "review"),
    "collision": ("do_nothing", "review"),
    "ambiguous": ("do_nothing", "review"),
    "unmatched": (
        "do_nothing",
        "review",
        "reject",
        "delete_from_endpoint",
        "disable_in_endpoint",
        "add_to_repository",
        "assign_default_user",
    ),
    "missing": ("do_nothing", "review", "add_to_endpoint", "unlink", "delete_from_repository"),
    "deleted_in_repository": (
        "do_nothing",
        "review",
        "disable_in_endpoint",
        "delete_from_endpoint",
        "unlink",
    ),
    "excluded": ("do_nothing", "review"),
    "duplicate_key": ("do_nothing", "review"),
}
REVIEW_PROPOSALS: dict[str, str | None] = {
    "correlated": "link",
    "unmatched": "reject",
    "missing": "add_to_endpoint",
    "deleted_in_repository": "disable_in_endpoint",
}
OPERATIONS = ("add", "modify", "delete", "disable", "enable", "link", "unlink")
"""What an event of the plan does (plan.schema.json's ``operation``)."""

DRIFT_RESPONSES = ("do_nothing", "update_endpoint", "reject", "review", "update_repository")
DRIFT_KINDS = ("any", "added", "removed", "changed")


# --- Active Directory ----------------------------------------------------------------
# (docs/explore.md, "Active Directory"; docs/semantics.md, compare kind uac_flags)

UAC_FLAGS: dict[str, int] = {
    "SCRIPT": 0x1,
    "ACCOUNTDISABLE": 0x2,
    "HOMEDIR_REQUIRED": 0x8,
    "LOCKOUT": 0x10,
    "PASSWD_NOTREQD": 0x20,
    "PASSWD_CANT_CHANGE": 0x40,
    "ENCRYPTED_TEXT_PWD_ALLOWED": 0x80,
    "TEMP_DUPLICATE_ACCOUNT": 0x100,
    "NORMAL_ACCOUNT": 0x200,
    "INTERDOMAIN_TRUST_ACCOUNT": 0x800,
    "WORKSTATION_TRUST_ACCOUNT": 0x1000,
    "SERVER_TRUST_ACCOUNT": 0x2000,
    "DONT_EXPIRE_PASSWORD": 0x10000,
    "MNS_LOGON_ACCOUNT": 0x20000,
    "SMARTCARD_REQUIRED": 0x40000,
    "TRUSTED_FOR_DELEGATION": 0x80000,
    "NOT_DELEGATED": 0x100000,
    "USE_DES_KEY_ONLY": 0x200000,
    "DONT_REQ_PREAUTH": 0x400000,
    "PASSWORD_EXPIRED": 0x800000,
    "TRUSTED_TO_AUTH_FOR_DELEGATION": 0x1000000,
    "PARTIAL_SECRETS_ACCOUNT": 0x4000000,
}
"""userAccountControl's flags (Microsoft's "UserAccountControl property flags"), in
bit order; queries/macros/kinds.sql (rd_uac_flags) holds the same table."""

PRIVILEGED_GROUPS = (
    "Domain Admins",
    "Enterprise Admins",
    "Schema Admins",
    "Administrators",
    "Account Operators",
    "Backup Operators",
    "Server Operators",
    "Print Operators",
    "DnsAdmins",
    "Group Policy Creator Owners",
    "Key Admins",
)
"""AD's well-known privileged groups: with ``[endpoint] kind = "ad"``, holding one
outside the identity system raises an alert by default (``privileged_groups``
extends the list, ``privileged_alerts = false`` turns it off; docs/config.md)."""

PRIVILEGED_GROUP_ALERT = "privileged group granted outside the identity system"
ADMIN_COUNT_ALERT = "adminCount = 1 outside the identity system"
POLICY_GROUP_ALERT = "privileged group granted by identity policy"
"""Followed by the policy's name and its ``(when ...)``: the alert of an event adding
a privileged group that an identity policy grants (plan/privileged.sql)."""


# --- LDAP attribute names -------------------------------------------------------------
# One attribute type has several names: its usual name, aliases and an OID
# (RFC 4512). The guards, the auto/reviewed split of the plan and the config's
# "map each attribute once" compare attribute types, never spellings.

_TYPE_NAMES = {
    "userid": "uid",
    "0.9.2342.19200300.100.1.1": "uid",
    "2.5.4.31": "member",
    "2.5.4.50": "uniquemember",
    "1.3.6.1.1.1.1.12": "memberuid",
    "1.2.840.113556.1.4.221": "samaccountname",
    "1.2.840.113556.1.4.8": "useraccountcontrol",
    "1.3.6.1.4.1.42.2.27.8.1.17": "pwdaccountlockedtime",
    "2.16.840.1.113730.3.1.610": "nsaccountlock",
}
"""The other names (alias, OID) a server takes for the attributes the guards look for."""


def attribute_type(description: str) -> str:
    """The attribute type ``description`` names, as the guards compare it: lower-cased,
    without options (``uid;lang-en`` is a uid, matched by ``(uid=...)``), an alias or
    OID by its usual name (slapd applies ``userid`` and ``2.5.4.31`` as uid and member)."""
    name = description.strip().split(";", 1)[0].lower()
    return _TYPE_NAMES.get(name, name)


_SCHEMA_NAMES = {
    "surname": "sn", "2.5.4.4": "sn", "commonname": "cn", "2.5.4.3": "cn",
    "gn": "givenname", "2.5.4.42": "givenname", "2.5.4.43": "initials",
    "rfc822mailbox": "mail", "0.9.2342.19200300.100.1.3": "mail",
    "2.5.4.12": "title", "2.5.4.13": "description", "2.5.4.20": "telephonenumber",
    "localityname": "l", "2.5.4.7": "l", "stateorprovincename": "st", "2.5.4.8": "st",
    "streetaddress": "street", "2.5.4.9": "street", "organizationname": "o", "2.5.4.10": "o",
    "organizationalunitname": "ou", "2.5.4.11": "ou", "countryname": "c", "2.5.4.6": "c",
    "2.5.4.16": "postaladdress", "2.5.4.17": "postalcode",
    "2.5.4.19": "physicaldeliveryofficename", "fax": "facsimiletelephonenumber",
    "2.5.4.23": "facsimiletelephonenumber", "mobiletelephonenumber": "mobile",
    "0.9.2342.19200300.100.1.41": "mobile", "pagertelephonenumber": "pager",
    "0.9.2342.19200300.100.1.42": "pager", "hometelephonenumber": "homephone",
    "0.9.2342.19200300.100.1.20": "homephone", "0.9.2342.19200300.100.1.10": "manager",
    "2.16.840.1.113730.3.1.241": "displayname", "2.16.840.1.113730.3.1.2": "departmentnumber",
    "2.16.840.1.113730.3.1.3": "employeenumber", "2.16.840.1.113730.3.1.4": "employeetype",
    "1.2.840.113556.1.2.210": "proxyaddresses", "1.2.840.113556.1.2.141": "department",
    "1.2.840.113556.1.2.146": "company", "1.2.840.113556.1.4.656": "userprincipalname",
}  # fmt: skip
"""Other names (alias, OID) of common user attributes, for :func:`drift_group`."""

UNKNOWN_TYPE = "*"
"""The :func:`drift_group` of an OID recondiff cannot name: it may be any attribute."""


def drift_group(description: str) -> str:
    """The attribute type an [[attribute]] endpoint name changes, as the auto/reviewed
    split compares them (docs/plan.md): :func:`attribute_type`, a common alias or OID
    by its usual name (``surname``, ``2.5.4.4``: sn), :data:`UNKNOWN_TYPE` for another OID."""
    name = attribute_type(description)
    name = _SCHEMA_NAMES.get(name, name)
    return UNKNOWN_TYPE if name[:1].isdigit() else name
