#!/usr/bin/env python3
"""TPC-H on VOIDX against DuckDB, on the same Parquet files, in one run.

    tpch.py [--scale 1] [--reps 3] [--voidx-bin PATH] [--data DIR] [--modes parquet,delta] ...

(benchmarks/README.md, section "TPC-H"; `bash benchmarks/run.sh tpch [options]` runs it with the
benchmark venv.)

1. Data: `tpchgen-cli parquet -s SCALE` (PyPI; the Rust port of dbgen) writes the eight tables,
   one Parquet file each, into --data (default $TMPDIR/voidx-tpch-sfSCALE, kept between runs; a
   file `complete` marks a finished generation).
2. VOIDX: `voidx serve` over a new data directory, with --data in `ingest.allowed_dirs`.
   * mode `parquet`: `CREATE EXTERNAL TABLE tpch_parquet.<t> STORED AS PARQUET LOCATION '<file>'`;
   * mode `delta`: `CREATE TABLE tpch_delta.<t> AS SELECT * FROM tpch_parquet.<t>` (managed Delta
     tables; the load time is reported).
   The queries name the tables unqualified, so `public.<t>` is a view over the mode's table
   (`CREATE OR REPLACE VIEW`), replaced between the modes. A view is inlined into the query's plan.
3. DuckDB: in-process, `threads` = --threads (default 2), views `<t>` over `read_parquet('<file>')`.
4. Queries: tpch/qNN.sql, the 22 queries of the TPC-H specification with its validation parameters,
   one text for both engines. Per mode and query: one untimed run per engine whose rows are
   compared (numbers within 1e-4 or 1e-6 relative; dates and strings exactly; in order, or as a
   multiset when only the order of tied rows differs), then --reps timed runs per engine,
   alternating, and the median of each. VOIDX is timed over pgwire (psycopg 3, every row fetched),
   DuckDB in-process (every row fetched).
5. Report: per query the two medians and the ratio VOIDX / DuckDB, and per mode the geometric mean
   of the ratios (over the queries that answered correctly) and the sums; to stdout and
   results/tpch.txt.

Exit code: 0 when every query answered and matched DuckDB, whatever the ratios; 3 when a query
failed or gave a different answer; 1 when the setup failed.
"""

import argparse
import glob
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from decimal import Decimal

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
GOAL = 1.0  # issue 16: geometric mean of VOIDX / DuckDB at most 1.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate(data, scale):
    marker = os.path.join(data, "complete")
    with open(marker) if os.path.exists(marker) else open(os.devnull) as f:
        same_scale = f.read().strip() == f"scale {scale}"
    if same_scale and all(os.path.exists(os.path.join(data, f"{t}.parquet")) for t in TABLES):
        log(f"tpch: using the SF {scale} data in {data}")
        return
    tool = shutil.which("tpchgen-cli", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not tool:
        raise SystemExit("tpch: tpchgen-cli not found (pip install tpchgen-cli; run.sh's venv has it)")
    os.makedirs(data, exist_ok=True)
    log(f"tpch: generating SF {scale} with {tool} into {data}")
    started = time.monotonic()
    subprocess.run([tool, "parquet", "-s", str(scale), "-o", data, "--overwrite"], check=True)
    with open(marker, "w") as f:
        f.write(f"scale {scale}\n")
    log(f"tpch: generated in {time.monotonic() - started:.1f} s")


def queries(scale, only):
    out = []
    for path in sorted(glob.glob(os.path.join(BENCH_DIR, "tpch", "q*.sql"))):
        name = os.path.basename(path)[:-4]
        number = int(name[1:])
        if only and number not in only:
            continue
        with open(path) as f:
            text = f.read()
        # Q11's FRACTION is 0.0001 / SF (the specification, 2.4.11.3).
        text = text.replace(":fraction", repr(0.0001 / scale))
        out.append((name, text))
    return out


class Voidx:
    def __init__(self, binary, work, data, log_level):
        import psycopg
        self.dir = os.path.join(work, "voidx-data")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOIDX_") and not k.startswith("PG")}
        env["RUST_LOG"] = log_level
        env["VOIDX_INGEST__ALLOWED_DIRS"] = data
        self.out = open(os.path.join(work, "voidx.log"), "w")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.dir, "--pg-addr", f"127.0.0.1:{self.port}",
             "--http-addr", "127.0.0.1:0"],
            stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.conn = psycopg.connect(host="127.0.0.1", port=self.port, user="voidx", dbname="voidx",
                                            autocommit=True)
                break
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"tpch: voidx serve did not start; see {work}/voidx.log")
                time.sleep(0.2)

    def run(self, sql):
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None

    def version(self):
        return self.run("SELECT version()")[0][0]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def normalise(value):
    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return value.rstrip()
    return value


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(1e-4, 1e-6 * max(abs(a), abs(b)))
    return a == b


