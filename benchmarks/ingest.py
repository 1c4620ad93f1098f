#!/usr/bin/env python3
"""Ingestion benchmark: rows/s into Delta, VOIDX against its peers, in one run.

  CSV -> Delta      VOIDX `ingest(...)` from a CSV external table
                    vs python deltalake `write_deltalake` (pyarrow.csv read + write)
                    vs DuckDB reading the same CSV into a table (and into Parquet)
  PostgreSQL -> Delta
                    VOIDX `ingest(...)` from a STORED AS POSTGRES table
                    vs `COPY ... TO STDOUT` (psycopg) parsed by pyarrow, written by write_deltalake

A throwaway PostgreSQL is started on a free port (initdb + pg_ctl; Debian's postgresql package).
Every VOIDX load is validated like a real one (schema check, NOT NULL, key uniqueness is off,
no constraints), so the ratio is the cost of the full path.

  python benchmarks/ingest.py [--rows 2000000] [--reps 3] [--voidx-bin PATH] [--no-pg]
"""
import argparse
import csv
import glob
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_csv(path, rows, seed=42):
    rnd = random.Random(seed)
    statuses = ["placed", "paid", "shipped", "cancelled"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "amount", "quantity", "status", "updated_at"])
        for i in range(rows):
            w.writerow([i, f"c{rnd.randrange(50000)}", round(rnd.uniform(1, 500), 2),
                        rnd.randrange(1, 10), statuses[i % 4],
                        f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00"])


class Voidx:
    def __init__(self, binary, work):
        import psycopg
        self.data = os.path.join(work, "voidx-data")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOIDX_") and not k.startswith("PG")}
        env["RUST_LOG"] = "warn"
        env["VOIDX_INGEST__ALLOWED_DIRS"] = f"{self.data},{work}"
        env["VOIDX_INGEST__ALLOWED_HOSTS"] = "127.0.0.1"
        self.out = open(os.path.join(work, "voidx.out"), "w")
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "serve", "--data-dir", self.data,
                                      "--pg-addr", f"127.0.0.1:{self.port}", "--http-addr", "127.0.0.1:0"],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while True:
            try:
                self.conn = psycopg.connect(host="127.0.0.1", port=self.port, user="voidx", dbname="voidx",
                                            autocommit=True)
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise SystemExit("voidx did not start; see voidx.out")
                time.sleep(0.2)

    def sql(self, q):
        with self.conn.cursor() as cur:
            cur.execute(q)
            return cur.fetchall() if cur.description else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


class Postgres:
    def __init__(self, work):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        path = os.pathsep.join(bins + [os.environ.get("PATH", "")])
        initdb = shutil.which("initdb", path=path)
        if not initdb:
            raise SystemExit("initdb not found: apt-get install postgresql (or pass --no-pg)")
        self.bin = os.path.dirname(initdb)
        self.dir = os.path.join(work, "pg")
        self.port = free_port()
        self.user = None
        pre = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as 'postgres' (or nobody)
            import pwd
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                    self.user = name
                    break
                except KeyError:
                    pass
            os.makedirs(self.dir)
            shutil.chown(self.dir, self.user)
            os.chmod(work, 0o755)
            pre = ["runuser", "-u", self.user, "--"]
        self.pre = pre
        subprocess.run(pre + [os.path.join(self.bin, "initdb"), "-D", self.dir, "-A", "trust", "-U", "postgres"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(pre + [os.path.join(self.bin, "pg_ctl"), "-D", self.dir, "-w", "-l", os.path.join(self.dir, "log"),
                              "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def psql(self, sql):
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                        "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(self.pre + [os.path.join(self.bin, "pg_ctl"), "-D", self.dir, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def best(fn, reps):
    times = []
    for _ in range(reps):
        times.append(fn())
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--voidx-bin", default=os.environ.get("VOIDX_BIN", os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")), "debug", "voidx")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    import duckdb
    import pyarrow.csv as pacsv
    from deltalake import write_deltalake

    work = tempfile.mkdtemp(prefix="voidx-ingest-bench-")
    results = []
    try:
        path = os.path.join(work, "orders.csv")
        log(f"== writing {a.rows:,} rows of CSV")
        make_csv(path, a.rows)
        size_mb = os.path.getsize(path) / 1e6
        vx = Voidx(a.voidx_bin, work)
        vx.sql("CREATE SCHEMA bench")
        vx.sql(f"CREATE EXTERNAL TABLE bench.orders_csv STORED AS CSV LOCATION '{path}' "
               "OPTIONS ('format.has_header' 'true')")
        n = [0]

        def voidx_csv():
            n[0] += 1
            t = time.perf_counter()
            r = vx.sql(f"SELECT status, rows_written FROM ingest('bench.csv_{n[0]}', "
                       "'SELECT * FROM bench.orders_csv', '{}')")
            dt = time.perf_counter() - t
            assert r[0][0] == "success" and r[0][1] == a.rows, r
            return dt

        def deltalake_csv():
            n[0] += 1
            t = time.perf_counter()
            table = pacsv.read_csv(path)
            write_deltalake(os.path.join(work, f"py_{n[0]}"), table)
            return time.perf_counter() - t

        con = duckdb.connect()
        con.execute(f"SET threads = {a.threads}")

        def duckdb_table():
            n[0] += 1
            t = time.perf_counter()
            con.execute(f"CREATE TABLE d{n[0]} AS SELECT * FROM read_csv('{path}')")
            return time.perf_counter() - t

        def duckdb_parquet():
            n[0] += 1
            t = time.perf_counter()
            con.execute(f"COPY (SELECT * FROM read_csv('{path}')) TO '{work}/d{n[0]}.parquet' (FORMAT parquet)")
            return time.perf_counter() - t

        log("== CSV -> Delta")
        v = best(voidx_csv, a.reps)
        for name, fn in [("python deltalake (pyarrow.csv + write_deltalake)", deltalake_csv),
                         ("DuckDB read_csv -> table (in memory)", duckdb_table),
                         ("DuckDB read_csv -> Parquet file", duckdb_parquet)]:
            p = best(fn, a.reps)
            results.append(("CSV -> Delta", name, v, p))

        if not a.no_pg:
            log("== PostgreSQL -> Delta")
            pg = Postgres(work)
            try:
                pg.psql("CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id text, amount float8, "
                        "quantity int, status text, updated_at timestamp)")
                pg.psql(f"COPY orders FROM '{path}' CSV HEADER") if os.geteuid() != 0 else None
                if os.geteuid() == 0:
                    with open(path) as f:
                        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                                        "-c", "COPY orders FROM STDIN CSV HEADER"], stdin=f, check=True)
                vx.sql(f"CREATE EXTERNAL TABLE bench.orders_pg STORED AS POSTGRES LOCATION '{pg.url}' "
                       "OPTIONS ('table' 'public.orders')")

                def voidx_pg():
                    n[0] += 1
                    t = time.perf_counter()
                    r = vx.sql(f"SELECT status, rows_written FROM ingest('bench.pg_{n[0]}', "
                               "'SELECT * FROM bench.orders_pg', '{}')")
                    dt = time.perf_counter() - t
                    assert r[0][0] == "success" and r[0][1] == a.rows, r
                    return dt

                import io
                import psycopg

                def copy_deltalake():
                    n[0] += 1
                    t = time.perf_counter()
                    buf = io.BytesIO()
                    with psycopg.connect(host="127.0.0.1", port=pg.port, user="postgres", dbname="postgres") as c:
                        with c.cursor().copy("COPY orders TO STDOUT (FORMAT csv)") as cp:
                            for chunk in cp:
                                buf.write(chunk)
                    buf.seek(0)
                    names = ["order_id", "customer_id", "amount", "quantity", "status", "updated_at"]
                    table = pacsv.read_csv(buf, read_options=pacsv.ReadOptions(column_names=names))
                    write_deltalake(os.path.join(work, f"pypg_{n[0]}"), table)
                    return time.perf_counter() - t

                v = best(voidx_pg, a.reps)
                p = best(copy_deltalake, a.reps)
                results.append(("PostgreSQL -> Delta", "COPY TO STDOUT + pyarrow + write_deltalake", v, p))
            finally:
                pg.stop()
        vx.stop()
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nIngestion: {a.rows:,} rows ({size_mb:.0f} MB of CSV), best of {a.reps}, 2 cores\n")
    print(f"| path | peer | VOIDX rows/s | peer rows/s | VOIDX speed / peer |")
    print(f"|---|---|---|---|---|")
    for path_name, peer, v, p in results:
        print(f"| {path_name} | {peer} | {a.rows / v:,.0f} | {a.rows / p:,.0f} | {p / v:.2f}x |")


if __name__ == "__main__":
    main()
