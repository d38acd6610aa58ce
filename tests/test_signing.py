"""Signing keys, trust and verification (recondiff/io/signing.py, docs/signing.md).

Every refusal is one line naming the file (or `where`) and, for a signature,
the key id. The attacker's view: a forged signature or an attacker-chosen key
must never pass, whatever the signed file says about itself.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from recondiff.errors import ConfigError, InputError
from recondiff.io.signing import (
    DECISION_PURPOSE,
    PASSPHRASE_ENV,
    PLAN_PURPOSE,
    SIGNING_KEY_ENV,
    PublicKey,
    SignatureError,
    Signer,
    Trust,
    read_public_key,
    signing_key_path,
    trusted_key,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (openssh-client) not installed")

DIGEST = b"sha256:" + b"ab" * 32
LINE = b'{"by":"alice","decision":"approved","ids":["ev-1"],"plan":"sha256:ab","prev":"sha256:ab","seq":1}'


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)


def make_key(tmp_path: Path, name: str, passphrase: bytes | None = None) -> tuple[Path, Signer]:
    signer = Signer.generate(name)
    prefix = tmp_path / name
    signer.write(prefix, passphrase)
    return prefix, signer


def trust_of(*entries: tuple[Signer, list[str]]) -> Trust:
    return Trust(
        trusted_key(s.name, s.public.line, roles, f"test #{i}")
        for i, (s, roles) in enumerate(entries, 1)
    )


def refused(exc_type: type[Exception], call: object, *args: object) -> str:
    with pytest.raises(exc_type) as info:
        call(*args)  # type: ignore[operator]
    message = str(info.value)
    assert "\n" not in message
    return message


# -- keys ---------------------------------------------------------------------------------


def test_round_trip_through_files(tmp_path: Path) -> None:
    prefix, made = make_key(tmp_path, "alice")
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o600
    assert (tmp_path / "alice.pub").read_text() == made.public.line + "\n"
    assert made.public.line.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI")
    assert made.public.line.endswith(" alice")
    loaded = Signer.load(prefix)
    assert loaded.key_id == made.key_id and loaded.name == "alice"
    assert loaded.key_id.startswith("SHA256:") and len(loaded.key_id) == 50
    assert "PRIVATE" not in repr(loaded)
    signature = loaded.sign(PLAN_PURPOSE, DIGEST)
    assert set(signature) == {"key", "sig"} and signature["key"] == made.key_id
    trust = trust_of((made, ["plan"]))
    assert trust.verify(PLAN_PURPOSE, DIGEST, signature, "plan", "out/plan.jsonl") == "alice"
    assert trust.name_of(made.key_id) == "alice" and trust.name_of("SHA256:x") is None
    assert read_public_key(prefix) == PublicKey(made.public.raw)  # a private file's clear half
    assert read_public_key(tmp_path / "alice.pub") == made.public


def test_the_label_is_the_file_name_without_a_matching_pub(tmp_path: Path) -> None:
    prefix, _ = make_key(tmp_path, "alice")
    (tmp_path / "alice.pub").write_text(Signer.generate("mallory").public.line + "\n")
    assert Signer.load(prefix).name == "alice"  # the file's name, not mallory's comment
    (tmp_path / "alice.pub").unlink()
    os.rename(prefix, tmp_path / "k")
    assert Signer.load(tmp_path / "k").name == "k"


def test_passphrase_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix, made = make_key(tmp_path, "alice", b"correct horse")
    assert b"aes256-ctr" in base64.b64decode(b"".join(prefix.read_bytes().splitlines()[1:-1]))
    assert refused(InputError, Signer.load, prefix) == (
        f"{prefix}: the key is protected by a passphrase; set RECONDIFF_KEY_PASSPHRASE"
    )
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    assert refused(InputError, Signer.load, prefix) == (
        f"{prefix}: wrong passphrase (from RECONDIFF_KEY_PASSPHRASE) for this key"
    )
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse")
    assert Signer.load(prefix).key_id == made.key_id
    assert Signer.load(prefix, b"correct horse").key_id == made.key_id
    # a passphrase in the environment does not stop an unencrypted key from loading
    plain, other = make_key(tmp_path, "bob")
    assert Signer.load(plain).key_id == other.key_id
    # the public half is in the clear: keys show needs no passphrase
    monkeypatch.delenv(PASSPHRASE_ENV)
    assert read_public_key(prefix).key_id == made.key_id


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_a_private_key_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    prefix, _ = make_key(tmp_path, "alice")
    prefix.chmod(mode)
    assert refused(InputError, Signer.load, prefix) == (
        f"{prefix}: the private key is open to group or others (mode {mode:04o}); "
        f"run: chmod 600 {prefix}"
    )
    prefix.chmod(0o400)
    assert Signer.load(prefix).name == "alice"


def _openssh(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: rsa.generate_private_key(65537, 2048), "ssh-rsa"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-sha2-nistp256"),
    ],
)
def test_a_key_of_another_type_is_refused(tmp_path: Path, make: object, kind: str) -> None:
    path = tmp_path / "other"
    path.write_bytes(_openssh(make()))  # type: ignore[operator]
    path.chmod(0o600)
    assert refused(InputError, Signer.load, path) == (
        f"{path}: the key is {kind}; recondiff signs with Ed25519 keys only "
        "(make one with recondiff keys generate, or ssh-keygen -t ed25519)"
    )
    assert "Ed25519 keys only" in refused(InputError, read_public_key, path)


def test_missing_public_garbage_and_directory_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert refused(InputError, Signer.load, missing) == (
        f"{missing}: no such key file; make one with recondiff keys generate --name NAME --out {missing}"
    )
    make_key(tmp_path, "alice")
    pub = tmp_path / "alice.pub"
    assert refused(InputError, Signer.load, pub) == (
        f"{pub}: a public key; give the private key file (without .pub)"
    )
    pem = tmp_path / "pem"
    pem.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pem.chmod(0o600)
    assert refused(InputError, Signer.load, pem).startswith(f"{pem}: not an OpenSSH private key file")
    assert refused(InputError, Signer.load, tmp_path).endswith("not a key file (a directory or a device)")


def test_a_key_file_whose_halves_differ_is_refused(tmp_path: Path) -> None:
    """The clear public half of the file is what keys show prints: it must be
    the key that signs."""
    prefix, made = make_key(tmp_path, "alice")
    other = Signer.generate("mallory")
    body = base64.b64decode(b"".join(prefix.read_bytes().splitlines()[1:-1]))
    body = body.replace(made.public.blob, other.public.blob, 1)
    text = base64.b64encode(body)
    prefix.write_bytes(
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + b"\n".join(text[i : i + 70] for i in range(0, len(text), 70))
        + b"\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    assert "damaged" in refused(InputError, Signer.load, prefix)


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    prefix, _ = make_key(tmp_path, "alice")
    before = prefix.read_bytes()
    assert refused(InputError, Signer.generate("x").write, prefix) == (
        f"{prefix}: already exists; choose another --out or remove it"
    )
    assert prefix.read_bytes() == before
    (tmp_path / "solo").unlink(missing_ok=True)
    (tmp_path / "solo.pub").write_text("kept\n")
    assert "solo.pub: already exists" in refused(InputError, Signer.generate("x").write, tmp_path / "solo")
    assert not (tmp_path / "solo").exists() and (tmp_path / "solo.pub").read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice", "alice.pub", "solo.pub"]


def test_signing_key_path_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configured = tmp_path / "compare.key"
    assert signing_key_path(None) is None
    assert signing_key_path(configured) == configured
    monkeypatch.setenv(SIGNING_KEY_ENV, "/keys/ci")
    assert signing_key_path(configured) == Path("/keys/ci")
    monkeypatch.setenv(SIGNING_KEY_ENV, "")
    assert signing_key_path(configured) == configured


# -- ssh-keygen interop -----------------------------------------------------------------------


@needs_ssh_keygen
@pytest.mark.parametrize("passphrase", ["", "s3cret phrase"])
def test_ssh_keygen_keys_load_and_have_its_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passphrase: str
) -> None:
    path = tmp_path / "id_ed25519"
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", passphrase, "-C", "alice@example.org", "-f", str(path)],
        check=True,
    )
    printed = subprocess.run(
        [SSH_KEYGEN, "-l", "-f", f"{path}.pub"], check=True, capture_output=True, text=True
    ).stdout.split()
    if passphrase:
        monkeypatch.setenv(PASSPHRASE_ENV, passphrase)
    signer = Signer.load(path)
    assert signer.key_id == printed[1]
    assert signer.name == "alice@example.org"
    assert read_public_key(f"{path}.pub").key_id == printed[1]
    assert read_public_key(path).key_id == printed[1]
    trust = Trust([trusted_key("alice", Path(f"{path}.pub").read_text(), ["decide"], "t")])
    assert trust.verify(DECISION_PURPOSE, LINE, signer.sign(DECISION_PURPOSE, LINE), "decide", "l") == "alice"


@needs_ssh_keygen
def test_ssh_keygen_reads_our_keys(tmp_path: Path) -> None:
    prefix, made = make_key(tmp_path, "alice", b"pass phrase")
    derived = subprocess.run(
        [SSH_KEYGEN, "-y", "-P", "pass phrase", "-f", str(prefix)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    assert derived[:2] == made.public.line.split()[:2]
    printed = subprocess.run(
        [SSH_KEYGEN, "-l", "-f", f"{prefix}.pub"], check=True, capture_output=True, text=True
    ).stdout.split()
    assert printed[1] == made.key_id


def test_an_openssh_key_made_by_cryptography_loads(tmp_path: Path) -> None:
    """Without ssh-keygen: the OpenSSH format itself, as another tool writes it."""
    private = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "k"
    path.write_bytes(_openssh(private))
    path.chmod(0o600)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert Signer.load(path).public.raw == raw


# -- verification ---------------------------------------------------------------------------


@pytest.fixture
def alice() -> Signer:
    return Signer.generate("alice")


@pytest.fixture
def mallory() -> Signer:
    return Signer.generate("mallory")


def test_a_changed_message_or_signature_is_refused(alice: Signer) -> None:
    trust = trust_of((alice, ["plan", "decide"]))
    signature = alice.sign(DECISION_PURPOSE, LINE)
    where = "out/plan.decisions.jsonl line 1"
    mismatch = (
        f"{where}: the signature by 'alice' ({alice.key_id}) does not match: changed after it was signed"
    )
    changed = LINE.replace(b"approved", b"rejected")
    assert refused(SignatureError, trust.verify, DECISION_PURPOSE, changed, signature, "decide", where) == mismatch
    sig = bytearray(base64.b64decode(signature["sig"]))
    sig[10] ^= 1
    flipped = {"key": alice.key_id, "sig": base64.b64encode(bytes(sig)).decode()}
    assert refused(SignatureError, trust.verify, DECISION_PURPOSE, LINE, flipped, "decide", where) == mismatch
    assert trust.verify(DECISION_PURPOSE, LINE, signature, "decide", where) == "alice"


def test_purpose_confusion_is_refused(alice: Signer) -> None:
    """A plan signature never passes as a decision's, nor the reverse, even over
    the same bytes and by a key allowed both."""
    trust = trust_of((alice, ["plan", "decide"]))
    plan_sig = alice.sign(PLAN_PURPOSE, DIGEST)
    decision_sig = alice.sign(DECISION_PURPOSE, DIGEST)
    assert "does not match" in refused(SignatureError, trust.verify, DECISION_PURPOSE, DIGEST, plan_sig, "decide", "d")
    assert "does not match" in refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, decision_sig, "plan", "p")
    # the purpose cannot leak into the message either: the boundary is fixed
    with pytest.raises(ValueError):
        alice.sign("recondiff-plan/2\nx", DIGEST)
    with pytest.raises(ValueError):
        trust.verify(PLAN_PURPOSE, DIGEST, plan_sig, "decide", "p")  # a caller's slip, not a user's


def test_a_key_without_the_role_is_refused(alice: Signer) -> None:
    trust = trust_of((alice, ["decide"]))
    assert refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, alice.sign(PLAN_PURPOSE, DIGEST), "plan", "plan.jsonl") == (
        f"plan.jsonl: signed by 'alice' ({alice.key_id}), whose key may not sign plans (its roles: decide)"
    )
    trust = trust_of((alice, ["plan"]))
    assert "may not sign decisions (its roles: plan)" in refused(
        SignatureError, trust.verify, DECISION_PURPOSE, LINE, alice.sign(DECISION_PURPOSE, LINE), "decide", "l"
    )


def test_an_unknown_key_is_refused(alice: Signer, mallory: Signer) -> None:
    trust = Trust([trusted_key("alice", alice.public.line, ["plan"], "t")], ["trust.toml"])
    assert refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, mallory.sign(PLAN_PURPOSE, DIGEST), "plan", "p") == (
        f"p: signed by key {mallory.key_id}, which is not trusted (trusted: 1 key from trust.toml); "
        "add it to the trust only if you know whose it is"
    )
    assert "no key is trusted: give --trust FILE or [trust] in the config" in refused(
        SignatureError, Trust().verify, PLAN_PURPOSE, DIGEST, alice.sign(PLAN_PURPOSE, DIGEST), "plan", "p"
    )


def test_a_trusted_key_id_on_an_attackers_signature_is_refused(alice: Signer, mallory: Signer) -> None:
    """The signature names a key id only to look the trusted key up: mallory
    writing alice's id beside her own signature gets a mismatch, and a public
    key carried in the signature is refused, never used."""
    trust = trust_of((alice, ["plan"]))
    forged = {"key": alice.key_id, "sig": mallory.sign(PLAN_PURPOSE, DIGEST)["sig"]}
    assert "does not match" in refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, forged, "plan", "p")
    carried = mallory.sign(PLAN_PURPOSE, DIGEST) | {"public": mallory.public.line}
    assert "malformed signature" in refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, carried, "plan", "p")


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (None, "W: not signed"),
        ("SHA256:x", 'W: malformed signature; expected {"key": "SHA256:...", "sig": "BASE64"}'),
        ({"key": "K"}, 'W: malformed signature; expected {"key": "SHA256:...", "sig": "BASE64"}'),
        ({"key": "K", "sig": 1}, 'W: malformed signature; expected {"key": "SHA256:...", "sig": "BASE64"}'),
        ({"key": "alice", "sig": "AAAA"}, "W: malformed signature: key 'alice' is not a key id (SHA256:...)"),
        ({"key": "KEY", "sig": "not base64!"}, "W: malformed signature by key KEY: sig is not the base64 of 64 bytes"),
        ({"key": "KEY", "sig": "AAAA"}, "W: malformed signature by key KEY: sig is not the base64 of 64 bytes"),
        ({"key": "KEY", "sig": "SIG\n"}, "W: malformed signature by key KEY: sig is not the base64 of 64 bytes"),
        ({"key": "KEY", "sig": "SIG "}, "W: malformed signature by key KEY: sig is not the base64 of 64 bytes"),
        ({"key": "KEY", "sig": "SIG"[:-1]}, "W: malformed signature by key KEY: sig is not the base64 of 64 bytes"),
    ],
)
def test_a_malformed_signature_is_refused(alice: Signer, signature: object, expected: str) -> None:
    trust = trust_of((alice, ["plan"]))
    good = alice.sign(PLAN_PURPOSE, DIGEST)

    def fill(value: object) -> object:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, str):
            return value.replace("KEY", good["key"]).replace("SIG", good["sig"])
        return value

    message = refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, fill(signature), "plan", "W")
    assert message == expected.replace("KEY", good["key"])


def test_a_non_canonical_base64_signature_is_refused(alice: Signer) -> None:
    """One signature, one spelling: a second spelling of the same bytes would
    change a ledger line's hash without its signer."""
    trust = trust_of((alice, ["plan"]))
    good = alice.sign(PLAN_PURPOSE, DIGEST)
    # the last character before "==" carries 4 unused bits: set one
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = good["sig"][-3]
    other = alphabet[alphabet.index(last) | 1]
    assert other != last and base64.b64decode(good["sig"][:-3] + other + "==") == base64.b64decode(good["sig"])
    twin = {"key": good["key"], "sig": good["sig"][:-3] + other + "=="}
    assert "malformed signature" in refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, twin, "plan", "p")


