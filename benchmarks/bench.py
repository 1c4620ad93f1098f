#!/usr/bin/env python3
"""Helpers for benchmarks/run.sh.

    bench.py freeport                     print a free TCP port on 127.0.0.1
    bench.py analytic --port P ...        time the analytic queries on VOIDX (pgwire) and DuckDB
    bench.py report --work DIR ...        print the side-by-side table from the collected results

Only the standard library, psycopg 3 and duckdb are used (benchmarks/.venv).
"""

import argparse
import glob
import json
import math
import os
import re
import socket
import statistics
import sys
import time
import urllib.parse
from datetime import date, datetime
from decimal import Decimal

QUERY_TITLES = {
    "revenue_by_month": "revenue by month",
    "top_customers": "top 10 customers by revenue",
    "rfm": "RFM per customer",
}

# The goals of issue 16 (latency ratios VOIDX / peer, upper bounds).
LATENCY_GOALS = {"select1": 2.0, "point_lookup": 5.0}  # SELECT 1 within 2x PostgreSQL, lookups within 5x
ANALYTIC_GOAL = 1.0  # the demo's analytic queries at or below DuckDB's time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- freeport


def freeport():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


# --------------------------------------------------------------------------- analytic


def delta_files(table_dir):
    """Data files of the latest version of a Delta table, by replaying its JSON log.

    Returns None when the log has a checkpoint (not replayed here) so the caller can fall back.
    """
    log_dir = os.path.join(table_dir, "_delta_log")
    if os.path.exists(os.path.join(log_dir, "_last_checkpoint")) or glob.glob(os.path.join(log_dir, "*.checkpoint*.parquet")):
        return None
    commits = sorted(glob.glob(os.path.join(log_dir, "[0-9]" * 20 + ".json")))
    if not commits:
        return None
    live = {}
    for commit in commits:
        with open(commit) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                action = json.loads(line)
                if "add" in action:
                    if action["add"].get("partitionValues"):
                        return None  # partitioned: the partition columns live in the path, not the file
                    live[action["add"]["path"]] = True
                elif "remove" in action:
                    live.pop(action["remove"]["path"], None)
    return [os.path.join(table_dir, urllib.parse.unquote(p)) for p in sorted(live)]


def table_locations(cur, data_dir):
    """{table name: directory} of the shop tables, from voidx.tables (fallback: the directory layout)."""
    out = {}
    try:
        cur.execute("SELECT name, location FROM voidx.tables WHERE schema = 'shop'")
        for name, location in cur.fetchall():
            if location:
                if location.startswith("file://"):
                    location = urllib.parse.unquote(urllib.parse.urlparse(location).path)
                out[name] = location.rstrip("/")
    except Exception as e:  # noqa: BLE001 - report and fall back
        log(f"  voidx.tables not readable ({e}); using the directory layout")
        cur.connection.rollback()
    if not out:
        for d in sorted(glob.glob(os.path.join(data_dir, "tables", "shop", "*-" + "[0-9a-f]" * 8))):
            name = re.sub(r"-[0-9a-f]{8}$", "", os.path.basename(d))
            if name in out:
                raise SystemExit(f"two directories for shop.{name} under {data_dir}: cannot tell which is live")
            out[name] = d
    return out


def normalize(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def same_rows(a, b):
    """Compare two result sets; floats may differ by a cent (summation order, rounding)."""
    if len(a) != len(b):
        return False, f"row count {len(a)} vs {len(b)}"
    for i, (ra, rb) in enumerate(zip(a, b)):
        if len(ra) != len(rb):
            return False, f"row {i}: {len(ra)} vs {len(rb)} columns"
        for j, (x, y) in enumerate(zip(ra, rb)):
            x, y = normalize(x), normalize(y)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=0.011):
                    return False, f"row {i} column {j}: {x!r} vs {y!r}"
            elif x != y:
                return False, f"row {i} column {j}: {x!r} vs {y!r}"
    return True, ""


