"""Which stored form of plan.json makes review commands scale (issue 16 point 2).

    .venv/bin/python benchmarks/plan_formats.py --plan /var/tmp/plan10m/plan.json \\
        --plan /var/tmp/plan10m/plan1m.json --work /var/tmp/planfmt

Each plan (today's single JSON document) is converted into three candidate forms
in ``--work/<stem>/``:

  jsonl    line 1 the header (canonical JSON, no events), then one canonical
           event per line: the bytes after line 1 are exactly what the plan
           digest hashes, so the digest stays as defined. Read by plain Python
           (orjson, line by line).
  parquet  events.parquet (zstd): one row per event, the columns a selector
           needs plus the canonical line (``event``), and ``seq`` (file
           order); the header as a JSON sidecar. Read by DuckDB.
  index    jsonl, plus index.parquet: the selector columns and each line's byte
           offset and length in the jsonl file. Counts and selectors by DuckDB
           on the index; the events shown are read by seeking into the jsonl.

Then every operation runs as its own child process (wall time, peak RSS and CPU
from ``os.wait4``), ``--repeat`` interleaved rounds, medians reported:

  show        plan show: header, counts by operation/response/(effective)
              approval, alerts, attention, the first 20 pending events (as
              recondiff/review/summary.py words them), with the ledger applied
  approve1    approve one event by id: find it, check it needs approval and is
              undecided, append one signed, hash-chained ledger line
  approveSel  approve by selector (response review + attribute memberOf: the
              10M plan's 100,000 group events), then another selector (attribute
              title: 200,000) to reject: count hits by kind, one ledger line each
  effective   read plan + ledger: each event's effective approval state, tallied
  stream      every event in plan order, parsed, with its effective state (what
              apply does), memory flat
  hash        SHA-256 of the whole plan file (what verifying one signature over
              it costs) + one Ed25519 verify
  ledger100k  write 100,000 ledger lines, one per event decision, each signed
              (Ed25519) and chained; ledgerVerify: verify them all

Every child writes a small result (counts, a hash of the ids in order) that the
parent compares across formats: a format that gives another answer fails the run.
The ledger line: canonical JSON of {prev, plan, decision, selector, ids, by, at,
comment} plus ``sig`` (base64 Ed25519 over the line without ``sig``); ``prev``
is the SHA-256 of the previous line (the plan digest for the first).
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

FORMATS = ("jsonl", "parquet", "index")
SELECTORS = {
    "approveSel": ("approved", {"response": "review", "attribute": "memberOf"}),
    "rejectSel": ("rejected", {"response": "review", "attribute": "title"}),
}


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# ---------------------------------------------------------------- conversion


def convert(plan: Path, out: Path) -> dict[str, Any]:
    """plan.json -> plan.jsonl (+ offsets.csv), header.json, events.parquet,
    index.parquet. Checks that the jsonl reproduces the plan's digest."""
    out.mkdir(parents=True, exist_ok=True)
    head: list[bytes] = []
    events_hash = hashlib.sha256()
    n = 0
    with plan.open("rb") as f:
        for line in f:
            if line.strip() == b'"events": [':
                break
            head.append(line)
        text = b"".join(head).rstrip()
        header = orjson.loads(text[:-1] + b"}")  # the header ends with "," before events
        with (out / "plan.jsonl").open("wb") as jl, (out / "offsets.csv").open("w") as offs:
            first = canonical(header) + b"\n"
            jl.write(first)
            pos = len(first)
            offs.write("seq,offset,length\n")
            for line in f:
                s = line.strip()
                if not s.startswith(b"{"):
                    continue
                if s.endswith(b","):
                    s = s[:-1]
                jl.write(s + b"\n")
                events_hash.update(s + b"\n")
                offs.write(f"{n},{pos},{len(s)}\n")
                pos += len(s) + 1
                n += 1
    body = {k: v for k, v in header.items() if k not in ("digest", "events")}
    digest = (
        "sha256:"
        + hashlib.sha256(canonical(body) + b"\n" + events_hash.hexdigest().encode()).hexdigest()
    )
    assert digest == header["digest"], "the jsonl does not reproduce the plan's digest"
    (out / "header.json").write_bytes(canonical(header))
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    columns = """
        seq, json_extract_string(event, '$.id') AS id,
        json_extract_string(event, '$.target') AS target,
        json_extract_string(event, '$.operation') AS operation,
        json_extract_string(event, '$.response') AS response,
        json_extract(event, '$.approval.required')::BOOLEAN AS required,
        json_extract_string(event, '$.approval.state') AS state,
        json_extract_string(event, '$.alert') AS alert,
        coalesce(json_extract_string(event, '$.object.key'),
                 json_extract_string(event, '$.object.member_of.key')) AS account,
        json_extract_string(event, '$.reason.situation') AS situation,
        json_extract_string(event, '$.reason.rule') AS rule,
        list_distinct(list_concat(
            coalesce(json_extract_string(event, '$.changes[*].attribute'), []),
            coalesce(json_extract_string(event, '$.reason.drift[*].attribute'), []))
        ) AS attributes"""
    source = """(SELECT * FROM (SELECT row_number() OVER () - 2 AS seq, json AS event
                 FROM read_ndjson_objects(?)) WHERE seq >= 0)"""
    jsonl = str(out / "plan.jsonl")
    con.execute(
        f"COPY (SELECT {columns}, event FROM {source} ORDER BY seq) TO '{out / 'events.parquet'}'"
        " (FORMAT parquet, COMPRESSION zstd)",
        [jsonl],
    )
    con.execute(
        f"COPY (SELECT {columns}, o.offset, o.length FROM {source} e"
        f" JOIN read_csv(?) o USING (seq) ORDER BY seq) TO '{out / 'index.parquet'}'"
        " (FORMAT parquet, COMPRESSION zstd)",
        [jsonl, str(out / "offsets.csv")],
    )
    (out / "offsets.csv").unlink()
    one = con.execute(
        "SELECT id FROM read_parquet(?) WHERE required ORDER BY seq LIMIT 1 OFFSET 1000",
        [str(out / "index.parquet")],
    ).fetchone()
    assert one is not None
    return {"events": n, "one_id": one[0]}