def test_a_second_signature_for_the_same_bytes_is_refused(alice: Signer) -> None:
    """Ed25519's malleable form (S + L, the group order): the same message and
    key, other signature bytes. Refused, so no one but the signer can respell a
    signed line."""
    trust = trust_of((alice, ["plan"]))
    good = alice.sign(PLAN_PURPOSE, DIGEST)
    raw = base64.b64decode(good["sig"])
    order = 2**252 + 27742317777372353535851937790883648493
    s_plus_l = (int.from_bytes(raw[32:], "little") + order).to_bytes(32, "little")
    twin = {"key": good["key"], "sig": base64.b64encode(raw[:32] + s_plus_l).decode()}
    assert "does not match" in refused(SignatureError, trust.verify, PLAN_PURPOSE, DIGEST, twin, "plan", "p")
    assert issubclass(SignatureError, InputError)  # exit 2, as every input the user must fix


def test_require_name(alice: Signer) -> None:
    Trust.require_name("alice", "alice", alice.key_id, "l")
    assert refused(SignatureError, Trust.require_name, "bob", "alice", alice.key_id, "ledger line 3") == (
        f"ledger line 3: made by 'bob' but signed by 'alice' ({alice.key_id}); "
        "a decision's by must be the name its key is trusted under"
    )
    assert "made by None" in refused(SignatureError, Trust.require_name, None, "alice", alice.key_id, "l")


