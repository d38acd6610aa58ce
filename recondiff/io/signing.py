"""Ed25519 signatures of plans and decisions (docs/signing.md).

A :class:`Signer` is a private key in OpenSSH format (``ssh-keygen -t
ed25519`` makes one; so does ``recondiff keys generate``). It signs
``purpose + "\\n" + message``: the purpose (:data:`PLAN_PURPOSE`,
:data:`DECISION_PURPOSE`) keeps a plan's signature from passing as a
decision's and the reverse. A signature is ``{"key": KEY_ID, "sig": BASE64}``;
the key id is the key's fingerprint as ``ssh-keygen -l`` prints it.

A :class:`Trust` is the set of public keys allowed to sign, each with a name
and its roles (``plan``: may sign plans; ``decide``: may sign decisions). It
comes from a trust file or the config, never from the signed file: the
signature names a key id only to look the trusted key up, and the trusted
public key is the one that verifies it.
"""

from __future__ import annotations

import base64
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from recondiff.errors import ConfigError, InputError, printable
from recondiff.io.sshkey import (
    PASSPHRASE_ENV,
    KeyFormatError,
    PublicKey,
    read_private_key,
    read_public_key,
    strict_b64,
    write_key_pair,
)

__all__ = [
    "DECISION_PURPOSE",
    "PASSPHRASE_ENV",
    "PLAN_PURPOSE",
    "ROLES",
    "SIGNING_KEY_ENV",
    "PublicKey",
    "SignatureError",
    "Signer",
    "Trust",
    "TrustedKey",
    "read_public_key",
    "signed_bytes",
    "signing_key_path",
    "trusted_key",
]

PLAN_PURPOSE = "recondiff-plan/2"
"""Signs a plan: the message is its digest string (UTF-8)."""
DECISION_PURPOSE = "recondiff-decision/1"
"""Signs a decision: the message is its canonical ledger line without ``signature``."""
PURPOSE_ROLES = {PLAN_PURPOSE: "plan", DECISION_PURPOSE: "decide"}
"""The role a key needs to sign for each purpose."""
ROLES = ("plan", "decide")
_ROLE_WORDS = {"plan": "sign plans", "decide": "sign decisions"}

SIGNING_KEY_ENV = "RECONDIFF_SIGNING_KEY"
"""Overrides ``[plan] signing_key``: the key compare signs the plan with."""

_SIGNATURE_BYTES = 64
_KEY_ID = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")  # unpadded base64 of 32 bytes


class SignatureError(InputError):
    """A signature is missing, malformed, by an untrusted key or does not match."""


class Signer:
    """An Ed25519 private key that signs plans or decisions.

    :attr:`name` is a label for messages (the comment of the ``.pub`` file
    beside the key, else the file's name); the name a verifier trusts comes
    from its trust, never from the signer."""

    def __init__(self, private: Ed25519PrivateKey, name: str) -> None:
        self._private = private
        self.name = name
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicKey(raw, name)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def __repr__(self) -> str:  # never the private key
        return f"Signer({self.name!r}, {self.key_id})"

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new key pair (``recondiff keys generate``)."""
        return cls(Ed25519PrivateKey.generate(), name)

    @classmethod
    def load(cls, path: str | Path, passphrase: bytes | None = None) -> Signer:
        """An OpenSSH-format Ed25519 private key file (:func:`sshkey.read_private_key`:
        the passphrase, the refusals)."""
        return cls(*read_private_key(path, passphrase))

    def sign(self, purpose: str, message: bytes) -> dict[str, str]:
        """``{"key": key_id, "sig": base64}`` over ``purpose + "\\n" + message``."""
        signature = self._private.sign(signed_bytes(purpose, message))
        return {"key": self.key_id, "sig": base64.b64encode(signature).decode("ascii")}

    def write(self, prefix: Path, passphrase: bytes | None = None) -> Path:
        """Write the key pair to PREFIX and PREFIX.pub (:func:`sshkey.write_key_pair`)."""
        return write_key_pair(prefix, self.private_bytes(passphrase), self.public.line)

    def private_bytes(self, passphrase: bytes | None = None) -> bytes:
        """The private key in OpenSSH format (encrypted with ``passphrase``, if given)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
        )


def signed_bytes(purpose: str, message: bytes) -> bytes:
    """What a signature covers: the purpose, a line break, the message."""
    if purpose not in PURPOSE_ROLES:
        raise ValueError(f"unknown signing purpose {purpose!r}")
    return purpose.encode("utf-8") + b"\n" + message