def make_key(work: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = work / "ed25519.key"
    if not path.exists():
        path.write_bytes(Ed25519PrivateKey.generate().private_bytes_raw())


def sign_plan(plan: Path, work: Path) -> None:
    digest = file_sha256(plan)
    (work / "plan.sig").write_bytes(private_key(work).sign(digest))


# ---------------------------------------------------------------- the ledger


def private_key(work: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes((work / "ed25519.key").read_bytes())


def file_sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.digest()


def read_ledger(path: Path, work: Path, plan_digest: str) -> tuple[list[dict[str, Any]], str]:
    """Every line checked: its chain hash and its signature. Returns the lines and
    the hash the next line must carry."""
    public = private_key(work).public_key()
    prev = plan_digest
    lines = []
    if path.exists():
        with path.open("rb") as f:
            for raw in f:
                line = orjson.loads(raw)
                assert line["prev"] == prev, "ledger chain broken"
                sig = base64.b64decode(line.pop("sig"))
                public.verify(sig, canonical(line))  # raises InvalidSignature
                prev = hashlib.sha256(raw.rstrip(b"\n")).hexdigest()
                lines.append(line)
    return lines, prev


def append_ledger(
    path: Path, work: Path, prev: str, plan_digest: str, entries: list[dict[str, Any]]
) -> None:
    key = private_key(work)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with path.open("ab") as f:
        for entry in entries:
            line = {"prev": prev, "plan": plan_digest, "by": "bench", "at": at, "comment": None}
            line |= entry
            line["sig"] = base64.b64encode(key.sign(canonical(line))).decode()
            raw = canonical(line)
            f.write(raw + b"\n")
            prev = hashlib.sha256(raw).hexdigest()
        f.flush()
        os.fsync(f.fileno())


def decisions(lines: list[dict[str, Any]]) -> dict[str, str]:
    """Each event's decision: the first one taken stays (as --all does today)."""
    out: dict[str, str] = {}
    for line in lines:
        for i in line["ids"]:
            out.setdefault(i, line["decision"])
    return out


# ---------------------------------------------------------------- per format


class Store:
    """One stored form. ``work`` holds the key; ``dir`` the converted plan."""

    def __init__(self, fmt: str, d: Path, work: Path) -> None:
        self.fmt, self.dir, self.work = fmt, d, work
        self.ledger = d / f"ledger.{fmt}.jsonl"
        self.jsonl = d / "plan.jsonl"
        self.con: duckdb.DuckDBPyConnection | None = None

    def header(self) -> dict[str, Any]:
        if self.fmt == "parquet":
            return orjson.loads((self.dir / "header.json").read_bytes())
        with self.jsonl.open("rb") as f:
            return orjson.loads(f.readline())

    def sql(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            self.con = duckdb.connect()
            table = "events" if self.fmt == "parquet" else "index"
            self.con.execute(
                f"CREATE VIEW ev AS SELECT * FROM read_parquet('{self.dir / table}.parquet')"
            )
            self.con.execute("CREATE TABLE decided (n INT, id VARCHAR, decision VARCHAR)")
            if self.ledger.exists() and self.ledger.stat().st_size:
                self.con.execute(
                    "INSERT INTO decided SELECT n, unnest(ids), decision FROM ("
                    " SELECT row_number() OVER () AS n, ids, decision FROM read_json(?,"
                    " format='newline_delimited',"
                    " columns={'ids': 'VARCHAR[]', 'decision': 'VARCHAR'}))",
                    [str(self.ledger)],
                )
            self.con.execute(
                "CREATE VIEW eff AS SELECT ev.*, coalesce(d.decision, ev.state) AS effective"
                " FROM ev LEFT JOIN (SELECT id, arg_min(decision, n) AS decision FROM decided"
                " GROUP BY id) d USING (id)"
            )
        return self.con

    def events(self) -> Any:
        """Every event in plan order, parsed (jsonl and index: the jsonl file)."""
        if self.fmt == "parquet":
            cur = self.sql().execute(
                "SELECT event FROM read_parquet(?)", [str(self.dir / "events.parquet")]
            )
            while rows := cur.fetchmany(20000):
                for (line,) in rows:
                    yield orjson.loads(line)
            return
        with self.jsonl.open("rb") as f:
            f.readline()
            for line in f:
                yield orjson.loads(line)

    def lines_at(self, where: list[tuple[int, int]]) -> list[dict[str, Any]]:
        with self.jsonl.open("rb") as f:
            out = []
            for offset, length in where:
                f.seek(offset)
                out.append(orjson.loads(f.read(length)))
            return out


def matches(event: dict[str, Any], sel: dict[str, str]) -> bool:
    if "response" in sel and event["response"] != sel["response"]:
        return False
    if "operation" in sel and event["operation"] != sel["operation"]:
        return False
    if "situation" in sel and event["reason"]["situation"] != sel["situation"]:
        return False
    if "rule" in sel and event["reason"].get("rule") != sel["rule"]:
        return False
    if "account" in sel:
        obj = event["object"]
        key = obj.get("key") or (obj.get("member_of") or {}).get("key") or ""
        if not fnmatch.fnmatchcase(key, sel["account"]):
            return False
    if "attribute" in sel:
        attrs = {c["attribute"] for c in event["changes"]}
        attrs |= {d["attribute"] for d in event["reason"].get("drift") or []}
        if sel["attribute"] not in attrs:
            return False
    return True


def sql_where(sel: dict[str, str]) -> tuple[str, list[str]]:
    column = {
        "response": "response",
        "operation": "operation",
        "situation": "situation",
        "rule": "rule",
    }
    parts, params = [], []
    for name, value in sel.items():
        if name in column:
            parts.append(f"{column[name]} = ?")
        elif name == "account":
            parts.append("account GLOB ?")
        elif name == "attribute":
            parts.append("list_contains(attributes, ?)")
        params.append(value)
    return " AND ".join(parts) or "true", params


# ---------------------------------------------------------------- operations


def op_show(store: Store) -> dict[str, Any]:
    from recondiff.review.summary import describe, reason_line, short_digest

    header = store.header()
    lines, _ = read_ledger(store.ledger, store.work, header["digest"])
    tally: Counter[tuple[str, str, str]] = Counter()
    alerts: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    if store.fmt == "jsonl":
        decided = decisions(lines)
        for e in store.events():
            state = decided.get(e["id"], e["approval"]["state"])
            tally[(e["operation"], e["response"], state)] += 1
            if e["alert"]:
                alerts.append(e)
            if state == "pending" and len(pending) < 20:
                pending.append(e)
    else:
        con = store.sql()
        for op, resp, st, n in con.execute(
            "SELECT operation, response, effective, count(*) FROM eff GROUP BY ALL"
        ).fetchall():
            tally[(op, resp, st)] = n
        pick = "event" if store.fmt == "parquet" else '"offset", "length"'
        alerts = fetch_events(
            store,
            con.execute(f"SELECT {pick} FROM eff WHERE alert IS NOT NULL ORDER BY seq").fetchall(),
        )
        pending = fetch_events(
            store,
            con.execute(
                f"SELECT {pick} FROM eff WHERE effective = 'pending' ORDER BY seq LIMIT 20"
            ).fetchall(),
        )
    by = [Counter[str](), Counter[str](), Counter[str]()]
    for key, n in tally.items():
        for i in range(3):
            by[i][key[i]] += n
    out = [
        f"plan {header['plan_id']} digest {short_digest(header['digest'])}",
        f"events {sum(tally.values())}",
    ]
    out += [", ".join(f"{k} {v}" for k, v in sorted(c.items())) for c in by]
    out += [f"alerts ({len(alerts)})"] + [f"  {e['id']} {describe(e)}" for e in alerts]
    out += [f"pending (first {len(pending)})"]
    out += [f"  {e['id']} {describe(e)}  {reason_line(e)}" for e in pending]
    sys.stdout.write("\n".join(out) + "\n")
    return {
        "text": hashlib.sha256("\n".join(out).encode()).hexdigest()[:16],
        "by_approval": dict(sorted(by[2].items())),
    }


def fetch_events(store: Store, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    if store.fmt == "parquet":
        return [orjson.loads(r[0]) for r in rows]
    return store.lines_at([(r[0], r[1]) for r in rows])


def select(
    store: Store, sel: dict[str, str], decided: dict[str, str]
) -> tuple[list[str], Counter[str]]:
    """Ids of the undecided events that need approval and match, in plan order,
    and how many of each (operation, response)."""
    ids: list[str] = []
    kinds: Counter[str] = Counter()
    if store.fmt == "jsonl":
        for e in store.events():
            undecided = e["approval"]["state"] == "pending" and e["id"] not in decided
            if e["approval"]["required"] and undecided and matches(e, sel):
                ids.append(e["id"])
                kinds[f"{e['operation']} {e['response']}"] += 1
        return ids, kinds
    where, params = sql_where(sel)
    rows = (
        store.sql()
        .execute(
            f"SELECT id, operation || ' ' || response FROM eff WHERE required"
            f" AND effective = 'pending' AND {where} ORDER BY seq",
            params,
        )
        .fetchall()
    )
    for i, k in rows:
        ids.append(i)
        kinds[k] += 1
    return ids, kinds


def op_approve(store: Store, name: str, one_id: str) -> dict[str, Any]:
    header = store.header()
    lines, prev = read_ledger(store.ledger, store.work, header["digest"])
    decided = decisions(lines)
    if name == "approve1":
        decision, sel = "approved", {}
        ids = [i for i in find_one(store, one_id) if i not in decided]
        kinds = Counter({"one": len(ids)})
    else:
        decision, sel = SELECTORS[name]
        ids, kinds = select(store, sel, decided)
    sys.stdout.write(f"{len(ids)} events: {dict(kinds)}\n")
    append_ledger(
        store.ledger,
        store.work,
        prev,
        header["digest"],
        [{"decision": decision, "selector": sel or None, "ids": ids}],
    )
    return {"n": len(ids), "ids": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]}


def find_one(store: Store, event_id: str) -> list[str]:
    if store.fmt == "jsonl":
        needle = b'"id":"' + event_id.encode() + b'"'
        with store.jsonl.open("rb") as f:
            f.readline()
            for line in f:
                if needle in line:
                    e = orjson.loads(line)
                    if e["id"] == event_id and e["approval"]["required"]:
                        return [event_id]
        return []
    row = (
        store.sql()
        .execute(
            "SELECT id FROM eff WHERE id = ? AND required AND effective = 'pending'", [event_id]
        )
        .fetchall()
    )
    return [r[0] for r in row]


def op_effective(store: Store) -> dict[str, Any]:
    header = store.header()
    lines, _ = read_ledger(store.ledger, store.work, header["digest"])
    tally: Counter[str] = Counter()
    if store.fmt == "jsonl":
        decided = decisions(lines)
        for e in store.events():
            tally[decided.get(e["id"], e["approval"]["state"])] += 1
    else:
        for st, n in (
            store.sql().execute("SELECT effective, count(*) FROM eff GROUP BY ALL").fetchall()
        ):
            tally[st] = n
    return {"by_approval": dict(sorted(tally.items()))}


def op_stream(store: Store) -> dict[str, Any]:
    header = store.header()
    lines, _ = read_ledger(store.ledger, store.work, header["digest"])
    decided = decisions(lines)
    h = hashlib.sha256()
    runnable = 0
    for e in store.events():
        state = decided.get(e["id"], e["approval"]["state"])
        if e["target"] == "endpoint" and state in ("auto", "approved"):
            runnable += 1
            h.update(e["id"].encode())
    return {"runnable": runnable, "ids": h.hexdigest()[:16]}


def op_hash(store: Store, plan: Path) -> dict[str, Any]:
    digest = file_sha256(plan)
    private_key(store.work).public_key().verify((store.work / "plan.sig").read_bytes(), digest)
    return {"sha256": digest.hex()[:16]}


def op_ledger100k(store: Store) -> dict[str, Any]:
    header = store.header()
    ids = [f"ev-{i:016x}" for i in range(100_000)]
    path = store.dir / "ledger100k.jsonl"
    path.unlink(missing_ok=True)
    append_ledger(
        path,
        store.work,
        header["digest"],
        header["digest"],
        [{"decision": "approved", "selector": None, "ids": [i]} for i in ids],
    )
    return {"lines": len(ids)}


def op_ledger_verify(store: Store) -> dict[str, Any]:
    lines, _prev = read_ledger(store.dir / "ledger100k.jsonl", store.work, store.header()["digest"])
    return {"lines": len(lines)}  # the last hash changes with each run's time


# ---------------------------------------------------------------- the parent


@dataclass
class Run:
    size: str
    fmt: str
    op: str
    wall: float
    rss_mb: float
    cpu: float
    result: str


def child(argv: list[str], result: Path) -> tuple[float, float, float, dict[str, Any]]:
    result.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen([*argv, "--result", str(result)], stdout=devnull)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return (
        wall,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        orjson.loads(result.read_bytes()),
    )


def run_size(plan: Path, work: Path, repeat: int, rows: list[Run]) -> None:
    d = work / plan.stem
    me = [sys.executable, __file__]
    size = plan.stem
    if not (d / "index.parquet").exists() or not (d / "meta.json").exists():
        wall, rss, cpu, meta = child(
            [*me, "--child", "convert", "--plan", str(plan), "--work", str(work)], d / ".result"
        )
        rows.append(Run(size, "all", "convert", wall, rss, cpu, str(meta["events"])))
        (d / "meta.json").write_bytes(orjson.dumps(meta))
    meta = orjson.loads((d / "meta.json").read_bytes())
    size = f"{plan.stem} ({meta['events']:,} events)"
    ops = ["show", "approve1", "approveSel", "rejectSel", "show", "effective", "stream"]
    measured: dict[tuple[str, str], list[tuple[float, float, float, str]]] = {}
    for _ in range(repeat):
        for fmt in FORMATS:
            (d / f"ledger.{fmt}.jsonl").unlink(missing_ok=True)
        for i, op in enumerate(ops):
            name = "show+ledger" if op == "show" and i else op
            for fmt in FORMATS:
                if op == "stream" and fmt == "index":
                    continue  # the same code as jsonl
                wall, rss, cpu, res = child(
                    [
                        *me,
                        "--child",
                        op,
                        "--format",
                        fmt,
                        "--dir",
                        str(d),
                        "--work",
                        str(work),
                        "--one-id",
                        meta["one_id"],
                        "--plan",
                        str(plan),
                    ],
                    d / ".result",
                )
                measured.setdefault((name, fmt), []).append((wall, rss, cpu, json.dumps(res)))
        for op in ("hash", "ledger100k", "ledgerVerify"):
            target = d / "plan.jsonl" if op == "hash" else plan
            wall, rss, cpu, res = child(
                [
                    *me,
                    "--child",
                    op,
                    "--format",
                    "jsonl",
                    "--dir",
                    str(d),
                    "--work",
                    str(work),
                    "--plan",
                    str(target),
                ],
                d / ".result",
            )
            measured.setdefault((op, "-"), []).append((wall, rss, cpu, json.dumps(res)))
    for (op, fmt), runs in measured.items():
        results = {r[3] for r in runs}
        assert len(results) == 1, f"{op} {fmt} gave different results: {results}"
        rows.append(
            Run(
                size,
                fmt,
                op,
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
                statistics.median(r[2] for r in runs),
                runs[0][3],
            )
        )
    by_op: dict[str, set[str]] = {}
    for r in rows:
        if r.size == size and r.fmt in FORMATS:
            by_op.setdefault(r.op, set()).add(r.result)
    for op, results in by_op.items():
        if len(results) != 1:
            raise SystemExit(f"{size} {op}: formats disagree: {results}")


def run_child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    plan = Path(args.plan[0])
    if args.child == "convert":
        make_key(work)
        result = convert(plan, work / plan.stem)
        sign_plan(work / plan.stem / "plan.jsonl", work)
    else:
        store = Store(args.format, Path(args.dir), work)
        fns = {
            "show": lambda: op_show(store),
            "approve1": lambda: op_approve(store, "approve1", args.one_id),
            "approveSel": lambda: op_approve(store, "approveSel", ""),
            "rejectSel": lambda: op_approve(store, "rejectSel", ""),
            "effective": lambda: op_effective(store),
            "stream": lambda: op_stream(store),
            "hash": lambda: op_hash(store, plan),
            "ledger100k": lambda: op_ledger100k(store),
            "ledgerVerify": lambda: op_ledger_verify(store),
        }
        result = fns[args.child]()
    Path(args.result).write_bytes(orjson.dumps(result))


def table(rows: list[Run]) -> str:
    out = [
        "| plan | format | operation | wall s | peak RSS MB | CPU s | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r.size} | {r.fmt} | {r.op} | {r.wall:.2f} | {r.rss_mb:.0f} |"
            f" {r.cpu:.2f} | {r.result[:60]} |"
        )
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plan", action="append", required=True, help="plan.json (repeatable)")
    p.add_argument("--work", default="/var/tmp/planfmt")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also time today's `recondiff plan show` on the plan.json",
    )
    p.add_argument("--out", default=None, help="write the Markdown table here too")
    p.add_argument("--child"), p.add_argument("--format"), p.add_argument("--dir")
    p.add_argument("--one-id"), p.add_argument("--result")
    args = p.parse_args()
    if args.child:
        run_child(args)
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Run] = []
    started = datetime.now(UTC).isoformat(timespec="minutes")
    load0 = os.getloadavg()
    for plan in map(Path, args.plan):
        first = len(rows)
        if args.baseline:
            exe = Path(sys.executable).with_name("recondiff")
            wall, rss, cpu, _ = child_plain([str(exe), "plan", "show", str(plan)])
            rows.append(Run(plan.stem, "plan.json", "show (today)", wall, rss, cpu, ""))
        run_size(plan, work, args.repeat, rows)
        print(table(rows[first:]), flush=True)
    text = (
        f"{platform.node()} {os.cpu_count()} cores, {started} UTC,"
        f" load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f},"
        f" {args.repeat} rounds (medians)\n\n" + table(rows) + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


def child_plain(argv: list[str]) -> tuple[float, float, float, None]:
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(argv, stdout=devnull)
        _, _status, usage = os.wait4(proc.pid, 0)
    return (time.perf_counter() - t0, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, None)


if __name__ == "__main__":
    sys.exit(main())