# -- trust entries and files -----------------------------------------------------------------


def _blob_b64(signer: Signer, extra: bytes = b"") -> str:
    return base64.b64encode(signer.public.blob + extra).decode()


@pytest.mark.parametrize(
    ("public", "expected"),
    [
        ("ssh-ed25519 {b64}\nssh-ed25519 {other}", "has a line break or control character; give one key on one line"),
        ("ssh-rsa {b64}", "is not an ssh-ed25519 public key (starts with 'ssh-rsa'); recondiff signs with Ed25519 keys only (ssh-keygen -t ed25519)"),
        ('from="10.0.0.1" ssh-ed25519 {b64}', "is not an ssh-ed25519 public key"),
        ("ssh-ed25519", "has no key after 'ssh-ed25519'"),
        ("ssh-ed25519 {b64}junk", "has bytes after the key"),
        ("ssh-ed25519 {b64}=", "has a key that is not canonical base64"),
        ("ssh-ed25519 {b64}!x", "has a key that is not valid base64"),
        ("ssh-ed25519 {b64_extra}", "has bytes after the key"),
        ("ssh-ed25519 {b64_short}", "holds a key of 31 bytes, not 32"),
        ("ssh-ed25519 {b64_rsa_type}", "holds a 'ssh-rsa' key, not ssh-ed25519"),
        ("ssh-ed25519 {b64_cut}", "is cut short"),
        ("", "is not an ssh-ed25519 public key (starts with 'nothing')"),
    ],
)
def test_a_malformed_public_key_in_trust_is_refused(alice: Signer, public: str, expected: str) -> None:
    """Trailing junk inside the key, a second key, options or another type: the
    entry is refused, never read as some key."""
    import struct

    def ssh_string(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    text = public.format(
        b64=_blob_b64(alice),
        other=_blob_b64(Signer.generate("m")),
        b64_extra=_blob_b64(alice, b"\x00\x00\x00\x01X"),
        b64_short=base64.b64encode(ssh_string(b"ssh-ed25519") + ssh_string(alice.public.raw[:31])).decode(),
        b64_rsa_type=base64.b64encode(ssh_string(b"ssh-rsa") + ssh_string(alice.public.raw)).decode(),
        b64_cut=base64.b64encode(alice.public.blob[:-3]).decode(),
    )
    message = refused(ConfigError, trusted_key, "alice", text, ["plan"], "trust.toml: [[key]] #1")
    assert message.startswith(f"trust.toml: [[key]] #1: public {expected}")


def test_a_comment_after_the_key_is_only_a_comment(alice: Signer) -> None:
    key = trusted_key("alice", f"  {alice.public.line} laptop 2026  ", ["plan"], "t")
    assert key.public.raw == alice.public.raw and key.public.comment == "alice laptop 2026"
    assert PublicKey.parse(alice.public.line).key_id == alice.key_id


@pytest.mark.parametrize(
    ("name", "roles", "expected"),
    [
        ("", ["plan"], "t: name must be a non-empty one-line string, got ''"),
        ("a\nb", ["plan"], "t: name must be a non-empty one-line string"),
        (" alice", ["plan"], "t: name ' alice' has spaces around it; remove them"),
        (3, ["plan"], "t: name must be a non-empty one-line string, got 3"),
        ("alice", [], 't: roles must list one or both of "plan" (may sign plans) and "decide" (may sign decisions), got []'),
        ("alice", ["admin"], "t: roles must list one or both of"),
        ("alice", "plan", "t: roles must list one or both of"),
    ],
)
def test_a_bad_trust_entry_is_refused(alice: Signer, name: object, roles: object, expected: str) -> None:
    assert refused(ConfigError, trusted_key, name, alice.public.line, roles, "t").startswith(expected)


def _trust_file(tmp_path: Path, *entries: tuple[str, str, str]) -> Path:
    path = tmp_path / "trust.toml"
    path.write_text(
        "".join(f'[[key]]\nname = "{n}"\npublic = "{p}"\nroles = {r}\n\n' for n, p, r in entries),
        encoding="utf-8",
    )
    return path


def test_a_trust_file(tmp_path: Path, alice: Signer, mallory: Signer) -> None:
    path = _trust_file(
        tmp_path, ("alice", alice.public.line, '["plan", "decide"]'), ("ci", mallory.public.line, '["plan"]')
    )
    trust = Trust.load(path)
    assert len(trust) == 2 and {k.name for k in trust.keys} == {"alice", "ci"}
    assert trust.verify(PLAN_PURPOSE, DIGEST, mallory.sign(PLAN_PURPOSE, DIGEST), "plan", "p") == "ci"


def test_duplicates_in_trust_are_refused(tmp_path: Path, alice: Signer, mallory: Signer) -> None:
    same_key = _trust_file(tmp_path, ("alice", alice.public.line, '["plan"]'), ("alice2", alice.public.line, '["decide"]'))
    assert refused(ConfigError, Trust.load, same_key) == (
        f"{same_key}: [[key]] #2: the key of 'alice2' is already trusted as 'alice' "
        f"({same_key}: [[key]] #1); list each key once"
    )
    # the same key under another comment is the same key
    recommented = alice.public.line.rsplit(" ", 1)[0] + " other-comment"
    same_key = _trust_file(tmp_path, ("alice", alice.public.line, '["plan"]'), ("a2", recommented, '["plan"]'))
    assert "already trusted as 'alice'" in refused(ConfigError, Trust.load, same_key)
    same_name = _trust_file(tmp_path, ("alice", alice.public.line, '["plan"]'), ("Alice", mallory.public.line, '["decide"]'))
    assert refused(ConfigError, Trust.load, same_name) == (
        f"{same_name}: [[key]] #2: the name 'Alice' is already given to another key "
        f"({same_name}: [[key]] #1); names must be unique"
    )
    # across the trust file and the config's own keys, too
    one = Trust.load(_trust_file(tmp_path, ("alice", alice.public.line, '["plan"]')))
    two = Trust([trusted_key("alice", mallory.public.line, ["plan"], "cfg [[trust.key]] #1")])
    assert "names must be unique" in refused(ConfigError, one.__add__, two)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[key]]\nname = 'a'\n", "TRUST: [[key]] #1 is missing required key 'public'"),
        ("[[key]]\nname = 'a'\npublic = 'P'\nroles = ['plan']\nrole = 'x'\n", "TRUST: [[key]] #1 has unknown key 'role' (allowed: name, public, roles)"),
        ("[trust]\n", "TRUST: unknown key 'trust'; a trust file holds only [[key]] tables"),
        ("key = 'x'\n", "TRUST: key must be written [[key]] (a list of tables)"),
        ("[[key]\n", "TRUST: not valid TOML:"),
    ],
)
def test_a_bad_trust_file_is_refused(tmp_path: Path, alice: Signer, text: str, expected: str) -> None:
    path = tmp_path / "trust.toml"
    path.write_text(text.replace("P", alice.public.line), encoding="utf-8")
    assert refused(ConfigError, Trust.load, path).replace(str(path), "TRUST").startswith(expected)


