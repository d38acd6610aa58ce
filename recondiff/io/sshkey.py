"""OpenSSH key files, as ``ssh-keygen -t ed25519`` writes them: the public
line (``ssh-ed25519 AAAA... comment``), the private key file (openssh-key-v1,
PEM-armoured, perhaps passphrase-protected) and the wire format inside both.
:mod:`recondiff.io.signing` signs and verifies with these keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recondiff.errors import InputError, printable
from recondiff.io.atomic import fsync_directory

KEY_TYPE = "ssh-ed25519"
PASSPHRASE_ENV = "RECONDIFF_KEY_PASSPHRASE"
_RAW_KEY_BYTES = 32
_MAX_KEY_FILE = 64 * 1024  # an Ed25519 key file is under 1 KB; anything this big is not one
_PRIVATE_BEGIN = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_PRIVATE_END = b"-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC = b"openssh-key-v1\x00"


class KeyFormatError(ValueError):
    """Why some bytes are not a key (``has ...``, ``is ...``); the caller names the file."""


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key: its 32 raw bytes and the comment of its OpenSSH line."""

    raw: bytes
    comment: str = ""

    @property
    def blob(self) -> bytes:
        """The key in SSH wire format (what the OpenSSH line base64-encodes)."""
        return _ssh_string(KEY_TYPE.encode()) + _ssh_string(self.raw)

    @property
    def key_id(self) -> str:
        """``SHA256:`` + unpadded base64 of SHA-256 of :attr:`blob`, as ``ssh-keygen -l``."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    @property
    def line(self) -> str:
        """``ssh-ed25519 AAAA... comment``, as in a .pub file."""
        text = f"{KEY_TYPE} {base64.b64encode(self.blob).decode('ascii')}"
        return f"{text} {self.comment}" if self.comment else text

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """An OpenSSH public key line, strictly: ``ssh-ed25519``, the canonical
        base64 of exactly one Ed25519 key, then an optional printable comment.
        Raises ``KeyFormatError`` (a ValueError) saying what is wrong."""
        text = text.strip(" \t\r\n")
        if not text.isprintable():
            raise KeyFormatError("has a line break or control character; give one key on one line")
        fields = text.split(None, 2)
        if not fields or fields[0] != KEY_TYPE:
            kind = printable(fields[0][:40]) if fields else "nothing"
            raise KeyFormatError(
                f"is not an ssh-ed25519 public key (starts with {kind!r}); recondiff "
                "signs with Ed25519 keys only (ssh-keygen -t ed25519)"
            )
        if len(fields) < 2:
            raise KeyFormatError("has no key after 'ssh-ed25519'")
        return cls(_ed25519_from_blob(strict_b64(fields[1])), fields[2] if len(fields) > 2 else "")


def strict_b64(text: str) -> bytes:
    """Canonical base64 only: one way to write the bytes (no junk, no odd padding)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("has a key that is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise KeyFormatError("has a key that is not canonical base64")
    return data


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    """Reads SSH wire-format fields (uint32, string) from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def uint32(self) -> int:
        if self.at + 4 > len(self.data):
            raise KeyFormatError("is cut short")
        (value,) = struct.unpack_from(">I", self.data, self.at)
        self.at += 4
        return int(value)

    def string(self) -> bytes:
        size = self.uint32()
        if self.at + size > len(self.data):
            raise KeyFormatError("is cut short")
        value = self.data[self.at : self.at + size]
        self.at += size
        return value

    def end(self) -> None:
        if self.at != len(self.data):
            raise KeyFormatError("has bytes after the key")


def _ed25519_from_blob(blob: bytes) -> bytes:
    """The 32 raw bytes of an ssh-ed25519 wire blob, nothing before or after them."""
    reader = _Reader(blob)
    kind = reader.string()
    if kind != KEY_TYPE.encode():
        name = printable(kind[:40].decode("ascii", "replace"))
        raise KeyFormatError(f"holds a {name!r} key, not ssh-ed25519")
    raw = reader.string()
    reader.end()
    if len(raw) != _RAW_KEY_BYTES:
        raise KeyFormatError(f"holds a key of {len(raw)} bytes, not 32")
    return raw


def _key_type_of_blob(blob: bytes) -> str:
    try:
        return _Reader(blob).string().decode("ascii", "replace")
    except KeyFormatError:
        return "unknown"


def read_private_key(
    path: str | Path, passphrase: bytes | None = None
) -> tuple[Ed25519PrivateKey, str]:
    """The Ed25519 private key in an OpenSSH private key file, and a label for
    it (the comment of PATH.pub when that holds the same key, else the file's
    name). An encrypted key is opened with ``passphrase``, else with
    $RECONDIFF_KEY_PASSPHRASE. One InputError line for a missing file, a file
    group or others may read or write (ssh refuses those too), a public key,
    another format or key type, a missing or wrong passphrase."""
    file = Path(path)
    data = _read_private_file(file)
    try:
        kind, public_blob, encrypted = _private_container(data)
    except KeyFormatError as exc:
        raise InputError(f"{file}: not an OpenSSH private key file ({exc})") from None
    if kind != KEY_TYPE:
        raise InputError(
            f"{file}: the key is {printable(kind)}; recondiff signs with Ed25519 keys only "
            "(make one with recondiff keys generate, or ssh-keygen -t ed25519)"
        )
    secret = _passphrase(file, passphrase) if encrypted else None
    private = _open_private(file, data, secret)
    public = PublicKey(_raw_public(private))
    if public.blob != public_blob:
        raise InputError(f"{file}: the key file is damaged (its public half is another key)")
    return private, _label(file, public)


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def _read_private_file(file: Path) -> bytes:
    """The bytes of a private key file, refused if others may read or write it."""
    try:
        fd = os.open(file, os.O_RDONLY)
    except FileNotFoundError:
        raise InputError(
            f"{file}: no such key file; make one with "
            f"recondiff keys generate --name NAME --out {file}"
        ) from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read the key file ({exc.strerror or exc})") from None
    info = os.fstat(fd)  # the file read, not whatever the name points at later
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(f"{file}: not a key file (a directory or a device)")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(_MAX_KEY_FILE + 1)
        except OSError as exc:
            raise InputError(f"{file}: cannot read the key file ({exc.strerror or exc})") from None
    if data.lstrip().startswith(b"ssh-"):
        raise InputError(f"{file}: a public key; give the private key file (without .pub)")
    if os.name == "posix" and info.st_mode & 0o077:
        raise InputError(
            f"{file}: the private key is open to group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {file}"
        )
    return data


def _private_container(data: bytes) -> tuple[str, bytes, bool]:
    """The key type, public blob and whether it is encrypted, from an OpenSSH
    private key file's clear part (openssh's PROTOCOL.key)."""
    text = data.strip()
    if text.startswith(b"ssh-"):
        raise KeyFormatError("it is a public key; give the private key file, without .pub")
    if not (text.startswith(_PRIVATE_BEGIN) and text.endswith(_PRIVATE_END)):
        raise KeyFormatError("make one with recondiff keys generate, or ssh-keygen -t ed25519")
    body = b"".join(text[len(_PRIVATE_BEGIN) : -len(_PRIVATE_END)].split())
    try:
        decoded = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("its body is not base64") from None
    if not decoded.startswith(_OPENSSH_MAGIC):
        raise KeyFormatError("its body is not openssh-key-v1")
    reader = _Reader(decoded[len(_OPENSSH_MAGIC) :])
    cipher = reader.string()
    reader.string()  # kdf name
    reader.string()  # kdf options
    if reader.uint32() != 1:
        raise KeyFormatError("it holds more than one key")
    public_blob = reader.string()
    return _key_type_of_blob(public_blob), public_blob, cipher != b"none"


def _passphrase(file: Path, given: bytes | None) -> bytes:
    if given:
        return given
    value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise InputError(f"{file}: the key is protected by a passphrase; set {PASSPHRASE_ENV}")
    return value.encode("utf-8")


def _open_private(file: Path, data: bytes, secret: bytes | None) -> Ed25519PrivateKey:
    try:
        private = serialization.load_ssh_private_key(data, secret)
    except ValueError as exc:
        if secret is not None and "checksum" in str(exc):
            raise InputError(
                f"{file}: wrong passphrase (from {PASSPHRASE_ENV}) for this key"
            ) from None
        raise InputError(f"{file}: the key file is damaged ({exc})") from None
    except UnsupportedAlgorithm as exc:
        raise InputError(f"{file}: cannot open this key ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):  # the clear part said ed25519
        raise InputError(f"{file}: not an Ed25519 key")
    return private


def _label(file: Path, key: PublicKey) -> str:
    """The comment of FILE.pub when it holds the same key, else the file's name."""
    try:
        public = PublicKey.parse(file.with_name(file.name + ".pub").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return file.name
    return public.comment if public.raw == key.raw and public.comment else file.name


def read_public_key(path: str | Path) -> PublicKey:
    """The public key of a ``.pub`` file or of a private key file (read from its
    clear part: no passphrase needed). One InputError line when it is neither."""
    file = Path(path)
    try:
        data = file.read_bytes()[: _MAX_KEY_FILE + 1]
    except FileNotFoundError:
        raise InputError(f"{file}: no such key file") from None
    except OSError as exc:
        raise InputError(f"{file}: cannot read the key file ({exc.strerror or exc})") from None
    try:
        if data.lstrip().startswith(b"ssh-"):
            return PublicKey.parse(data.decode("utf-8"))
        kind, blob, _ = _private_container(data)
        if kind != KEY_TYPE:
            raise KeyFormatError(f"the key is {printable(kind)}; recondiff uses Ed25519 keys only")
        return PublicKey(_ed25519_from_blob(blob))
    except UnicodeDecodeError:
        raise InputError(f"{file}: not a key file (not text)") from None
    except KeyFormatError as exc:
        raise InputError(f"{file}: not an Ed25519 key file ({exc})") from None


def write_key_pair(prefix: Path, private: bytes, public_line: str) -> Path:
    """Write PREFIX (the private key file, mode 0600 from its creation) and
    PREFIX.pub (the public line); refuse to overwrite either. Each appears
    whole or not at all. Returns PREFIX.pub."""
    public = prefix.with_name(prefix.name + ".pub")
    for target in (prefix, public):
        if os.path.lexists(target):
            raise InputError(f"{target}: already exists; choose another --out or remove it")
    _write_new(prefix, private, 0o600)
    try:
        _write_new(public, (public_line + "\n").encode("utf-8"), 0o644)
    except BaseException:
        prefix.unlink(missing_ok=True)
        raise
    return public


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a temp file with ``mode`` from its creation, then link it to
    ``path``, which must not exist (a link never replaces a file)."""
    temp = path.with_name(f".{path.name}.tmp-{os.urandom(6).hex()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path)
        fsync_directory(path.parent)
    except FileExistsError:
        raise InputError(f"{path}: already exists; choose another --out or remove it") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write the key ({exc.strerror or exc})") from None
    finally:
        temp.unlink(missing_ok=True)
