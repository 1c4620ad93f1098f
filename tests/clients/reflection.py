"""SQLAlchemy reflection as Superset runs it, through psycopg 3, against a
running VOIDX server (run by tests/it/bi_tools.rs).

Usage: python reflection.py PORT. Exits non-zero with a message on the first
failure. Each answer is what PostgreSQL answers for the same DDL, except
the one difference docs/sql.md lists (varchar(n) reflects as TEXT).
"""
import sys

import sqlalchemy
from sqlalchemy import types as T

port = int(sys.argv[1])
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


engine = sqlalchemy.create_engine(f"postgresql+psycopg://voidx@127.0.0.1:{port}/voidx")
with engine.connect() as c:
    c = c.execution_options(isolation_level="AUTOCOMMIT")
    for sql in [
        "CREATE SCHEMA shopx",
        "CREATE TABLE shopx.orders (order_id BIGINT NOT NULL, customer VARCHAR(40), "
        "amount NUMERIC(10,2), placed_at TIMESTAMP, note TEXT)",
        "INSERT INTO shopx.orders VALUES (1, 'ann', 12.50, TIMESTAMP '2024-01-01 00:00:00', 'x')",
        "COMMENT ON TABLE shopx.orders IS 'one row per order'",
        "COMMENT ON COLUMN shopx.orders.amount IS 'total in EUR'",
        "CREATE VIEW shopx.big_orders AS SELECT order_id, amount FROM shopx.orders WHERE amount > 10",
    ]:
        c.execute(sqlalchemy.text(sql))

insp = sqlalchemy.inspect(engine)
schemas = insp.get_schema_names()
check("shopx" in schemas and "public" in schemas, f"schemas {schemas}")
check("pg_catalog" not in schemas and "information_schema" not in schemas, f"system schemas listed {schemas}")
tables = insp.get_table_names(schema="shopx")
check(tables == ["orders"], f"table names {tables}")
views = insp.get_view_names(schema="shopx")
check(views == ["big_orders"], f"view names {views}")

cols = insp.get_columns("orders", schema="shopx")
got = [(col["name"], type(col["type"]).__name__, col["nullable"]) for col in cols]
check(
    got == [
        ("order_id", "BIGINT", False),
        # PostgreSQL says VARCHAR(40): Delta strings keep no length (docs/sql.md).
        ("customer", "TEXT", True),
        ("amount", "NUMERIC", True),
        ("placed_at", "TIMESTAMP", True),
        ("note", "TEXT", True),
    ],
    f"columns {got}",
)
by_name = {col["name"]: col for col in cols}
amount = by_name.get("amount", {}).get("type")
check(isinstance(amount, T.NUMERIC) and (amount.precision, amount.scale) == (10, 2), f"amount type {amount!r}")
check(by_name.get("amount", {}).get("comment") == "total in EUR", f"column comment {by_name.get('amount')}")
check(by_name.get("order_id", {}).get("comment") is None, "order_id has no comment")
check(all(col.get("default") is None for col in cols), f"defaults {[col.get('default') for col in cols]}")
placed = by_name.get("placed_at", {}).get("type")
check(isinstance(placed, T.TIMESTAMP) and not placed.timezone, f"placed_at type {placed!r}")

vcols = insp.get_columns("big_orders", schema="shopx")
check([col["name"] for col in vcols] == ["order_id", "amount"], f"view columns {vcols}")
vdef = insp.get_view_definition("big_orders", schema="shopx")
check(vdef is not None and "amount > 10" in vdef and "CREATE" not in vdef.upper(), f"view definition {vdef!r}")

pk = insp.get_pk_constraint("orders", schema="shopx")
check(pk["constrained_columns"] == [] and pk["name"] is None, f"pk {pk}")
check(insp.get_foreign_keys("orders", schema="shopx") == [], "foreign keys")
check(insp.get_indexes("orders", schema="shopx") == [], "indexes")
check(insp.get_unique_constraints("orders", schema="shopx") == [], "unique constraints")
comment = insp.get_table_comment("orders", schema="shopx")
check(comment == {"text": "one row per order"}, f"table comment {comment}")
check(insp.get_table_comment("big_orders", schema="shopx") == {"text": None}, "view without comment")
check(insp.has_table("orders", schema="shopx") and not insp.has_table("nope", schema="shopx"), "has_table")
check(insp.has_schema("shopx") and not insp.has_schema("nope"), "has_schema")

# What Superset's "preview" does next: a SELECT with a LIMIT through SQLAlchemy Core.
meta = sqlalchemy.MetaData()
orders = sqlalchemy.Table("orders", meta, schema="shopx", autoload_with=engine)
with engine.connect() as c:
    rows = c.execute(sqlalchemy.select(orders.c.order_id, orders.c.amount).limit(100)).fetchall()
check([tuple(r) for r in rows] == [(1, __import__("decimal").Decimal("12.50"))], f"select rows {rows}")
engine.dispose()
if failures:
    sys.exit(1)
print("reflection ok")
