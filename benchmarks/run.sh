#!/usr/bin/env bash
# VOIDX benchmarks, printed side by side with a reference engine. See benchmarks/README.md.
#
#   bash benchmarks/run.sh [all]  [models.py options]   both parts below (default)
#   bash benchmarks/run.sh sql                           wire latency/throughput against PostgreSQL
#                                                        (pgbench) and analytic queries against DuckDB
#   bash benchmarks/run.sh rest [rest.py options]        the REST shim against the FastAPI design it replaces (wrk)
#   bash benchmarks/run.sh models [models.py options]    training, predict and SHAP against LightGBM
#                                                        and XGBoost (models.py; e.g. --rows 20000 --trees 100)
#   bash benchmarks/run.sh drift [drift.py options]      drift_score / drift_report against numpy PSI and
#                                                        scipy ks_2samp on 10M rows (drift.py; e.g. --rows 1000000)
#   bash benchmarks/run.sh ingest [ingest.py options]    CSV -> Delta vs python deltalake and DuckDB, PostgreSQL
#                                                        -> Delta vs COPY + write_deltalake (ingest.py; --rows N)
#   bash benchmarks/run.sh soak [soak.py options]        mixed REST + SQL + ingest at 80 % of the measured peak for
#                                                        10 min (soak.py; --duration 3600 for the documented 1 h run)
#   bash benchmarks/run.sh tpch [tpch.py options]        the 22 TPC-H queries against DuckDB on the same Parquet
#                                                        files, external and managed Delta (tpch.py; --scale 1)
#
# Environment (all optional):
#   VOIDX_BIN   voidx binary            [$CARGO_TARGET_DIR/debug/voidx; built with cargo when missing]
#   SCALE       demo data scale         [1]
#   DURATION    seconds per pgbench run [10]
#   CLIENTS     pgbench clients (-c)    [4]
#   JOBS        pgbench threads (-j)    [2]
#   MODES       pgbench query modes     ["extended simple"]
#   REPS        timed runs per analytic query and engine (after one warm-up) [10]
#   THREADS     DuckDB threads          [2]
#   VOIDX_LOG   RUST_LOG for voidx      [warn]
#   SINGLE      1: also run SELECT 1 with a single client [1]
#   KEEP_WORK=1 keep the temporary directory (logs, data) instead of deleting it
set -euo pipefail

bench_dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$bench_dir/.." && pwd)

part=all
case "${1:-}" in
  all|sql|models|rest|drift|ingest|soak|tpch) part=$1; shift ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  ""|-*) ;;
  *) echo "run.sh: unknown part '$1' (all, sql, models, rest, drift, ingest, soak or tpch)" >&2; exit 2 ;;
esac
if [ "$part" = sql ] && [ $# -gt 0 ]; then echo "run.sh: 'sql' takes no options (got: $*)" >&2; exit 2; fi
model_args=("$@")

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}"
VOIDX_BIN="${VOIDX_BIN:-$CARGO_TARGET_DIR/debug/voidx}"
SCALE="${SCALE:-1}"
DURATION="${DURATION:-10}"
CLIENTS="${CLIENTS:-4}"
JOBS="${JOBS:-2}"
MODES="${MODES:-extended simple}"
REPS="${REPS:-10}"
THREADS="${THREADS:-2}"
KEEP_WORK="${KEEP_WORK:-0}"
SINGLE="${SINGLE:-1}"
# VOIDX's default log filter (info) writes several kB of Delta snapshot traces per query; the
# benchmark measures the engine, not log formatting. Set VOIDX_LOG=info to measure the default.
VOIDX_LOG="${VOIDX_LOG:-warn}"
# voidx reads every VOIDX_* environment variable as a setting and refuses to start on an unknown
# one ("unknown field `bin`"): keep these two as shell variables only.
export -n VOIDX_BIN VOIDX_LOG 2>/dev/null || true

# Nothing from the caller's libpq environment may redirect the clients.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGSSLMODE PGOPTIONS || true
export PGCONNECT_TIMEOUT=10

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --------------------------------------------------------------------------- tools

if [ "$part" != models ] && [ "$part" != rest ] && [ "$part" != drift ] && [ "$part" != ingest ] && [ "$part" != soak ] && [ "$part" != tpch ]; then  # PostgreSQL is only needed for the sql part
# PostgreSQL server binaries: the newest /usr/lib/postgresql/*/bin, else /usr/local/bin, else PATH.
find_pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}
if ! pg_bin=$(find_pg_bin); then
  log "installing PostgreSQL (initdb/pg_ctl not found)"
  apt_install postgresql
  pg_bin=$(find_pg_bin) || die "PostgreSQL installed but initdb/pg_ctl still not found"
