#!/usr/bin/env bash
# Render the dbt models to sql/features/customer_revenue_v2.sql, the plain SQL that
# `voidx demo` / `serve --demo` runs (src/demo/features.rs). No dbt or Python needed: the
# models use only ref() and source(), which the renderer in that test substitutes itself.
# Without VOIDX_UPDATE_FEATURES the same test fails when the shipped file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
VOIDX_UPDATE_FEATURES=1 flock /tmp/voidx-cargo.lock cargo test -p voidx --lib demo::features -- --quiet
git --no-pager diff --stat -- sql/features/customer_revenue_v2.sql