def signing_key_path(configured: Path | None) -> Path | None:
    """The key compare signs with: $RECONDIFF_SIGNING_KEY, else ``[plan]
    signing_key`` (already relative to the config), else None (unsigned)."""
    value = os.environ.get(SIGNING_KEY_ENV, "")
    return Path(value) if value else configured


@dataclass(frozen=True)
class TrustedKey:
    """One trust entry: whose key, the key, what it may sign, where it was written."""

    name: str
    public: PublicKey
    roles: frozenset[str]
    where: str

    @property
    def key_id(self) -> str:
        return self.public.key_id


class TrustEntryLike(Protocol):
    """A ``[[trust.key]]`` of the config (recondiff.config.model.TrustEntry)."""

    @property
    def name(self) -> str: ...
    @property
    def public(self) -> str: ...
    @property
    def roles(self) -> Sequence[str]: ...
    @property
    def where(self) -> str: ...


class TrustConfigLike(Protocol):
    """The config's ``[trust]`` (recondiff.config.model.TrustConfig)."""

    @property
    def file(self) -> Path | None: ...
    @property
    def keys(self) -> Sequence[TrustEntryLike]: ...


def trusted_key(name: Any, public: Any, roles: Any, where: str) -> TrustedKey:
    """A checked trust entry; one ConfigError line naming ``where`` otherwise."""
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise ConfigError(f"{where}: name must be a non-empty one-line string, got {name!r}")
    if name != name.strip():
        raise ConfigError(f"{where}: name {name!r} has spaces around it; remove them")
    if not isinstance(public, str):
        raise ConfigError(f'{where}: public must be a string, "ssh-ed25519 AAAA... comment"')
    try:
        key = PublicKey.parse(public)
    except KeyFormatError as exc:
        raise ConfigError(f"{where}: public {exc}") from None
    if (
        not isinstance(roles, list | tuple)
        or not roles
        or not all(isinstance(r, str) and r in ROLES for r in roles)
    ):
        raise ConfigError(
            f'{where}: roles must list one or both of "plan" (may sign plans) and '
            f'"decide" (may sign decisions), got {roles!r}'
        )
    return TrustedKey(name, key, frozenset(roles), where)


