"""PostgreSQL output fidelity through psycopg 3 (run by tests/it/pg_fidelity.rs).

Usage: python fidelity.py PORT. Exits non-zero with a message on the first failure.
"""
import datetime
import decimal
import sys

import psycopg

port = int(sys.argv[1])
dsn = f"host=127.0.0.1 port={port} user=voidx dbname=voidx"


def check(cond, msg):
    if not cond:
        print("FAIL:", msg, file=sys.stderr)
        sys.exit(1)


QUERY = (
    "SELECT id, amount, count(*), (amount + 0)::numeric(12,3), "
    "TIMESTAMP '2024-01-01 00:00:00.5' AS ts, DATE '2024-01-01', INTERVAL '1 day 2 hours', "
    "sum(amount) AS total "
    "FROM fid.items WHERE id = %s GROUP BY id, amount"
)
EXPECTED_ROW = (
    1,
    decimal.Decimal("1.50"),
    1,
    decimal.Decimal("1.500"),
    datetime.datetime(2024, 1, 1, 0, 0, 0, 500000),
    datetime.date(2024, 1, 1),
    datetime.timedelta(days=1, hours=2),
    decimal.Decimal("1.50"),
)

with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE SCHEMA fid")
    conn.execute("CREATE TABLE fid.items (id BIGINT, amount DECIMAL(10,2))")
    conn.execute("INSERT INTO fid.items VALUES (1, 1.5), (2, 2.25)")
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(QUERY, (1,))
        row = cur.fetchone()
        check(row == EXPECTED_ROW, f"binary={binary}: row {row!r}")
        names = [d.name for d in cur.description]
        check(
            names == ["id", "amount", "count", "numeric", "ts", "date", "interval", "total"],
            f"binary={binary}: names {names}",
        )
        # numeric(p,s) columns carry their type modifier; sum() is unconstrained.
        mods = [(d.precision, d.scale) for d in cur.description if d.type_code == 1700]
        check(mods == [(10, 2), (12, 3), (None, None)], f"binary={binary}: numeric modifiers {mods}")
        sizes = {d.name: d.internal_size for d in cur.description}
        check(sizes["id"] == 8 and sizes["date"] == 4, f"binary={binary}: typlen {sizes}")
    # Describe of a prepared statement agrees with the rows it returns.
    cur = conn.cursor()
    cur.execute("SELECT count(*), count(id), 1 FROM fid.items WHERE id > %s", (0,), prepare=True)
    check([d.name for d in cur.description] == ["count", "count", "?column?"], f"prepared names {cur.description}")
    check(cur.fetchone() == (2, 2, 1), "prepared row")
print("fidelity ok")
