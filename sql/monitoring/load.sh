#!/usr/bin/env bash
# Loads every monitoring view into a data directory:
#   sql/monitoring/load.sh [--data-dir DIR]
# Files named `*.needs_<function>.sql` are skipped (with a note) when the
# server does not have <function> yet, e.g. drift_score.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
voidx="${VOIDX:-voidx}"
status=0
for f in "$here"/*.sql; do
  name="$(basename "$f")"
  needs="$(echo "$name" | sed -n 's/.*\.needs_\([a-z_]*\)\.sql$/\1/p')"
  if [ -n "$needs" ]; then
    found="$("$voidx" sql "$@" -c "SELECT count(*) AS n FROM information_schema.routines WHERE routine_name = '$needs'" 2>/dev/null | sed -n 's/^| *\([0-9][0-9]*\) *|$/\1/p')"
    if [ "${found:-0}" = "0" ]; then
      echo "skipped $name: function $needs is not available"
      continue
    fi
  fi
  if "$voidx" sql "$@" -f "$f" >/dev/null; then echo "loaded $name"; else echo "FAILED $name"; status=1; fi
done
exit $status