fi
client_tool() {  # psql / pgbench / pg_isready: PATH first (Debian's wrapper), else next to initdb
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; elif [ -x "$pg_bin/$1" ]; then echo "$pg_bin/$1"; else return 1; fi
}
if ! client_tool psql >/dev/null || ! client_tool pgbench >/dev/null || ! client_tool pg_isready >/dev/null; then
  log "installing the PostgreSQL client tools (psql, pgbench, pg_isready)"
  apt_install postgresql
fi
PSQL=$(client_tool psql) || die "psql not found"
PGBENCH=$(client_tool pgbench) || die "pgbench not found"
PG_ISREADY=$(client_tool pg_isready) || die "pg_isready not found"
fi

# One venv for both parts, pinned in requirements.txt (the model part adds numpy, pyarrow,
# lightgbm, xgboost-cpu: XGBoost without the CUDA libraries).
venv="$bench_dir/.venv"
PY="$venv/bin/python"
need='import duckdb, psycopg'
[ "$part" = sql ] || need="$need, numpy, pyarrow, lightgbm, xgboost"
[ "$part" = rest ] && need="$need, fastapi, uvicorn, shap, pandas"
[ "$part" = drift ] && need="$need, scipy"
[ "$part" = ingest ] && need="$need, deltalake"
[ "$part" = soak ] && need='import psycopg'  # soak.py needs only the SQL client
[ "$part" = tpch ] && need='import duckdb, psycopg, os, sys; sys.exit(not os.path.exists(os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")))'
if ! "$PY" -c "$need" >/dev/null 2>&1; then
  log "setting up the benchmark venv ($venv from requirements.txt)"
  [ -x "$PY" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$bench_dir/requirements.txt"
  [ "$part" = rest ] && "$venv/bin/pip" install -q --disable-pip-version-check -r "$bench_dir/rest_requirements.txt"
  "$PY" -c "$need" || die "the venv still lacks a module after pip install ($need)"
fi

if [ ! -x "$VOIDX_BIN" ]; then
  log "building voidx ($VOIDX_BIN is missing; CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  (cd "$root" && cargo build --locked)
  [ -x "$VOIDX_BIN" ] || die "no voidx binary at $VOIDX_BIN after the build (set VOIDX_BIN)"
fi

# --------------------------------------------------------------------------- model benchmark

run_models() {
  log "model benchmark: VOIDX vs LightGBM / XGBoost (models.py ${model_args[*]:-})"
  KEEP_WORK="$KEEP_WORK" "$PY" "$bench_dir/models.py" run \
    --voidx-bin "$VOIDX_BIN" --voidx-log "$VOIDX_LOG" ${model_args[@]+"${model_args[@]}"}
}
if [ "$part" = models ]; then
  rc=0
  run_models || rc=$?
  exit "$rc"
fi
if [ "$part" = ingest ]; then
  exec "$PY" "$bench_dir/ingest.py" --voidx-bin "$VOIDX_BIN" ${model_args[@]+"${model_args[@]}"}
fi
if [ "$part" = soak ]; then
  KEEP_WORK="$KEEP_WORK" exec "$PY" "$bench_dir/soak.py" --voidx-bin "$VOIDX_BIN" --voidx-log "$VOIDX_LOG" ${model_args[@]+"${model_args[@]}"}
fi
if [ "$part" = tpch ]; then
  exec "$PY" "$bench_dir/tpch.py" --voidx-bin "$VOIDX_BIN" --voidx-log "$VOIDX_LOG" ${model_args[@]+"${model_args[@]}"}
fi
if [ "$part" = drift ]; then
  KEEP_WORK="$KEEP_WORK" exec "$PY" "$bench_dir/drift.py" run --voidx-bin "$VOIDX_BIN" --voidx-log "$VOIDX_LOG" ${model_args[@]+"${model_args[@]}"}
fi
if [ "$part" = rest ]; then
  command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk >/dev/null 2>&1 || die "wrk is missing and could not be installed (apt-get install wrk)"
  KEEP_WORK="$KEEP_WORK" exec "$PY" "$bench_dir/rest.py" run --voidx-bin "$VOIDX_BIN" --voidx-log "$VOIDX_LOG" ${model_args[@]+"${model_args[@]}"}
fi

# --------------------------------------------------------------------------- workspace and cleanup

work=$(mktemp -d /tmp/voidx-bench.XXXXXX)
chmod 755 "$work"
voidx_pid=""
pg_started=0
pg_user=""

stop_servers() {
  if [ -n "$voidx_pid" ] && kill -0 "$voidx_pid" 2>/dev/null; then
    kill -TERM "$voidx_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$voidx_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$voidx_pid" 2>/dev/null
    wait "$voidx_pid" 2>/dev/null
  fi
  voidx_pid=""
  if [ "$pg_started" = 1 ]; then
    pg_run "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1
  fi
  pg_started=0
}

cleanup() {
  local rc=$?
  set +e
  stop_servers
  if [ "$KEEP_WORK" = 1 ] || [ "$rc" != 0 ]; then
    echo "run.sh: logs and data kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a PostgreSQL server binary: initdb and postgres refuse to run as root.
pg_run() {
  if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

freeport() { "$PY" "$bench_dir/bench.py" freeport; }

# --------------------------------------------------------------------------- VOIDX

voidx_version=$("$VOIDX_BIN" --version 2>/dev/null || echo "version unknown")
log "VOIDX: $VOIDX_BIN ($voidx_version); writing the demo data (scale $SCALE) to $work/voidx-data"
RUST_LOG="$VOIDX_LOG" "$VOIDX_BIN" demo --data-dir "$work/voidx-data" --scale "$SCALE" \
  >"$work/voidx-demo.out" 2>"$work/voidx-demo.log" \
  || { cat "$work/voidx-demo.out" "$work/voidx-demo.log" >&2; die "voidx demo failed"; }
cat "$work/voidx-demo.out" >&2

vx_port=$(freeport)
vx_http=$(freeport)
while [ "$vx_http" = "$vx_port" ]; do vx_http=$(freeport); done
RUST_LOG="$VOIDX_LOG" "$VOIDX_BIN" serve --data-dir "$work/voidx-data" --pg-addr "127.0.0.1:$vx_port" --http-addr "127.0.0.1:$vx_http" \
  >"$work/voidx-serve.log" 2>&1 &
voidx_pid=$!
vx_psql=("$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$vx_port" -U voidx -d voidx)
ready=0
for _ in $(seq 1 120); do
  kill -0 "$voidx_pid" 2>/dev/null || { cat "$work/voidx-serve.log" >&2; die "voidx serve exited"; }
  if "$PG_ISREADY" -q -h 127.0.0.1 -p "$vx_port" -U voidx -d voidx && "${vx_psql[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
    ready=1; break
  fi
  sleep 0.5
done
[ "$ready" = 1 ] || { cat "$work/voidx-serve.log" >&2; die "voidx serve did not accept connections within 60 s"; }
log "VOIDX serving on 127.0.0.1:$vx_port (pid $voidx_pid)"

# --------------------------------------------------------------------------- PostgreSQL

if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then
    pg_user=postgres
  else
    id voidxbench >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin voidxbench
    pg_user=voidxbench
  fi
fi
mkdir -p "$work/pg/sock"
if [ -n "$pg_user" ]; then chown -R "$pg_user" "$work/pg"; fi
pg_port=$(freeport)
while [ "$pg_port" = "$vx_port" ] || [ "$pg_port" = "$vx_http" ]; do pg_port=$(freeport); done
pg_version=$("$pg_bin/postgres" --version)
log "PostgreSQL: $pg_version in $work/pg on 127.0.0.1:$pg_port"
pg_run "$pg_bin/initdb" -D "$work/pg/data" -U bench --auth=trust -E UTF8 --no-locale >"$work/pg-initdb.log" 2>&1 \
  || { cat "$work/pg-initdb.log" >&2; die "initdb failed"; }
pg_started=1
pg_run "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 60 \
  -o "-p $pg_port -k $work/pg/sock -c listen_addresses=127.0.0.1" start >/dev/null \
  || { cat "$work/pg/server.log" >&2; die "pg_ctl start failed"; }
pg_psql=("$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U bench -d postgres)

# The same customers as VOIDX's shop.customers, with a primary key.
cols="customer_id, signup_date, country, segment, channel, age, is_newsletter"
csv="$work/customers.csv"
if "${vx_psql[@]}" -c "\\copy (SELECT $cols FROM shop.customers) TO '$csv' CSV" >"$work/export.log" 2>&1; then
  how="\\copy (COPY ... TO STDOUT)"
else
  log "COPY TO STDOUT is not supported by VOIDX ($(head -c 300 "$work/export.log" | tr '\n' ' ')); exporting with psql -A"
  # No value of shop.customers contains a comma or a quote; NULL prints as an empty field = NULL in CSV.
  "${vx_psql[@]}" -A -t -F, -P footer=off -c "SELECT $cols FROM shop.customers" >"$csv"
  how="psql -A -F, SELECT"
fi
"${pg_psql[@]}" <<SQL
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    customer_id   bigint  PRIMARY KEY,
    signup_date   date    NOT NULL,
    country       text    NOT NULL,
    segment       text    NOT NULL,
    channel       text    NOT NULL,
    age           integer,
    is_newsletter boolean NOT NULL
);
\\copy shop.customers ($cols) FROM '$csv' CSV
VACUUM ANALYZE shop.customers;
SQL
vx_rows=$("${vx_psql[@]}" -A -t -c 'SELECT count(*) FROM shop.customers')
pg_rows=$("${pg_psql[@]}" -A -t -c 'SELECT count(*) FROM shop.customers')
[ "$vx_rows" = "$pg_rows" ] || die "shop.customers: voidx has $vx_rows rows, postgres $pg_rows after loading"
log "shop.customers loaded into PostgreSQL: $pg_rows rows (exported from VOIDX with $how)"

# --------------------------------------------------------------------------- (a) pgbench

# Runs as "script mode clients threads": every script in every mode with $CLIENTS clients, plus
# SELECT 1 with one client (pure round-trip latency, no queueing behind other clients).
max_id=$(( 10000 * SCALE ))
: >"$work/pgbench-runs.txt"
for script in select1 point_lookup; do
  for mode in $MODES; do echo "$script $mode $CLIENTS $JOBS" >>"$work/pgbench-runs.txt"; done
  if [ "$script" = select1 ] && [ "$SINGLE" = 1 ] && [ "$CLIENTS" != 1 ]; then
    echo "select1 $(set -- $MODES; echo "$1") 1 1" >>"$work/pgbench-runs.txt"
  fi
done
while read -r script mode clients jobs; do
  for server in voidx pg; do
    if [ "$server" = voidx ]; then conn=(-h 127.0.0.1 -p "$vx_port" -U voidx voidx);
    else conn=(-h 127.0.0.1 -p "$pg_port" -U bench postgres); fi
    out="$work/pgbench-$server-$script-$mode-c$clients.log"
    log "pgbench $script -M $mode on $server (-c $clients -j $jobs -T $DURATION)"
    rc=0
    timeout $(( DURATION + 60 )) "$PGBENCH" -n -M "$mode" -c "$clients" -j "$jobs" -T "$DURATION" \
      -D maxid="$max_id" -f "$bench_dir/pgbench/$script.sql" "${conn[@]}" >"$out" 2>&1 </dev/null || rc=$?
    echo "$rc" >"$out.rc"
    grep -E '^(tps|latency average|number of failed)' "$out" >&2 || tail -n 5 "$out" >&2
  done
done <"$work/pgbench-runs.txt"

# --------------------------------------------------------------------------- (b) analytic vs DuckDB

duckdb_version=$("$PY" -c 'import duckdb; print(duckdb.__version__)')
log "analytic queries: VOIDX over pgwire vs DuckDB $duckdb_version on the same Parquet files ($REPS runs each)"
"$PY" "$bench_dir/bench.py" analytic --port "$vx_port" --data-dir "$work/voidx-data" \
  --queries "$bench_dir/analytic" --root "$root" --reps "$REPS" --threads "$THREADS" \
  --out "$work/analytic.json" || log "analytic comparison FAILED (see above); reporting the rest"

kill -0 "$voidx_pid" 2>/dev/null || { log "voidx serve died during the run; its log:"; tail -n 30 "$work/voidx-serve.log" >&2; }

# --------------------------------------------------------------------------- report

log "results"
echo
report_rc=0
"$PY" "$bench_dir/bench.py" report --work "$work" --analytic "$work/analytic.json" \
  --out "$bench_dir/results/latest.txt" \
  --voidx-bin "$VOIDX_BIN" --voidx-version "$voidx_version" --pg-version "$pg_version" \
  --duckdb-version "$duckdb_version" --scale "$SCALE" --clients "$CLIENTS" --jobs "$JOBS" \
  --duration "$DURATION" --reps "$REPS" --threads "$THREADS" || report_rc=$?
echo
echo "written to ${bench_dir#"$root"/}/results/latest.txt"

models_rc=0
if [ "$part" = all ]; then
  # The model benchmark starts its own VOIDX: stop these servers so they take no memory or CPU.
  set +e; stop_servers; set -e
  run_models || models_rc=$?
  if [ "$models_rc" = 1 ]; then log "the model benchmark FAILED to set up (see above)"; fi
fi
if [ "$report_rc" != 0 ] || [ "$models_rc" != 0 ]; then
  echo "run.sh: some measurements FAILED or gave wrong results (see 'problems:' above)" >&2
  [ "$report_rc" != 0 ] && exit "$report_rc"
  exit "$models_rc"
fi
