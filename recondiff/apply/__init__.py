"""Executing an approved plan against an LDAP directory (``recondiff apply``).

- :mod:`~recondiff.apply.runner`: :func:`~recondiff.apply.runner.apply_plan`, the
  run in its phases: the checks, the journal's lock, the connection, the
  events in order, resuming an event left ``started``.
- :mod:`~recondiff.apply.event`: :class:`~recondiff.apply.event.EventRunner`,
  one runnable event sent or checked: its preconditions, its outcome.
- :mod:`~recondiff.apply.transport`: the LDAP connection (URL, TLS, bind), one
  request sent and its answer read, a lost connection.
- :mod:`~recondiff.apply.journal`: ``PLAN.journal.jsonl`` and its lock: what ran,
  so that a re-run never sends an event twice.

What must hold before any event is sent (mass-change limits, protected accounts,
refused events) and the assertion control are in the plan layer
(:mod:`recondiff.plan.checks`, :mod:`recondiff.plan.assertions`), shared with
``recondiff plan ldif``, which does not import the LDAP client.
"""
