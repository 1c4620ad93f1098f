#!/usr/bin/env python3
"""VOIDX drift benchmark: drift_score / drift_report against numpy and scipy on the same data.

    drift.py run [--rows N] [--train-rows N] [--reps R] [--voidx-bin PATH]

A model is trained in VOIDX on `--train-rows` rows of two normal features; `--rows` (10M) fresh rows
of feature x, shifted by 0.1 standard deviations with 1 % NULLs, are the current data. VOIDX answers
`SELECT drift_score('drift_bench', 'x', x) FROM bench.current` over pgwire; numpy computes the PSI
on the very bins the model stored (its decile edges, NULL bin, shares clamped to 1e-4) over the
same rows already in memory. The KS part compares `drift_report` (PSI + KS + moments for both
features, KS against the stored quantiles) with `scipy.stats.ks_2samp` on x alone (training rows
against current rows). Best of `--reps` timed runs after one warm-up. Prints ratios (> 1: VOIDX
faster) and writes benchmarks/results/drift.txt.

Exit code: 0 when measured and VOIDX's PSI equals numpy's (1e-9), 3 on disagreement, 1 on setup failure.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

PSI_GOAL = 2.0  # issue 7: drift_score over 10M rows >= 2 x numpy PSI on the same bins
EPSILON = 1e-4


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def best(fn, reps):
    fn()  # warm-up
    times = []
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def numpy_psi(np, edges, fractions, null_fraction, x):
    nulls = np.isnan(x)
    present = x[~nulls]
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, nulls.sum()).astype(np.float64)
    actual = np.maximum(counts / len(x), EPSILON)
    expected = np.maximum(np.append(np.asarray(fractions) * (1.0 - null_fraction), null_fraction), EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def run(opts):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.stats import ks_2samp

    from models import Voidx

    work = tempfile.mkdtemp(prefix="voidx-drift-")
    rng = np.random.default_rng(opts.seed)
    log(f"== data: {opts.train_rows:,} training rows, {opts.rows:,} current rows")
    tx = rng.normal(50.0, 10.0, opts.train_rows)
    tz = rng.normal(0.0, 1.0, opts.train_rows)
    train = pa.table({"x": tx, "z": tz, "y": 2 * tx + tz})
    cx = rng.normal(51.0, 10.0, opts.rows)
    cx[rng.random(opts.rows) < 0.01] = np.nan
    cz = rng.normal(0.0, 1.0, opts.rows)
    current = pa.table({"x": pa.array(cx, from_pandas=True), "z": cz})  # NaN -> NULL
    pq.write_table(train, os.path.join(work, "train.parquet"))
    # Several files so VOIDX scans in parallel (one CREATE TABLE AS writes one file).
    parts = max(1, min(os.cpu_count() or 1, 8))
    step = -(-opts.rows // parts)
    for i in range(parts):
        pq.write_table(current.slice(i * step, step), os.path.join(work, f"current_{i}.parquet"))

    vx = Voidx(opts.voidx_bin, work, opts.voidx_log)
    results = {"rows": opts.rows, "train_rows": opts.train_rows, "cores": os.cpu_count()}
    try:
        vx.query("CREATE SCHEMA bench")
        q = lambda p: p.replace("'", "''")  # noqa: E731
        vx.query(f"CREATE EXTERNAL TABLE bench.train_src STORED AS PARQUET LOCATION '{q(os.path.join(work, 'train.parquet'))}'")
        vx.query("CREATE TABLE bench.train AS SELECT * FROM bench.train_src")
        for i in range(parts):
            src = q(os.path.join(work, f"current_{i}.parquet"))
            vx.query(f"CREATE EXTERNAL TABLE bench.current_{i} STORED AS PARQUET LOCATION '{src}'")
            verb = "CREATE TABLE bench.current AS" if i == 0 else "INSERT INTO bench.current"
            vx.query(f"{verb} SELECT * FROM bench.current_{i}")
        n = vx.query("SELECT count(*) FROM bench.current")[0][0]
        assert n == opts.rows, f"loaded {n} rows"
        vx.query("SELECT * FROM train('drift_bench', 'SELECT x, z, y FROM bench.train', 'y', "
                 "'{\"cv_folds\": 0, \"n_estimators\": 5}')")
        art = json.loads(vx.query("SELECT artifact FROM voidx.model_artifacts WHERE model = 'drift_bench'")[0][0])
        ref = next(r for r in art["reference"] if r["feature"] == "x")
        edges = np.asarray(ref["edges"])

        log("== drift_score vs numpy PSI")
        vx_s, vx_psi = best(lambda: vx.query("SELECT drift_score('drift_bench', 'x', x) FROM bench.current")[0][0], opts.reps)
        np_s, np_psi = best(lambda: numpy_psi(np, edges, ref["fractions"], ref["null_fraction"], cx), opts.reps)
        results.update(voidx_psi_s=vx_s, numpy_psi_s=np_s, voidx_psi=vx_psi, numpy_psi=np_psi)

        log("== drift_report vs scipy ks_2samp")
        rep_s, rep = best(lambda: vx.query(
            "SELECT feature, psi, ks_statistic, ks_p_value FROM drift_report('drift_bench', "
            "'SELECT x, z FROM bench.current') ORDER BY feature"), opts.reps)
        present = cx[~np.isnan(cx)]
        ks_s, ks = best(lambda: ks_2samp(tx, present), opts.reps)
        results.update(voidx_report_s=rep_s, scipy_ks_s=ks_s, voidx_ks=rep[0][2], voidx_ks_p=rep[0][3],
                       scipy_ks=float(ks.statistic), scipy_ks_p=float(ks.pvalue))
    finally:
        vx.stop()
        if os.environ.get("KEEP_WORK") != "1":
            shutil.rmtree(work, ignore_errors=True)

    agree = abs(results["voidx_psi"] - results["numpy_psi"]) < 1e-9
    psi_ratio = results["numpy_psi_s"] / results["voidx_psi_s"]
    ks_ratio = results["scipy_ks_s"] / results["voidx_report_s"]
    lines = [
        f"drift benchmark: {opts.rows:,} current rows, {opts.train_rows:,} training rows, {results['cores']} cores, best of {opts.reps}",
        f"{'measure':<44}{'VOIDX':>12}{'peer':>12}{'ratio':>9}",
        f"{'PSI x (drift_score vs numpy, s)':<44}{results['voidx_psi_s']:>12.4f}{results['numpy_psi_s']:>12.4f}{psi_ratio:>8.2f}x"
        f"  goal >= {PSI_GOAL}x: {'met' if psi_ratio >= PSI_GOAL else 'NOT met'}",
        f"{'KS (drift_report 2 features vs ks_2samp x, s)':<44}{results['voidx_report_s']:>12.4f}{results['scipy_ks_s']:>12.4f}{ks_ratio:>8.2f}x",
        f"PSI: VOIDX {results['voidx_psi']:.12f}, numpy {results['numpy_psi']:.12f} ({'equal' if agree else 'DIFFERENT'})",
        f"KS x: VOIDX {results['voidx_ks']:.5f} (p {results['voidx_ks_p']:.3g}, against 101 stored quantiles), "
        f"scipy {results['scipy_ks']:.5f} (p {results['scipy_ks_p']:.3g}, against the training rows)",
    ]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(BENCH_DIR, "results"), exist_ok=True)
    with open(os.path.join(BENCH_DIR, "results", "drift.txt"), "w") as f:
        f.write(text + "\n")
    return 0 if agree else 3


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="run", choices=["run"])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--train-rows", type=int, default=200_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    default_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")), "debug", "voidx")
    p.add_argument("--voidx-bin", default=default_bin)
    p.add_argument("--voidx-log", default="warn")
    opts = p.parse_args()
    try:
        sys.exit(run(opts))
    except Exception as e:  # noqa: BLE001
        log(f"drift.py: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