class Trust:
    """The public keys allowed to sign, by key id. Two entries with the same
    key or the same name (case-insensitively) are refused (ConfigError)."""

    def __init__(self, keys: Iterable[TrustedKey] = (), sources: Sequence[str] = ()) -> None:
        self._by_id: dict[str, TrustedKey] = {}
        names: dict[str, TrustedKey] = {}
        for key in keys:
            same = self._by_id.get(key.key_id)
            if same is not None:
                raise ConfigError(
                    f"{key.where}: the key of '{key.name}' is already trusted as "
                    f"'{same.name}' ({same.where}); list each key once"
                )
            same = names.get(key.name.casefold())
            if same is not None:
                raise ConfigError(
                    f"{key.where}: the name '{key.name}' is already given to another key "
                    f"({same.where}); names must be unique"
                )
            self._by_id[key.key_id] = key
            names[key.name.casefold()] = key
        self.sources = tuple(sources)

    @property
    def keys(self) -> tuple[TrustedKey, ...]:
        return tuple(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def __add__(self, other: Trust) -> Trust:
        return Trust((*self.keys, *other.keys), (*self.sources, *other.sources))

    @classmethod
    def load(cls, path: str | Path) -> Trust:
        """A trust file: ``[[key]]`` tables of ``name``, ``public`` and ``roles``."""
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text("utf-8"))
        except FileNotFoundError:
            raise InputError(f"{file}: no such trust file") from None
        except OSError as exc:
            raise InputError(f"{file}: cannot read the trust file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file}: not UTF-8 text; save the trust file as UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        return cls(_file_entries(file, data), (str(file),))

    @classmethod
    def from_entries(
        cls, entries: Iterable[TrustEntryLike], sources: Sequence[str] = ()
    ) -> Trust:
        """Checked entries written inline (the config's ``[[trust.key]]``)."""
        return cls(
            (trusted_key(e.name, e.public, list(e.roles), e.where) for e in entries), sources
        )

    @classmethod
    def from_config(cls, trust: TrustConfigLike) -> Trust:
        """The config's ``[trust]``: its file's keys and its inline keys, together."""
        inline = cls.from_entries(trust.keys, ("the config's [[trust.key]]",) if trust.keys else ())
        return (cls.load(trust.file) + inline) if trust.file is not None else inline

    def name_of(self, key_id: str) -> str | None:
        """The trusted name of a key id, or None."""
        key = self._by_id.get(key_id)
        return key.name if key else None

    def verify(
        self, purpose: str, message: bytes, signature: object, role: str, where: str
    ) -> str:
        """The trusted name of the key that signed ``purpose`` + ``message``.
        Raises :class:`SignatureError` (one line naming ``where`` and the key id)
        for a missing or malformed signature, an untrusted key, a key without
        ``role``, or a signature that does not match."""
        if PURPOSE_ROLES.get(purpose) != role:
            raise ValueError(f"purpose {purpose!r} is not signed by role {role!r}")
        key_id, sig = _signature_fields(signature, where)
        trusted = self._by_id.get(key_id)
        if trusted is None:
            raise SignatureError(
                f"{where}: signed by key {key_id}, which is not trusted "
                f"({self._describe()}); add it to the trust only if you know whose it is"
            )
        if role not in trusted.roles:
            raise SignatureError(
                f"{where}: signed by '{trusted.name}' ({key_id}), whose key may not "
                f"{_ROLE_WORDS[role]} (its roles: {', '.join(sorted(trusted.roles))})"
            )
        try:
            Ed25519PublicKey.from_public_bytes(trusted.public.raw).verify(
                sig, signed_bytes(purpose, message)
            )
        except InvalidSignature:
            raise SignatureError(
                f"{where}: the signature by '{trusted.name}' ({key_id}) does not match: "
                "changed after it was signed"
            ) from None
        return trusted.name

    @staticmethod
    def require_name(by: object, name: str, key_id: str, where: str) -> None:
        """A signed decision's ``by`` must be its signing key's trusted name."""
        if by != name:
            shown = f"'{printable(by[:80])}'" if isinstance(by, str) else repr(by)[:80]
            raise SignatureError(
                f"{where}: made by {shown} but signed by '{name}' ({key_id}); "
                "a decision's by must be the name its key is trusted under"
            )

    def _describe(self) -> str:
        if not self._by_id:
            return "no key is trusted: give --trust FILE or [trust] in the config"
        count = f"{len(self._by_id)} key{'s' if len(self._by_id) > 1 else ''}"
        return f"trusted: {count} from {', '.join(self.sources) or 'the trust'}"


def _file_entries(file: Path, data: Mapping[str, Any]) -> list[TrustedKey]:
    unknown = [k for k in data if k != "key"]
    if unknown:
        raise ConfigError(
            f"{file}: unknown key {unknown[0]!r}; a trust file holds only [[key]] tables"
        )
    raw = data.get("key", [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ConfigError(f"{file}: key must be written [[key]] (a list of tables)")
    keys = []
    for i, entry in enumerate(raw, 1):
        where = f"{file}: [[key]] #{i}"
        extra = sorted(set(entry) - {"name", "public", "roles"})
        if extra:
            raise ConfigError(
                f"{where} has unknown key {extra[0]!r} (allowed: name, public, roles)"
            )
        for required in ("name", "public", "roles"):
            if required not in entry:
                raise ConfigError(f"{where} is missing required key '{required}'")
        keys.append(trusted_key(entry["name"], entry["public"], entry["roles"], where))
    return keys


def _signature_fields(signature: object, where: str) -> tuple[str, bytes]:
    """The key id and the 64 signature bytes of ``{"key": ..., "sig": ...}``."""
    if signature is None:
        raise SignatureError(f"{where}: not signed")
    if (
        not isinstance(signature, dict)
        or set(signature) != {"key", "sig"}
        or not all(isinstance(v, str) for v in signature.values())
    ):
        raise SignatureError(
            f'{where}: malformed signature; expected {{"key": "SHA256:...", "sig": "BASE64"}}'
        )
    key_id, text = signature["key"], signature["sig"]
    if not _KEY_ID.fullmatch(key_id):
        raise SignatureError(
            f"{where}: malformed signature: key {printable(key_id[:60])!r} is not a key id "
            "(SHA256:...)"
        )
    try:
        sig = strict_b64(text)
    except KeyFormatError:
        sig = b""
    if len(sig) != _SIGNATURE_BYTES:
        raise SignatureError(
            f"{where}: malformed signature by key {key_id}: sig is not the base64 of "
            f"{_SIGNATURE_BYTES} bytes"
        )
    return key_id, sig