def checksum(rows):
    """Row count and the sum of every numeric cell, rounded: printed so a reader can compare."""
    total = 0.0
    for r in rows:
        for v in r:
            v = normalize(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total += v
    return f"{len(rows)} rows, numeric sum {total:.2f}"


def timed(run, reps):
    run()  # warm-up: caches, first planning, lazily opened tables
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def analytic(args):
    import duckdb
    import psycopg

    queries = sorted(glob.glob(os.path.join(args.queries, "*.sql")))
    results = {"queries": [], "tables": [], "reps": args.reps}
    conninfo = f"host=127.0.0.1 port={args.port} user=voidx dbname=voidx connect_timeout=10"
    vx = psycopg.connect(conninfo, autocommit=True)
    vcur = vx.cursor()

    duck = duckdb.connect(config={"threads": args.threads})
    duck.execute(f"SET threads = {int(args.threads)}")
    duck.execute("CREATE SCHEMA shop")

    # Same data for both: DuckDB reads the Parquet files of each table's latest Delta version.
    locations = table_locations(vcur, args.data_dir)
    if not locations:
        raise SystemExit(f"no shop tables found in {args.data_dir}")
    results["counts_ok"] = True
    for name, directory in sorted(locations.items()):
        files = delta_files(directory)
        how = "Delta log"
        if files is None:
            files = sorted(f for f in glob.glob(os.path.join(directory, "**", "*.parquet"), recursive=True)
                           if "_delta_log" not in f)
            how = "all Parquet files (log has a checkpoint or partitions: may include removed files)"
        if not files:
            raise SystemExit(f"shop.{name}: no Parquet files under {directory}")
        file_list = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        duck.execute(f"CREATE VIEW shop.{name} AS SELECT * FROM read_parquet([{file_list}])")
        vcur.execute(f"SELECT count(*) FROM shop.{name}")
        v_count = vcur.fetchone()[0]
        d_count = duck.execute(f"SELECT count(*) FROM shop.{name}").fetchone()[0]
        ok = v_count == d_count
        results["counts_ok"] &= ok
        results["tables"].append({"table": f"shop.{name}", "voidx": v_count, "duckdb": d_count,
                                  "files": len(files), "how": how, "ok": ok})
        log(f"  shop.{name:<18} voidx {v_count:>9} rows, duckdb {d_count:>9} rows "
            f"({len(files)} files from the {how}){'' if ok else '   MISMATCH'}")

    for path in queries:
        key = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            sql = f.read().strip().rstrip(";").strip()
        entry = {"key": key, "title": QUERY_TITLES.get(key, key), "file": os.path.relpath(path, args.root)}

        def run_duck():
            return duck.execute(sql).fetchall()

        def run_voidx():
            vcur.execute(sql)
            return vcur.fetchall()

        try:
            d_rows = run_duck()
            entry["duckdb_check"] = checksum(d_rows)
            entry["duckdb_ms"] = timed(run_duck, args.reps)
        except duckdb.Error as e:
            entry["duckdb_error"] = f"{type(e).__name__}: {str(e).strip()}"
            log(f"  {key}: DuckDB FAILED: {first_line(entry['duckdb_error'])}")
            d_rows = None
        try:
            v_rows = run_voidx()
        except psycopg.Error as e:
            diag = getattr(e, "diag", None)
            state = getattr(diag, "sqlstate", None) or getattr(e, "sqlstate", None)
            entry["error"] = f"{type(e).__name__} (SQLSTATE {state}): {str(e).strip()}"
            log(f"  {key}: VOIDX FAILED: {entry['error']}")
            if vx.closed or vx.broken:
                vx = psycopg.connect(conninfo, autocommit=True)
                vcur = vx.cursor()
            results["queries"].append(entry)
            save(results, args.out)
            continue
        entry["voidx_check"] = checksum(v_rows)
        if d_rows is not None:
            ok, why = same_rows(v_rows, d_rows)
        else:
            ok, why = False, "DuckDB failed: nothing to compare with"
        entry["same_result"] = ok
        if not ok:
            entry["mismatch"] = why
        entry["voidx_ms"] = timed(run_voidx, args.reps)
        d_med = f"{statistics.median(entry['duckdb_ms']):8.1f} ms" if "duckdb_ms" in entry else "  FAILED"
        log(f"  {key:<18} voidx median {statistics.median(entry['voidx_ms']):8.1f} ms, duckdb median {d_med}, "
            f"results {'match' if ok else 'DIFFER: ' + why} ({entry['voidx_check']})")
        results["queries"].append(entry)
        save(results, args.out)

    results["complete"] = True
    save(results, args.out)
    vx.close()


def save(results, path):
    """Written after every query, so a crash later still leaves the measurements taken so far."""
    with open(path, "w") as f:
        json.dump(results, f, indent=2)


# --------------------------------------------------------------------------- report

PGBENCH_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
PGBENCH_TPS = re.compile(r"^tps = ([0-9.]+)", re.M)
PGBENCH_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)


