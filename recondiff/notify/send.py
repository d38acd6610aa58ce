"""One message to one ``[[notify]]`` target, through Apprise.

What can go wrong here never costs the run: every failure (a secret not in the
environment, a refused connection, a server's 500, Apprise itself raising)
comes back as a :class:`Delivery` with a reason, and the reason is scrubbed of
the target's URL and secret before anyone sees it. Apprise's own log lines are
captured, never printed (config/notify.quiet_apprise).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

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
    """Send ``message`` to ``target``; never raises for the target's sake."""
    try:
        url, secret = target.url_with_secret(environ)
    except MissingSecret as exc:
        return Delivery(target, False, str(exc))
    secrets = _secret_forms(url, secret)
    try:
        ok, lines = _send(url, message)
    except Exception as exc:  # Apprise or a plugin raising: a failed target, not a run
        return Delivery(target, False, _scrub(f"{type(exc).__name__}: {exc}", secrets))
    if ok:
        return Delivery(target, True)
    return Delivery(target, False, _scrub(_reason(lines), secrets))


def _send(url: str, message: Message) -> tuple[bool, list[str]]:
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
            timeout=TIMEOUT_SECONDS,
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
    details = [line.split(" ", 1)[1] for line in lines
               if line.startswith("DEBUG ") and ("Exception" in line or "Response" in line
                                                 or "error" in line.lower())]
    why = picked[-1] if picked else "Apprise reported a failure and said no more"
    if details and details[-1] not in why:
        why = f"{why} ({details[-1]})"
    return why


def _secret_forms(url: str, secret: str | None) -> list[str]:
    """Every spelling of what must not be said: the secret (raw and encoded),
    the URL it went into, and the URL's own password if it had one."""
    forms = [url]
    if secret:
        forms += [secret, quote(secret, safe=""), quote(secret, safe="/"), quote(secret)]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        forms += [password, unquote(password)]
    return sorted({f for f in forms if f}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    """One line, the secrets replaced by ***, control characters dropped, capped."""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= _WHY_LENGTH else text[: _WHY_LENGTH - 1] + "…"