def same_rows(a, b):
    return len(a) == len(b) and all(
        len(x) == len(y) and all(same_value(u, v) for u, v in zip(x, y)) for x, y in zip(a, b))


def compare(voidx_rows, duck_rows):
    """'' when the answers agree, else what differs."""
    a = [tuple(normalise(v) for v in r) for r in voidx_rows]
    b = [tuple(normalise(v) for v in r) for r in duck_rows]
    if same_rows(a, b):
        return ""
    if len(a) == len(b):
        key = lambda r: tuple((0, v) if isinstance(v, float) else (1, str(v)) for v in r)  # noqa: E731
        if same_rows(sorted(a, key=key), sorted(b, key=key)):
            return ""  # the same rows; only tied rows come in another order
    if len(a) != len(b):
        return f"{len(a)} rows, DuckDB {len(b)}"
    for i, (x, y) in enumerate(zip(a, b)):
        if not (len(x) == len(y) and all(same_value(u, v) for u, v in zip(x, y))):
            return f"row {i + 1}: {x!r} vs DuckDB {y!r}"
    return "rows differ"


def timed(fn, reps):
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1, help="TPC-H scale factor (default 1)")
    ap.add_argument("--reps", type=int, default=3, help="timed runs per query and engine (default 3)")
    ap.add_argument("--voidx-bin", default=os.environ.get("VOIDX_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "voidx"))
    ap.add_argument("--voidx-log", default=os.environ.get("VOIDX_LOG", "warn"))
    ap.add_argument("--data", help="where the generated Parquet files are kept (default $TMPDIR/voidx-tpch-sfSCALE)")
    ap.add_argument("--modes", default="parquet,delta", help="parquet (external tables), delta (managed tables)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--queries", default="", help="comma-separated query numbers (default all 22)")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "tpch.txt"))
    args = ap.parse_args()

    import duckdb

    scale = args.scale if args.scale != int(args.scale) else int(args.scale)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("parquet", "delta"):
            raise SystemExit(f"tpch: unknown mode {m!r} (parquet, delta)")
    only = {int(q) for q in args.queries.split(",") if q.strip()}
    if not os.path.exists(args.voidx_bin):
        raise SystemExit(f"tpch: no voidx binary at {args.voidx_bin} (cargo build --release, or --voidx-bin)")
    data = os.path.abspath(args.data or os.path.join(tempfile.gettempdir(), f"voidx-tpch-sf{scale}"))
    generate(data, scale)
    qs = queries(scale, only)
    if not qs:
        raise SystemExit("tpch: no query selected")

    duck = duckdb.connect()
    duck.execute(f"SET threads = {args.threads}")
    for t in TABLES:
        duck.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{os.path.join(data, t + '.parquet')}')")

    work = tempfile.mkdtemp(prefix="voidx-tpch.")
    vx = Voidx(args.voidx_bin, work, data, args.voidx_log)
    results = {}  # mode -> [(query, voidx ms | None, duck ms, problem)]
    loads = {}
    failed = False
    try:
        version = vx.version()
        vx.run("CREATE SCHEMA tpch_parquet")
        for t in TABLES:
            vx.run(f"CREATE EXTERNAL TABLE tpch_parquet.{t} STORED AS PARQUET "
                   f"LOCATION '{os.path.join(data, t + '.parquet')}'")
        for mode in modes:
            schema = f"tpch_{mode}"
            if mode == "delta":
                vx.run("CREATE SCHEMA tpch_delta")
                started = time.monotonic()
                for t in TABLES:
                    vx.run(f"CREATE TABLE tpch_delta.{t} AS SELECT * FROM tpch_parquet.{t}")
                loads[mode] = time.monotonic() - started
                log(f"tpch: loaded the managed tables in {loads[mode]:.1f} s")
            for t in TABLES:
                vx.run(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM {schema}.{t}")
            rows = []
            for name, sql in qs:
                duck_rows = duck.execute(sql).fetchall()
                try:
                    voidx_rows = vx.run(sql)
                except Exception as e:  # a failed query is reported, the others still run
                    msg = " ".join(str(e).split())[:200]
                    log(f"tpch: {mode} {name}: VOIDX failed: {msg}")
                    rows.append((name, None, timed(lambda: duck.execute(sql).fetchall(), args.reps), f"failed: {msg}"))
                    failed = True
                    continue
                problem = compare(voidx_rows, duck_rows)
                if problem:
                    failed = True
                    log(f"tpch: {mode} {name}: WRONG RESULT: {problem}")
                vx_times, duck_times = [], []
                for _ in range(args.reps):
                    vx_times.append(timed(lambda: vx.run(sql), 1))
                    duck_times.append(timed(lambda: duck.execute(sql).fetchall(), 1))
                v, d = statistics.median(vx_times), statistics.median(duck_times)
                log(f"tpch: {mode} {name}: voidx {v:.1f} ms, duckdb {d:.1f} ms, ratio {v / d:.2f}"
                    + (f" ({problem})" if problem else ""))
                rows.append((name, v, d, problem))
            results[mode] = rows
    finally:
        vx.stop()

    lines = [
        f"VOIDX TPC-H, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: SF {scale}, {args.reps} timed runs per "
        f"query (median), DuckDB {duckdb.__version__} with {args.threads} threads; {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()})",
        f"voidx: {args.voidx_bin} ({version})",
        "",
    ]
    header = f"{'query':<6}" + "".join(f" | {mode + ' voidx ms':>18} {'duckdb ms':>10} {'ratio':>7}" for mode in modes)
    lines += [header, "-" * len(header)]
    for i, (name, _) in enumerate(qs):
        line = f"{name:<6}"
        for mode in modes:
            _, v, d, problem = results[mode][i]
            if v is None:
                line += f" | {'FAILED':>18} {d:>10.1f} {'-':>7}"
            else:
                mark = " WRONG" if problem else ""
                line += f" | {v:>18.1f} {d:>10.1f} {v / d:>7.2f}{mark}"
        lines.append(line)
    lines.append("")
    for mode in modes:
        ok = [(v, d) for _, v, d, p in results[mode] if v is not None and not p]
        geo = math.exp(sum(math.log(v / d) for v, d in ok) / len(ok)) if ok else float("nan")
        total_v = sum(v for v, _ in ok)
        total_d = sum(d for _, d in ok)
        bad = len(results[mode]) - len(ok)
        load = f"; CREATE TABLE AS of the 8 tables {loads[mode]:.1f} s" if mode in loads else ""
        lines.append(f"{mode}: geometric mean VOIDX / DuckDB {geo:.2f} (goal <= {GOAL:.1f}: "
                     f"{'met' if geo <= GOAL else 'NOT met'}) over {len(ok)} queries; sums {total_v:.0f} ms vs "
                     f"{total_d:.0f} ms; {bad} failed or wrong{load}")
    report = "\n".join(lines) + "\n"
    print(report)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    shutil.rmtree(work, ignore_errors=True)
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