def test_a_missing_trust_file_is_refused(tmp_path: Path) -> None:
    assert refused(InputError, Trust.load, tmp_path / "t.toml") == f"{tmp_path / 't.toml'}: no such trust file"


# -- the config: [trust] and [plan] signing_key ------------------------------------------------------

CONFIG = """
[endpoint]
name = "ad"
snapshot = "ad.csv"
key = "sAMAccountName"

[repository]
snapshot = "ids.csv"
key = "employee_id"
"""


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "recondiff.toml"
    path.write_text(CONFIG + extra, encoding="utf-8")
    return path


def test_config_trust_file_and_inline_keys(tmp_path: Path, alice: Signer, mallory: Signer) -> None:
    from recondiff.config.load import load_config

    _trust_file(tmp_path, ("ci", mallory.public.line, '["plan"]'))
    cfg = load_config(_config(
        tmp_path,
        f'[plan]\nsigning_key = "keys/compare"\n\n[trust]\nfile = "trust.toml"\n\n'
        f'[[trust.key]]\nname = "alice"\npublic = "{alice.public.line}"\nroles = ["decide"]\n',
    ))
    assert cfg.plan.signing_key == tmp_path / "keys" / "compare"  # relative to the config
    assert cfg.trust.file == tmp_path / "trust.toml"
    trust = Trust.from_config(cfg.trust)
    assert sorted((k.name, sorted(k.roles)) for k in trust.keys) == [("alice", ["decide"]), ("ci", ["plan"])]
    assert trust.verify(DECISION_PURPOSE, LINE, alice.sign(DECISION_PURPOSE, LINE), "decide", "l") == "alice"
    # without [trust], nothing is trusted and nothing signs
    bare = load_config(_config(tmp_path, ""))
    assert bare.plan.signing_key is None and not Trust.from_config(bare.trust)


