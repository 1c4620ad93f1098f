"""Real PostgreSQL clients against a running VOIDX server.

Usage: python clients.py PORT   (run by tests/it/clients.rs)
Exits non-zero with a message on the first failure.
"""
import sys

import pandas as pd
import psycopg
import psycopg2
import sqlalchemy

port = int(sys.argv[1])
dsn = f"host=127.0.0.1 port={port} user=voidx dbname=voidx"


def check(cond, msg):
    if not cond:
        print("FAIL:", msg, file=sys.stderr)
        sys.exit(1)


# psycopg 3, server-side binding (extended protocol with parameters)
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE SCHEMA IF NOT EXISTS clients")
    conn.execute("CREATE TABLE clients.items (id BIGINT, name VARCHAR, price DOUBLE)")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO clients.items VALUES (%s, %s, %s)", (1, "apple", 0.5))
        cur.execute("INSERT INTO clients.items VALUES (%s, %s, %s)", (2, "pear", 0.75))
        cur.executemany("INSERT INTO clients.items VALUES (%s, %s, %s)", [(3, "fig", 2.0), (4, "kiwi", 0.3)])
        cur.execute("SELECT name, price FROM clients.items WHERE id = %s", (2,))
        check(cur.fetchall() == [("pear", 0.75)], "psycopg3 parameterised select")
        cur.execute("SELECT count(*) FROM clients.items WHERE price > %s AND name <> %s", (0.4, "fig"))
        check(cur.fetchone()[0] == 2, "psycopg3 two parameters")
    # parameters in table-function arguments: planned at Bind with the values in
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM generate_series(%s, %s)", (2, 4))
        check(cur.fetchall() == [(2,), (3,), (4,)], "psycopg3 generate_series(%s, %s)")
        check([d.name for d in cur.description] == ["value"], f"described {cur.description}")
        for n in range(7):  # past psycopg's prepare threshold: named statements, Bind many
            cur.execute("SELECT count(*) FROM generate_series(1, %s)", (n,))
            check(cur.fetchone() == (n,), f"psycopg3 generate_series reused with {n}")
        cur.execute(
            "SELECT name, version, rows FROM train(%s, %s, %s, %s)",
            ("clients_m", "SELECT id, price FROM clients.items", "price", '{"cv_folds": 0}'),
        )
        check(cur.fetchall() == [("clients_m", 1, 4)], "psycopg3 train(%s, …)")
        try:
            cur.execute("SELECT * FROM train(%s, 'SELECT 1 AS y', 'y')", ("x'); DROP TABLE clients.items; --",))
            check(False, "an injected model name was accepted")
        except psycopg.errors.InvalidParameterValue as e:
            check("invalid model name" in str(e), f"injected model name: {e}")
        cur.execute("SELECT count(*) FROM clients.items")
        check(cur.fetchone() == (4,), "the table survived")
    # a prepared statement reused
    for i in range(3):
        row = conn.execute("SELECT id FROM clients.items WHERE name = %s", ("apple",), prepare=True).fetchone()
        check(row == (1,), "psycopg3 prepared reuse")
    # errors carry SQLSTATE and the connection survives
    try:
        conn.execute("SELECT * FROM clients.nope")
        check(False, "missing table must fail")
    except psycopg.errors.UndefinedTable:
        pass
    check(conn.execute("SELECT 1").fetchone() == (1,), "psycopg3 after error")

# psycopg 3 in a transaction block (BEGIN/COMMIT accepted)
with psycopg.connect(dsn) as conn:
    conn.execute("INSERT INTO clients.items VALUES (5, 'lime', 0.2)")
    conn.commit()

# psycopg2 (client-side interpolation, simple protocol)
conn2 = psycopg2.connect(dsn)
conn2.autocommit = True
cur2 = conn2.cursor()
cur2.execute("SELECT id, name FROM clients.items WHERE price < %s ORDER BY id", (0.6,))
check(cur2.fetchall() == [(1, "apple"), (4, "kiwi"), (5, "lime")], "psycopg2 select")
cur2.execute("SELECT current_database()")
check(cur2.fetchone()[0] == "voidx", "current_database")
conn2.close()

# SQLAlchemy + pandas
engine = sqlalchemy.create_engine(f"postgresql+psycopg2://voidx@127.0.0.1:{port}/voidx")
df = pd.read_sql("SELECT id, name, price FROM clients.items ORDER BY id", engine)
check(list(df["id"]) == [1, 2, 3, 4, 5], f"pandas ids {list(df['id'])}")
check(abs(df["price"].sum() - 3.75) < 1e-9, "pandas price sum")
df2 = pd.read_sql(sqlalchemy.text("SELECT name FROM clients.items WHERE id = :id"), engine, params={"id": 3})
check(df2["name"].tolist() == ["fig"], "pandas with params")

# SQLAlchemy + psycopg 3: its connect runs BEGIN; SAVEPOINT "_pg3_1" and a
# to_regtype('hstore') lookup (no use_native_hstore=False here on purpose)
engine3 = sqlalchemy.create_engine(f"postgresql+psycopg://voidx@127.0.0.1:{port}/voidx")
with engine3.connect() as c3:
    n = c3.execute(sqlalchemy.text("SELECT count(*) FROM clients.items WHERE price < :p"), {"p": 1.0}).scalar()
    check(n == 4, f"sqlalchemy psycopg3 query: {n}")
inspector = sqlalchemy.inspect(engine3)
inspector.get_table_names()
names = inspector.get_table_names(schema="clients")
check("items" in names, f"sqlalchemy psycopg3 table names {names}")
with psycopg.connect(dsn) as conn:
    with conn.transaction():
        check(conn.execute("SELECT to_regtype('int4') IS NOT NULL, to_regtype('hstore') IS NULL").fetchone() == (True, True), "to_regtype")
    try:
        conn.execute("RELEASE SAVEPOINT nope")
        check(False, "unknown savepoint must fail")
    except psycopg.errors.InvalidSavepointSpecification:
        conn.rollback()
engine3.dispose()
print("clients ok")
