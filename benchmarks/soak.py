#!/usr/bin/env python3
"""VOIDX soak test: mixed REST + SQL + ingest load at 80 % of the measured peak, for a long time.

    soak.py [--duration 600] [--peak-seconds 20] [--load 0.8] [--voidx-bin PATH] ...

(benchmarks/README.md, section "Soak"; `bash benchmarks/run.sh soak [options]` runs it with the
benchmark venv.) One `voidx serve` on free loopback ports, over the demo data (`voidx demo`) plus
a small `revenue_predictor` model trained here, and a JSON source the script serves itself on
127.0.0.1 (every GET returns 20 new orders, so every `ingest` has rows to write).

Three workloads:
  rest    POST /predict with random features (few cache hits), one keep-alive connection per worker
  sql     a rotation of point lookups and small aggregates over shop.* via psycopg
  ingest  SELECT * FROM ingest('soak.orders', 'SELECT * FROM soak_src', watermark updated_at)

Phase 1 (--peak-seconds) runs the three together closed-loop (--peak-workers each) and measures
each workload's throughput in that mix: the peak. Phase 2 (--duration) offers each workload
--load × its peak, open loop: requests are scheduled at fixed intervals whatever the answers do,
and a latency is measured from the scheduled start, so a stall shows as latency instead of
silently lowering the load (no coordinated omission). Server RSS (VmRSS of /proc/PID/status) is
sampled every --rss-every seconds.

Report: per --bucket (60 s) interval and workload: requests, errors, p50 and p99 (ms); the error
total (any non-2xx answer, SQL error, ingest status other than success, timeout, and every request
still queued --grace seconds after the end, which is counted as backlog and not sent); RSS first/last,
the least-squares slope in MB per hour and the difference between the mean of the last and the
first quarter of the samples; and a final check that soak.orders holds every row of the ingest
runs reported successful, exactly once.

Exit code: 0 when there were no errors, the rows check passed and the RSS slope is at most
--max-rss-slope MB/h; 3 otherwise; 1 when the setup failed.
"""

import argparse
import http.client
import http.server
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["tenure_days", "recency_days", "frequency", "monetary", "avg_order_value"]
WORKLOADS = ("rest", "sql", "ingest")
SOURCE_BATCH = 20

