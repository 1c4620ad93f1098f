#!/usr/bin/env bash
# Runs every test of VOIDX. Installs what the tests need when it is missing:
# the psql client, redis-server, the PostgreSQL server, chromium, node/npm, a JDK and
# pgjdbc (Debian packages), Azurite (npm), a Python venv with real
# PostgreSQL clients (psycopg 3, psycopg2, SQLAlchemy, pandas), Schemathesis,
# moto (the S3 server of the object-store tests) and what the notebooks need
# (nbclient, ipykernel, matplotlib). Servers the
# tests use (voidx, redis-server) are started by the tests on free loopback
# ports. After cargo test, the notebooks in notebooks/ are executed against a
# `voidx serve --demo` of their own (scripts/run_notebooks.py).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '\n== %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

if ! command -v psql >/dev/null 2>&1; then
  log "installing postgresql-client (psql)"
  apt_install postgresql-client
fi
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server (the shared REST cache test)"
  apt_install redis-server
fi

# The dashboard is tested in a real browser (tests/it/dashboard.rs drives headless Chromium).
if ! [ -x "${VOIDXTEST_CHROMIUM:-/usr/bin/chromium}" ]; then
  log "installing chromium (the dashboard's browser test)"
  apt_install chromium
fi

# The POSTGRES TLS test makes its certificates with the openssl CLI.
if ! command -v openssl >/dev/null 2>&1; then
  log "installing openssl (test certificates for the POSTGRES TLS test)"
  apt_install openssl
fi

# The POSTGRES source tests start a throwaway PostgreSQL server (initdb + pg_ctl).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing postgresql (server binaries for the POSTGRES source tests)"
  apt_install postgresql
fi

# BI-tool clients (tests/it/bi_tools.rs): node-postgres needs node and npm
# (the test runs `npm install pg` in its temporary directory), pgjdbc the
# Debian jar and a JDK that runs a single source file.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm (the node-postgres test)"
  apt_install nodejs npm
fi
if ! command -v java >/dev/null 2>&1; then
  log "installing a JDK (the pgjdbc test)"
  apt_install default-jdk-headless
fi
if ! [ -f "${VOIDXTEST_PGJDBC:-/usr/share/java/postgresql.jar}" ]; then
  log "installing libpostgresql-jdbc-java (the pgjdbc test)"
  apt_install libpostgresql-jdbc-java
fi

# The data directory on an object store (tests/it/object_stores.rs) is tested against
# Azurite, Microsoft's Azure Storage emulator, from npm, installed into .azurite/ as
# the venv is into .venv/, and against moto's S3 server, from the venv.
azurite_version=3.37.0
azurite="$root/.azurite/node_modules/.bin/azurite-blob"
if ! [ -x "$azurite" ] || ! grep -q "\"version\": \"$azurite_version\"" "$root/.azurite/node_modules/azurite/package.json" 2>/dev/null; then
  log "installing Azurite $azurite_version from npm (the object-store tests' server, into .azurite/)"
  npm install --prefix "$root/.azurite" --no-audit --no-fund --loglevel=error "azurite@$azurite_version" >/dev/null
fi
export VOIDXTEST_AZURITE="$azurite"

venv="$root/.venv"
# dbt (tests/it/dbt.rs) is checked as the command the test runs, not just its import.
if ! "$venv/bin/python" -c 'import psycopg, psycopg2, sqlalchemy, pandas, schemathesis, deltalake, pyarrow, dbt.adapters.postgres, nbclient, nbformat, ipykernel, matplotlib, moto.moto_server.werkzeug_app, flask_cors' >/dev/null 2>&1 \
   || ! "$venv/bin/dbt" --version >/dev/null 2>&1; then
  log "creating the Python venv for client tests ($venv)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/tests/clients/requirements.txt"
fi
export VOIDXTEST_PYTHON="$venv/bin/python"
export VOIDXTEST_DBT="$venv/bin/dbt"

# The project's own ./target (set in .cargo/config.toml), the same directory
# and feature set `cargo run` uses: this command only adds the test code.
# Snapshots are compared, never silently accepted.
export INSTA_UPDATE=no

log "cargo test (every test binary, then one summary)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast -- --test-threads 2 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e

# The notebooks run against the server binary cargo test just built (the
# integration tests need it, so it exists whenever they compiled).
log "notebooks (scripts/run_notebooks.py: executed in order against a serve --demo of their own)"
nb_out=$(mktemp)
trap 'rm -f "$out" "$nb_out"' EXIT
set +e
"$venv/bin/python" scripts/run_notebooks.py 2>&1 | tee "$nb_out"
nb_status=${PIPESTATUS[0]}
set -e

log "summary"
awk '
  /^     Running / { name = ($2 == "unittests") ? $2 " " $3 : $2 }
  /^   Doc-tests / { name = "doc-tests " $2 }
  /^test result:/ {
    passed += $4; failed += $6; ignored += $8
    printf "  %-60s %s\n", name, $0
  }
  END { printf "\n  total: %d passed, %d failed, %d ignored\n", passed, failed, ignored }
' "$out"
grep -E '^test .* \.\.\. FAILED$' "$out" | sed -E 's/^test (.*) \.\.\. FAILED$/  failed: \1/' | sort -u || true
if [ "$status" != 0 ]; then
  echo "  FAILED (cargo test exited with $status)"
fi
echo
grep -E '^  (ok  |FAIL) ' "$nb_out" | sed -E 's/^  /  notebook /' || true
grep -E '^notebooks: ' "$nb_out" | sed -E 's/^/  /' || echo "  notebooks: did not run (see the output above)"
if [ "$nb_status" != 0 ]; then
  echo "  FAILED (scripts/run_notebooks.py exited with $nb_status)"
  [ "$status" != 0 ] || status=$nb_status
fi
exit "$status"