def test_config_trust_file_missing_is_one_line_at_use(tmp_path: Path) -> None:
    from recondiff.config.load import load_config

    cfg = load_config(_config(tmp_path, '[trust]\nfile = "nowhere.toml"\n'))
    assert refused(InputError, Trust.from_config, cfg.trust) == f"{tmp_path / 'nowhere.toml'}: no such trust file"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[trust]\nfiles = "t.toml"\n', "CONFIG: [trust] has unknown key 'files'; did you mean 'file'? (allowed: file, key)"),
        ('[trust]\nkey = "x"\n', "CONFIG: [trust] key must be written [[trust.key]] (a list of tables)"),
        ('[[trust.key]]\nname = "a"\npublic = "<P>"\n', 'CONFIG: [[trust.key]] #1 is missing required key \'roles\' (["plan"], ["decide"] or both)'),
        ('[[trust.key]]\nname = "a"\npublic = "<P>"\nroles = ["plan"]\nrole = 1\n', "CONFIG: [[trust.key]] #1 has unknown key 'role'; did you mean 'roles'?"),
        ('[[trust.key]]\nname = "a"\npublic = "<P>"\nroles = ["approve"]\n', 'CONFIG: [[trust.key]] #1: roles must list one or both of "plan" (may sign plans) and "decide" (may sign decisions), got [\'approve\']'),
        ('[[trust.key]]\nname = "a"\npublic = "ssh-rsa AAAA"\nroles = ["plan"]\n', "CONFIG: [[trust.key]] #1: public is not an ssh-ed25519 public key (starts with 'ssh-rsa')"),
        ('[[trust.key]]\nname = "a"\npublic = "<P>"\nroles = ["plan"]\n[[trust.key]]\nname = "b"\npublic = "<P>"\nroles = ["decide"]\n',
         "CONFIG: [[trust.key]] #2: the key of 'b' is already trusted as 'a' (CONFIG: [[trust.key]] #1); list each key once"),
        ('[[trust.key]]\nname = "a"\npublic = "<P>"\nroles = ["plan"]\n[[trust.key]]\nname = "A"\npublic = "<Q>"\nroles = ["decide"]\n',
         "CONFIG: [[trust.key]] #2: the name 'A' is already given to another key (CONFIG: [[trust.key]] #1); names must be unique"),
        ('[plan]\nsigning_key = ""\n', "CONFIG: [plan] signing_key: is empty; give a value or leave the key out"),
    ],
)
def test_config_trust_errors(tmp_path: Path, alice: Signer, extra: str, expected: str) -> None:
    from recondiff.config.load import load_config

    path = _config(tmp_path, extra.replace("<P>", alice.public.line).replace("<Q>", Signer.generate("q").public.line))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value).replace(str(path), "CONFIG")
    assert "\n" not in message
    assert message.startswith(expected), message