SQL_QUERIES = [
    "SELECT customer_id, country, segment FROM shop.customers WHERE customer_id = {id}",
    "SELECT count(*), sum(total_amount) FROM shop.orders WHERE customer_id = {id}",
    "SELECT segment, count(*) FROM shop.customers GROUP BY segment ORDER BY segment",
    "SELECT status, count(*) FROM shop.orders WHERE customer_id < {id} GROUP BY status",
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the JSON source


class Source:
    """A local REST source: every GET answers the next SOURCE_BATCH orders (ids and updated_at
    increase), so every ingest run has new rows above its watermark."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 1
        source = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with source.lock:
                    first = source.next_id
                    source.next_id += SOURCE_BATCH
                rows = [{"id": i, "amount": i * 0.5,
                         "updated_at": f"2026-01-01T00:00:00.{i:06d}Z" if i < 1_000_000 else
                         f"2026-01-02T00:00:00.{i % 1_000_000:06d}Z"}
                        for i in range(first, first + SOURCE_BATCH)]
                body = json.dumps({"data": rows}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/orders"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


# --------------------------------------------------------------------------- the server


class Voidx:
    def __init__(self, binary, work, log_level, settings):
        self.data = os.path.join(work, "voidx-data")
        self.log_path = os.path.join(work, "voidx-serve.log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOIDX_") and not k.startswith("PG")}
        env["RUST_LOG"] = log_level
        env["VOIDX_INGEST__ALLOWED_HOSTS"] = "127.0.0.1"
        env.update(settings)
        with open(os.path.join(work, "voidx-demo.log"), "w") as out:
            subprocess.run([binary, "demo", "--data-dir", self.data, "--scale", "1"], stdout=out,
                           stderr=subprocess.STDOUT, env=env, check=True)
        self.out = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.data, "--pg-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"],
            stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.pid = self.proc.pid
        deadline = time.time() + 120
        self.pg_port = self.http_port = None
        while self.http_port is None:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"voidx serve did not start:\n{self.tail()}")
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            pg = re.search(r"PostgreSQL wire on 127\.0\.0\.1:(\d+)", text)
            web = re.search(r"HTTP on http://127\.0\.0\.1:(\d+)", text)
            if pg and web:
                self.pg_port, self.http_port = int(pg.group(1)), int(web.group(1))
            else:
                time.sleep(0.1)
        self.conninfo = f"host=127.0.0.1 port={self.pg_port} user=voidx dbname=voidx connect_timeout=10"

    def connect(self):
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=True)

    def rss_mb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def log_state(self):
        """The prediction log's (queue depth, written, dropped) from /health: a queue that
        grows while RSS grows means the log's writer falls behind, not a leak."""
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            c.request("GET", "/health")
            state = json.loads(c.getresponse().read())["prediction_log"]
            return state["queue_depth"], state["written"], state["dropped"]
        except (OSError, ValueError, KeyError):
            return -1, -1, -1  # a sample without it; RSS is what the run is about
        finally:
            c.close()

    def tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def setup(vx, source):
    """The model /predict serves, the external source and the ingest target."""
    cols = ", ".join(f"CAST(value * {p} % {m} AS DOUBLE) AS {f}"
                     for f, p, m in zip(FEATURES, (37, 53, 29, 31, 41), (101, 97, 89, 83, 79)))
    y = " + ".join(f"{w} * {f}" for w, f in zip((3, 1, 2, 0.5, 0.1), FEATURES))
    with vx.connect() as conn:
        for sql in [
            "CREATE SCHEMA soak",
            f"CREATE TABLE soak.train AS SELECT value AS id, {cols} FROM generate_series(1, 2000)",
            f"CREATE VIEW soak.rows AS SELECT *, {y} AS y FROM soak.train",
            "SELECT version FROM train('revenue_predictor', 'SELECT * FROM soak.rows', 'y', "
            "'{\"id_columns\": [\"id\"], \"cv_folds\": 2, \"n_estimators\": 30}')",
            f"CREATE EXTERNAL TABLE soak_src (id BIGINT, amount DOUBLE, updated_at TIMESTAMP) "
            f"STORED AS REST LOCATION '{source.url}' OPTIONS ('records' '$.data')",
        ]:
            conn.execute(sql)
        max_id = conn.execute("SELECT max(customer_id) FROM shop.customers").fetchone()[0]
    return int(max_id)


# --------------------------------------------------------------------------- one request each


class Client:
    """One worker's connections; `call(kind)` runs one request and returns None or an error text."""

    def __init__(self, vx, max_id):
        self.vx = vx
        self.max_id = max_id
        self.rng = random.Random()
        self.http = None
        self.conn = None

    def call(self, kind):
        try:
            return getattr(self, kind)()
        except Exception as e:  # any failure is an error of this request; start afresh
            self.close()
            return f"{type(e).__name__}: {e}"[:300]

    def rest(self):
        if self.http is None:
            self.http = http.client.HTTPConnection("127.0.0.1", self.vx.http_port, timeout=30)
        body = json.dumps({"customer_id": f"c-{self.rng.randrange(1_000_000)}",
                           "features": {f: round(self.rng.uniform(0, 100), 2) for f in FEATURES}})
        self.http.request("POST", "/predict", body, {"content-type": "application/json"})
        resp = self.http.getresponse()
        text = resp.read()
        if resp.status != 200:
            return f"HTTP {resp.status}: {text[:200]!r}"
        return None

    def _sql(self, sql):
        if self.conn is None:
            self.conn = self.vx.connect()
        return self.conn.execute(sql).fetchall()

    def sql(self):
        q = self.rng.choice(SQL_QUERIES).format(id=self.rng.randint(1, self.max_id))
        self._sql(q)
        return None

    def ingest(self):
        rows = self._sql("SELECT status, error FROM ingest('soak.orders', 'SELECT * FROM soak_src', "
                         "'{\"watermark\": \"updated_at\"}')")
        if not rows or rows[0][0] != "success":
            return f"ingest: {rows!r}"[:300]
        return None

    def close(self):
        for c in (self.http, self.conn):
            try:
                if c is not None:
                    c.close()
            except Exception:
                pass
        self.http = self.conn = None


# --------------------------------------------------------------------------- load


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples = []  # (kind, scheduled start since t0, latency s, error or None)
        self.errors = {}
        self.backlog = {}  # kind -> requests still queued at the end (+ --grace), never sent

    def add(self, kind, start, latency, error):
        with self.lock:
            self.samples.append((kind, start, latency, error))
            if error is not None:
                self.errors.setdefault(kind, []).append(error)


def closed_loop(vx, max_id, workers, seconds):
    """Every workload at once, `workers` closed-loop clients each: requests per second per kind."""
    stop = time.monotonic() + seconds
    done = {k: 0 for k in WORKLOADS}
    errors = []
    lock = threading.Lock()

    def worker(kind):
        c = Client(vx, max_id)
        n = 0
        while time.monotonic() < stop:
            err = c.call(kind)
            if err is not None:
                with lock:
                    errors.append((kind, err))
            n += 1
        c.close()
        with lock:
            done[kind] += n

    threads = [threading.Thread(target=worker, args=(k,)) for k in WORKLOADS for _ in range(workers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {k: done[k] / elapsed for k in WORKLOADS}, errors


def open_loop(vx, max_id, rates, seconds, pool, rss_every, rec, rss, grace):
    """Each workload at its fixed rate for `seconds`, `pool[kind]` workers each; requests still
    queued `grace` seconds after the end are counted in `rec.backlog` and not sent."""
    t0 = time.monotonic()
    end = t0 + seconds
    queues = {k: queue.Queue() for k in WORKLOADS}

    def scheduler(kind):
        interval = 1.0 / rates[kind]
        i = 0
        while True:
            due = t0 + i * interval
            if due >= end:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            queues[kind].put(due)
            i += 1
        for _ in range(pool[kind]):
            queues[kind].put(None)

    def worker(kind):
        c = Client(vx, max_id)
        while True:
            due = queues[kind].get()
            if due is None:
                break
            if time.monotonic() > end + grace:
                # The offered rate was not sustained: what is still queued is
                # counted, not sent, so the run ends and reports.
                with rec.lock:
                    rec.backlog[kind] = rec.backlog.get(kind, 0) + 1
                continue
            err = c.call(kind)
            rec.add(kind, due - t0, time.monotonic() - due, err)
        c.close()

    def sampler():
        while time.monotonic() < end:
            try:
                rss.append((time.monotonic() - t0, vx.rss_mb(), vx.log_state()))
            except OSError:
                rss.append((time.monotonic() - t0, float("nan"), (0, 0, 0)))
                return
            time.sleep(rss_every)

    threads = [threading.Thread(target=scheduler, args=(k,)) for k in WORKLOADS]
    threads += [threading.Thread(target=worker, args=(k,)) for k in WORKLOADS for _ in range(pool[k])]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --------------------------------------------------------------------------- report


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def slope_per_hour(points):
    pts = [(t, v) for t, v in points if v == v]
    if len(pts) < 2:
        return float("nan")
    mt = sum(t for t, _ in pts) / len(pts)
    mv = sum(v for _, v in pts) / len(pts)
    var = sum((t - mt) ** 2 for t, _ in pts)
    return 0.0 if var == 0 else sum((t - mt) * (v - mv) for t, v in pts) / var * 3600.0


def quartile_delta(points):
    vals = [v for _, v in points if v == v]
    q = max(1, len(vals) // 4)
    return sum(vals[-q:]) / q - sum(vals[:q]) / q


def report(opts, peak, rates, rec, rss, check, meta):
    lines = [f"VOIDX soak, {meta['date']}: {meta['build']}; {meta['machine']}",
             f"peak (closed loop, {opts.peak_workers} workers per workload, {opts.peak_seconds:.0f} s, all three "
             "at once): " + ", ".join(f"{k} {peak[k]:.1f}/s" for k in WORKLOADS),
             f"offered ({opts.load:.0%} of peak, open loop, {opts.duration:.0f} s): "
             + ", ".join(f"{k} {rates[k]:.1f}/s" for k in WORKLOADS), ""]
    head = f"{'until s':>7}" + "".join(f" | {k + ' n':>9} {'err':>4} {'p50 ms':>7} {'p99 ms':>8}" for k in WORKLOADS) \
        + f" | {'RSS MB':>7} {'log queue':>9}"
    lines += [head, "-" * len(head)]
    buckets = int((opts.duration + opts.bucket - 1) // opts.bucket)
    for b in range(buckets):
        lo, hi = b * opts.bucket, (b + 1) * opts.bucket
        row = f"{min(hi, opts.duration):>7.0f}"
        for k in WORKLOADS:
            xs = [(lat, err) for kind, s, lat, err in rec.samples if kind == k and lo <= s < hi]
            lat = [x * 1000 for x, _ in xs]
            errs = sum(1 for _, e in xs if e is not None)
            row += f" | {len(xs):>9} {errs:>4} {pct(lat, 50):>7.1f} {pct(lat, 99):>8.1f}"
        mem = [(v, q[0]) for t, v, q in rss if lo <= t < hi]
        row += f" | {(mem[-1][0] if mem else float('nan')):>7.1f} {(mem[-1][1] if mem else 0):>9}"
        lines.append(row)
    total = {k: sum(1 for s in rec.samples if s[0] == k) for k in WORKLOADS}
    errors = sum(len(v) for v in rec.errors.values())
    # The first --warmup seconds fill caches and the allocator's pools: growth, not a leak.
    steady = [p[:2] for p in rss if p[0] >= opts.warmup] or [p[:2] for p in rss]
    slope = slope_per_hour(steady)
    delta = quartile_delta(steady)
    lines += ["",
              "all: " + ", ".join(f"{k} {total[k]} requests p99 {pct([s[2] * 1000 for s in rec.samples if s[0] == k], 99):.1f} ms"
                                  for k in WORKLOADS),
              f"errors: {errors}" + "".join(f"; {k}: {len(v)} (first: {v[0]})" for k, v in rec.errors.items()),
              "backlog: " + (", ".join(f"{k} {n} requests still queued {opts.grace:.0f} s after the end, never sent "
                                       "(the offered rate was not sustained)" for k, n in rec.backlog.items())
                             or "none (every offered request was sent)"),
              f"RSS: {rss[0][1]:.1f} MB -> {rss[-1][1]:.1f} MB over {len(rss)} samples; after {opts.warmup:.0f} s "
              f"of warm-up: slope {slope:+.1f} MB/h (limit {opts.max_rss_slope:.0f}), "
              f"last quarter - first quarter {delta:+.1f} MB",
              f"prediction log: queue depth at most {max(q[0] for _, _, q in rss)}, "
              f"{rss[-1][2][1]} entries written, {rss[-1][2][2]} dropped",
              f"rows check: {check}"]
    return "\n".join(lines), errors + sum(rec.backlog.values()), slope


def rows_check(vx):
    """soak.orders must hold each row of the successful ingest runs exactly once."""
    with vx.connect() as conn:
        n, distinct = conn.execute("SELECT count(*), count(DISTINCT id) FROM soak.orders").fetchone()
        written = conn.execute("SELECT coalesce(sum(rows_written), 0) FROM voidx.ingest_runs "
                               "WHERE target = 'soak.orders' AND status = 'success'").fetchone()[0]
    ok = n == distinct == written
    return ok, f"{'ok' if ok else 'FAILED'}: soak.orders has {n} rows ({distinct} distinct ids), successful runs wrote {written}"


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GB RAM"


def default_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(BENCH_DIR, "..", "target"))
    return os.path.join(target, "debug", "voidx")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=600, help="seconds of the open-loop phase [600]")
    ap.add_argument("--peak-seconds", type=float, default=20, help="seconds of the peak measurement [20]")
    ap.add_argument("--peak-workers", type=int, default=2, help="closed-loop clients per workload [2]")
    ap.add_argument("--load", type=float, default=0.8, help="fraction of the peak offered [0.8]")
    ap.add_argument("--pool", type=int, default=8, help="open-loop workers for rest and sql [8]")
    ap.add_argument("--ingest-pool", type=int, default=2,
                    help="open-loop workers for ingest [2]; runs into one target take turns, so more only queue")
    ap.add_argument("--warmup", type=float, default=60, help="seconds of phase 2 left out of the RSS slope [60]")
    ap.add_argument("--grace", type=float, default=60,
                    help="seconds after the end that queued requests are still sent; the rest count as backlog [60]")
    ap.add_argument("--bucket", type=float, default=60, help="seconds per report row [60]")
    ap.add_argument("--rss-every", type=float, default=5, help="seconds between RSS samples [5]")
    ap.add_argument("--max-rss-slope", type=float, default=100,
                    help="MB per hour of RSS growth that fails the run [100]")
    ap.add_argument("--workloads", default="rest,sql,ingest",
                    help="which of rest,sql,ingest run (to find which one a growth comes from) [all]")
    ap.add_argument("--set", action="append", default=[], metavar="VOIDX_KEY=VALUE",
                    help="a server setting for this run, e.g. VOIDX_CACHE__MAX_ENTRIES=0 (repeatable)")
    ap.add_argument("--voidx-bin", default=os.environ.get("VOIDX_BIN") or default_bin())
    ap.add_argument("--voidx-log", default="warn")
    ap.add_argument("--build", default="dev profile (Cargo.toml [profile.dev]), as run.sh builds")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "soak.txt"))
    ap.add_argument("--keep-work", action="store_true", default=os.environ.get("KEEP_WORK") == "1")
    opts = ap.parse_args()
    global WORKLOADS
    WORKLOADS = tuple(w for w in ("rest", "sql", "ingest") if w in opts.workloads.split(","))
    settings = dict(kv.split("=", 1) for kv in opts.set)

    work = tempfile.mkdtemp(prefix="voidx-soak.")
    source = Source()
    vx = None
    try:
        log(f"soak: {opts.voidx_bin}, work in {work}")
        vx = Voidx(opts.voidx_bin, work, opts.voidx_log, settings)
        max_id = setup(vx, source)
        log(f"phase 1: peak, closed loop, {opts.peak_seconds:.0f} s")
        peak, peak_errors = closed_loop(vx, max_id, opts.peak_workers, opts.peak_seconds)
        if peak_errors:
            log(f"phase 1 had {len(peak_errors)} errors, first: {peak_errors[0]}")
        rates = {k: max(0.1, opts.load * peak[k]) for k in WORKLOADS}
        log("phase 2: open loop " + ", ".join(f"{k} {rates[k]:.1f}/s" for k in WORKLOADS)
            + f" for {opts.duration:.0f} s")
        rec, rss = Recorder(), []
        pool = {"rest": opts.pool, "sql": opts.pool, "ingest": opts.ingest_pool}
        open_loop(vx, max_id, rates, opts.duration, pool, opts.rss_every, rec, rss, opts.grace)
        ok_rows, check = rows_check(vx) if "ingest" in WORKLOADS else (True, "no ingest in this run")
        meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "build": opts.build, "machine": machine()}
        text, errors, slope = report(opts, peak, rates, rec, rss, check, meta)
        if peak_errors:
            text += f"\nphase 1 errors: {len(peak_errors)} (first: {peak_errors[0]})"
        print(text)
        os.makedirs(os.path.dirname(opts.out), exist_ok=True)
        with open(opts.out, "w") as f:
            f.write(text + "\n")
        failed = errors > 0 or peak_errors or not ok_rows or not (slope <= opts.max_rss_slope)
        if vx.proc.poll() is not None:
            log(f"voidx serve died:\n{vx.tail()}")
            failed = True
        return 3 if failed else 0
    except Exception as e:
        log(f"soak: setup failed: {e}")
        if vx is not None:
            log(vx.tail())
        opts.keep_work = True
        return 1
    finally:
        if vx is not None:
            vx.stop()
        source.stop()
        if opts.keep_work:
            log(f"soak: logs and data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
