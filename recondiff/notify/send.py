"""One message to one ``[[notify]]`` target, through Apprise.

What can go wrong here never costs the run: every failure (a secret not in the
environment, a refused connection, a server's 500, Apprise itself raising)
comes back as a :class:`Delivery` with a reason, and the reason is scrubbed of
the target's URL and secret before anyone sees it. Apprise's own log lines are
captured, never printed (config/notify.quiet_apprise).

Apprise runs in a child process (``python -m recondiff.notify.child``) that is
killed at the deadline: a receiver that answers one byte at a time never trips
a socket's read timeout, and Apprise's worker threads, joined when Python
exits, would otherwise hold the run open for as long as it trickles. The
child's stderr goes nowhere; its answer comes back on its stdout.
"""

from __future__ import annotations

import base64
import contextlib
import html
import logging
import pickle
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

from recondiff.config.notify import MissingSecret, NotifyTarget, quiet_apprise

TIMEOUT_SECONDS = 30.0
"""The longest one target may take (Apprise's whole call): a target that does
not answer delays the end of the run by this much, no more."""

_WHY_LENGTH = 300


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str = "info"  # Apprise's notify type: info | success | warning | failure
    attachment: Path | None = None


@dataclass(frozen=True)
class Delivery:
    target: NotifyTarget
    sent: bool
    why: str | None = None


def deliver(
    target: NotifyTarget, message: Message, environ: Mapping[str, str] | None = None
) -> Delivery:
    """Send ``message`` to ``target`` from a child process given at most
    :data:`TIMEOUT_SECONDS` (and a few to start); never raises for the target's
    sake."""
    timeout = TIMEOUT_SECONDS
    payload = pickle.dumps((target, message, dict(environ) if environ is not None else None,
                            timeout))
    child = subprocess.Popen(
        # -P: not the current directory first on sys.path (an apprise.py or a
        # recondiff/ folder where the run started must not be what the child imports)
        [sys.executable, "-P", "-m", "recondiff.notify.child"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        answer, _ = child.communicate(payload, timeout=timeout + grace(timeout))
    except subprocess.TimeoutExpired:
        return Delivery(target, False, f"no answer within {timeout:g} s; given up")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        sent, why = pickle.loads(answer)
    except Exception:  # the child died (killed, out of memory): nothing of it is said
        return Delivery(target, False, f"the sending process ended without an answer "
                                       f"(exit {child.returncode})")
    return Delivery(target, bool(sent), why)


def deliver_here(
    target: NotifyTarget,
    message: Message,
    environ: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Delivery:
    """Send ``message`` to ``target`` in this process (the child's work)."""
    try:
        url, secret = target.url_with_secret(environ)
    except MissingSecret as exc:
        return Delivery(target, False, str(exc))
    secrets = _secret_forms(url, secret)
    try:
        ok, lines = _send(url, message, timeout)
    except Exception as exc:  # Apprise or a plugin raising: a failed target, not a run
        return Delivery(target, False, _scrub(f"{type(exc).__name__}: {exc}", secrets))
    if ok:
        return Delivery(target, True)
    return Delivery(target, False, _scrub(_reason(lines), secrets))


def _send(url: str, message: Message, timeout: float) -> tuple[bool, list[str]]:
    import apprise

    quiet_apprise()
    # no plugins from the user's folders, nothing kept on disk between runs
    asset = apprise.AppriseAsset(plugin_paths=[], storage_mode="memory")
    apobj = apprise.Apprise(asset=asset)
    with _captured() as lines:
        if not apobj.add(url):
            return False, [*lines, "Apprise did not accept the URL"]
        attach = None
        if message.attachment is not None:
            attach = apprise.AppriseAttachment()
            attach.add(str(message.attachment))
        result = apobj.notify(
            body=message.body,
            title=message.title,
            notify_type=message.kind,
            # text, so that Apprise escapes it for an HTML or Markdown target:
            # a value from the directory is never markup (docs/notify.md)
            body_format=apprise.NotifyFormat.TEXT,
            attach=attach,
            interpret_escapes=False,
            timeout=timeout,
        )
        return bool(result), list(lines)


class _Lines(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        # a record that cannot be formatted is not worth a failure
        with contextlib.suppress(Exception):
            self.into.append(f"{record.levelname} {record.getMessage()}")


@contextmanager
def _captured() -> Iterator[list[str]]:
    """Apprise's log lines while it works (its threads' too), for the reason."""
    lines: list[str] = []
    logger = logging.getLogger("apprise")
    handler = _Lines(lines)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _reason(lines: list[str]) -> str:
    """Why it failed, from Apprise's lines: the last warning or error, with the
    exception it names if one follows."""
    picked = [line.split(" ", 1)[1] for line in lines
              if line.startswith(("WARNING ", "ERROR ", "CRITICAL "))]
    # a server's answer (its error page, which may repeat the request and so the
    # secret in its path) is never part of the reason: only the exception's words
    details = [line.split(" ", 1)[1] for line in lines
               if line.startswith("DEBUG ") and "Exception" in line]
    why = picked[-1] if picked else "Apprise reported a failure and said no more"
    if details and details[-1] not in why:
        why = f"{why} ({details[-1]})"
    # a mail server's own words (smtplib's (535, b'...')) are its to choose: not said
    return re.sub(r"""b(['"]).*?\1""", "b'…'", why)


def _secret_forms(url: str, secret: str | None) -> list[str]:
    """Every spelling of what must not be said: the secret (raw, percent- and
    plus-encoded, base64 alone and as Basic and SMTP PLAIN credentials), the URL
    it went into, and the URL's own password if it had one."""
    forms = [url]
    try:
        parts = urlsplit(url)
        user, password = unquote(parts.username or ""), parts.password
    except ValueError:
        user, password = "", None
    for value in (secret, unquote(password) if password else None):
        if not value:
            continue
        forms += [value, quote(value), quote_plus(value)]
        forms += [quote(value, safe=safe) for safe in ("", "/", "/:@")]
        forms.append(quote_plus(value, safe="/"))
        for raw in (value, f"{user}:{value}", f"\0{user}\0{value}"):
            encoded = base64.b64encode(raw.encode("utf-8")).decode("ascii")
            forms += [encoded, encoded.rstrip("=")]
    if password:
        forms.append(password)
    return sorted({f for f in forms if f}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    """One line, the secrets replaced by ***, control characters dropped, capped.
    A URL an HTTP library quotes (``with url: /path?query``) is not said at all;
    percent, plus and HTML escapes are decoded, so that a secret spelled by a
    client's own quoting rules (``!`` kept, a space ``%20`` or ``+``) is found."""
    text = _hidden(re.sub(r"(?i)\burl: ?\S+", "url: (not said)", text), secrets)
    text = _hidden(html.unescape(unquote(text)), secrets)
    plus = _hidden(unquote_plus(text), secrets)  # a query's space spelled +
    if plus.count("***") > text.count("***"):
        text = plus
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= _WHY_LENGTH else text[: _WHY_LENGTH - 1] + "…"


def grace(timeout: float) -> float:
    """The time a child may take beyond Apprise's own cap: its start."""
    return min(5.0, timeout)


def _hidden(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