def parse_pgbench(path):
    """(tps, latency_ms, error) from a pgbench log; error is None when the run is usable."""
    if not os.path.exists(path):
        return None, None, "not run"
    with open(path, errors="replace") as f:
        text = f.read()
    rc = None
    if os.path.exists(path + ".rc"):
        with open(path + ".rc") as f:
            rc = f.read().strip()
    lat, tps = PGBENCH_LATENCY.search(text), PGBENCH_TPS.search(text)
    failed = PGBENCH_FAILED.search(text)
    errors = [l.strip() for l in text.splitlines()
              if "ERROR" in l or "error" in l.lower() or "aborted" in l or "FATAL" in l]
    if rc not in (None, "0") or not lat or not tps or (failed and int(failed.group(1)) > 0):
        why = errors[0] if errors else f"pgbench exit code {rc}"
        return None, None, why
    return float(tps.group(1)), float(lat.group(1)), None


def fmt(v, digits=2):
    if v is None:
        return "FAILED"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_ratio(v):
    if v is None:
        return "FAILED"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def first_line(text):
    return str(text).strip().splitlines()[0] if str(text).strip() else str(text)


def report(args):
    rows = []  # (benchmark, voidx, peer, ratio, goal, met)
    notes = []
    titles = {"select1": "SELECT 1", "point_lookup": "point lookup"}
    with open(os.path.join(args.work, "pgbench-runs.txt")) as f:
        runs = [line.split() for line in f if line.strip()]
    for script, mode, clients, _jobs in runs:
        title = titles.get(script, script)
        label = f"{mode}" if clients == args.clients else f"{mode}, {clients} client{'s' if clients != '1' else ''}"
        logs = {who: os.path.join(args.work, f"pgbench-{who}-{script}-{mode}-c{clients}.log") for who in ("voidx", "pg")}
        v_tps, v_lat, v_err = parse_pgbench(logs["voidx"])
        p_tps, p_lat, p_err = parse_pgbench(logs["pg"])
        goal = LATENCY_GOALS.get(script)
        for err, who in ((v_err, "voidx"), (p_err, "postgres")):
            if err:
                notes.append(f"{title} ({label}) on {who} FAILED: {err}")
        ratio = v_lat / p_lat if v_lat and p_lat else None
        rows.append((f"{title} latency (ms, {label})", fmt(v_lat, 3), fmt(p_lat, 3) + " (pg)",
                     fmt_ratio(ratio), f"<= {goal}" if goal else "-",
                     ("yes" if ratio <= goal else "NO") if goal and ratio else ("FAILED" if goal else "")))
        ratio = v_tps / p_tps if v_tps and p_tps else None
        rows.append((f"{title} tps ({label})", fmt(v_tps, 0), fmt(p_tps, 0) + " (pg)", fmt_ratio(ratio), "-", ""))

    analytic_ok = True
    if os.path.exists(args.analytic):
        with open(args.analytic) as f:
            res = json.load(f)
        if not res.get("counts_ok", True):
            analytic_ok = False
            for t in res["tables"]:
                if not t["ok"]:
                    notes.append(f"row counts differ for {t['table']}: voidx {t['voidx']}, duckdb {t['duckdb']}")
        if not res.get("complete"):
            analytic_ok = False
            notes.append("the analytic comparison stopped early (see the log above): later queries are missing")
        for q in res["queries"]:
            d_med = statistics.median(q["duckdb_ms"]) if "duckdb_ms" in q else None
            if "duckdb_error" in q:
                notes.append(f"{q['title']} on duckdb FAILED ({q['file']}): {first_line(q['duckdb_error'])}")
            if "error" in q:
                notes.append(f"{q['title']} on voidx FAILED ({q['file']}): {first_line(q['error'])}")
                rows.append((f"{q['title']} (ms, median)", "FAILED", f"{fmt(d_med, 1)} (duckdb)", "FAILED",
                             f"<= {ANALYTIC_GOAL}", "FAILED"))
                continue
            v_med = statistics.median(q["voidx_ms"])
            ratio = v_med / d_med if d_med else None
            met = ("yes" if ratio <= ANALYTIC_GOAL else "NO") if ratio else "FAILED"
            if d_med is None:
                pass
            elif not q.get("same_result", False):
                met = "WRONG RESULT"
                notes.append(f"{q['title']}: results differ between voidx and duckdb: {q.get('mismatch')}")
            rows.append((f"{q['title']} (ms, median)", fmt(v_med, 1), f"{fmt(d_med, 1)} (duckdb)", fmt_ratio(ratio),
                         f"<= {ANALYTIC_GOAL}", met))
    else:
        analytic_ok = False
        notes.append(f"analytic comparison FAILED: no results ({args.analytic} missing; see the log above)")

    header = ("benchmark", "voidx", "peer", "ratio (voidx/peer)", "goal", "met")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = []
    lines.append(f"VOIDX benchmarks  {datetime.now().isoformat(timespec='seconds')}")
    lines.append(f"voidx: {args.voidx_bin} ({args.voidx_version})")
    lines.append(f"postgres: {args.pg_version}   duckdb: {args.duckdb_version}   scale: {args.scale}   "
                 f"cpus: {os.cpu_count()}")
    lines.append(f"pgbench: -c {args.clients} -j {args.jobs} -T {args.duration} per run;  "
                 f"analytic: median of {args.reps} runs after 1 warm-up, DuckDB threads={args.threads}")
    lines.append("")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    if os.path.exists(args.analytic):
        lines.append("")
        lines.append("result checks (voidx | duckdb):")
        for q in res["queries"]:
            lines.append(f"  {q['title']:<28} {q.get('voidx_check', 'FAILED')} | {q.get('duckdb_check', 'FAILED')}"
                         f"{'' if q.get('same_result') else '   <- NOT EQUAL' if 'error' not in q else ''}")
        for t in res["tables"]:
            lines.append(f"  {t['table']:<28} {t['voidx']} rows | {t['duckdb']} rows{'' if t['ok'] else '   <- NOT EQUAL'}")
    if notes:
        lines.append("")
        lines.append("problems:")
        lines.extend(f"  - {n}" for n in notes)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    # A measurement that could not be taken or gave a wrong answer fails the run (exit 3);
    # a goal that is not met does not.
    return 3 if any(r[5] in ("FAILED", "WRONG RESULT") or r[1] == "FAILED" for r in rows) or not analytic_ok else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport")
    a = sub.add_parser("analytic")
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--data-dir", required=True)
    a.add_argument("--queries", required=True)
    a.add_argument("--root", required=True)
    a.add_argument("--reps", type=int, default=10)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--analytic", required=True)
    r.add_argument("--out", required=True)
    for name in ("voidx-bin", "voidx-version", "pg-version", "duckdb-version", "scale", "clients", "jobs",
                 "duration", "reps", "threads"):
        r.add_argument("--" + name, default="?")
    args = p.parse_args()
    if args.cmd == "freeport":
        freeport()
    elif args.cmd == "analytic":
        analytic(args)
    else:
        sys.exit(report(args))


if __name__ == "__main__":
    main()