def test_a_comment_after_an_inline_key_is_fine(tmp_path: Path, alice: Signer) -> None:
    from recondiff.config.load import load_config

    cfg = load_config(_config(tmp_path, f'[[trust.key]]\nname = "a"\npublic = "{alice.public.line} junk"\nroles = ["plan"]\n'))
    assert Trust.from_config(cfg.trust).keys[0].public.raw == alice.public.raw


# -- recondiff keys, and the --trust / --key options ------------------------------------------------


def cli_run(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from recondiff.cli.main import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_keys_generate_writes_the_pair_and_prints_the_trust_entry(tmp_path: Path) -> None:
    prefix = tmp_path / "keys" / "jsmith"
    code, out, err = cli_run("keys", "generate", "--name", 'J. "Jo" Smith', "--out", str(prefix), "--role", "plan", "--role", "decide")
    assert code == 0, err
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o600
    line = (tmp_path / "keys" / "jsmith.pub").read_text()
    assert line.startswith("ssh-ed25519 AAAA") and line.endswith(' J. "Jo" Smith\n') and line.count("\n") == 1
    key_id = Signer.load(prefix).key_id
    assert err == (
        f"recondiff: wrote {prefix} (the private key: keep it secret, and off the machine that stores plans) "
        f"and {prefix}.pub; key id {key_id}. Add the entry below to the trust file of whoever verifies.\n"
    )
    trust_file = tmp_path / "trust.toml"
    trust_file.write_text(out, encoding="utf-8")
    trust = Trust.load(trust_file)
    assert [(k.name, sorted(k.roles), k.key_id) for k in trust.keys] == [('J. "Jo" Smith', ["decide", "plan"], key_id)]
    assert cli_run("keys", "show", str(prefix)) == (0, key_id + "\n", "")
    assert cli_run("keys", "show", f"{prefix}.pub") == (0, key_id + "\n", "")


def test_keys_generate_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    prefix = tmp_path / "k"
    assert cli_run("keys", "generate", "--name", "a", "--out", str(prefix))[0] == 0
    before = prefix.read_bytes()
    assert cli_run("keys", "generate", "--name", "b", "--out", str(prefix)) == (
        2, "", f"recondiff: error: {prefix}: already exists; choose another --out or remove it\n"
    )
    assert prefix.read_bytes() == before
    code, out, err = cli_run("keys", "generate", "--name", "a\nb", "--out", str(tmp_path / "x"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "--name" in err
    assert not (tmp_path / "x").exists()


def test_keys_generate_with_a_passphrase_and_default_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(PASSPHRASE_ENV, "pass phrase")
    code, out, err = cli_run("keys", "generate", "--name", "J. Smith")
    assert code == 0, err
    prefix = tmp_path / ".ssh" / "recondiff_J._Smith"
    assert stat.S_IMODE((tmp_path / ".ssh").stat().st_mode) == 0o700
    assert "encrypted with $RECONDIFF_KEY_PASSPHRASE" in err and 'roles = ["decide"]' in out
    key_id = Signer.load(prefix).key_id
    monkeypatch.delenv(PASSPHRASE_ENV)
    assert "protected by a passphrase" in refused(InputError, Signer.load, prefix)
    assert cli_run("keys", "show", str(prefix)) == (0, key_id + "\n", "")


def test_keys_show_refusals(tmp_path: Path) -> None:
    assert cli_run("keys", "show", str(tmp_path / "nope")) == (2, "", f"recondiff: error: {tmp_path / 'nope'}: no such key file\n")
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    code, _, err = cli_run("keys", "show", str(junk))
    assert code == 2 and err.startswith(f"recondiff: error: {junk}: not an Ed25519 key file (")


def test_the_trust_and_key_options(tmp_path: Path, alice: Signer, mallory: Signer) -> None:
    import click
    from click.testing import CliRunner

    from recondiff.cli.keys import ROLES, key_option, load_signer, load_trust, trust_option
    from recondiff.config.model import TrustConfig, TrustEntry
    from recondiff.io import signing

    assert ROLES == signing.ROLES
    seen: dict[str, object] = {}

    @click.command()
    @trust_option
    @key_option(envvar="RECONDIFF_TEST_KEY")
    def command(trust_files: tuple[Path, ...], key_path: Path | None) -> None:
        config = TrustConfig(keys=(TrustEntry("alice", alice.public.line, ("decide",), "cfg #1"),))
        seen["trust"] = load_trust(trust_files, config)
        seen["signer"] = load_signer(key_path)

    one = _trust_file(tmp_path, ("ci", mallory.public.line, '["plan"]'))
    prefix, made = make_key(tmp_path, "bob")
    result = CliRunner().invoke(command, ["--trust", str(one)], env={"RECONDIFF_TEST_KEY": str(prefix)})
    assert result.exit_code == 0, result.output
    trust = seen["trust"]
    assert isinstance(trust, Trust) and sorted(k.name for k in trust.keys) == ["alice", "ci"]
    assert isinstance(seen["signer"], Signer) and seen["signer"].key_id == made.key_id
    assert load_signer(None) is None and not load_trust((), None)
