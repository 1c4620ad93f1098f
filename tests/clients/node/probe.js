// node-postgres (npm `pg`) against a running VOIDX server (tests/it/bi_tools.rs).
// Usage: node probe.js PORT. Exits non-zero with a message on the first failure.
const { Client } = require('pg');
const assert = require('assert');

async function main() {
  const client = new Client({ host: '127.0.0.1', port: Number(process.argv[2]), user: 'voidx', database: 'voidx' });
  await client.connect();
  await client.query('CREATE SCHEMA nodepg');
  await client.query('CREATE TABLE nodepg.t (id BIGINT, amount DECIMAL(10,2), at TIMESTAMP, name VARCHAR)');
  // simple protocol (no parameters)
  await client.query("INSERT INTO nodepg.t VALUES (1, 1.50, TIMESTAMP '2024-01-02 03:04:05', 'ann'), (9007199254740993, 2.25, NULL, 'bob')");
  // extended protocol (parameters)
  const r = await client.query('SELECT id, amount, at, name FROM nodepg.t WHERE name = $1', ['ann']);
  assert.deepStrictEqual(r.rows.length, 1);
  const row = r.rows[0];
  assert.strictEqual(row.id, '1', 'int8 arrives as a string');
  assert.strictEqual(row.amount, '1.50', 'numeric arrives as its text');
  assert.ok(row.at instanceof Date, `timestamp is a Date: ${row.at}`);
  assert.strictEqual(row.at.getFullYear(), 2024);
  assert.strictEqual(row.at.getHours(), 3);
  assert.deepStrictEqual(r.fields.map(f => [f.name, f.dataTypeID]), [['id', 20], ['amount', 1700], ['at', 1114], ['name', 25]]);
  const big = await client.query('SELECT id FROM nodepg.t WHERE id > $1', [2]);
  assert.strictEqual(big.rows[0].id, '9007199254740993', 'int8 beyond 2^53 keeps every digit');
  const n = await client.query('SELECT count(*) AS n, sum(amount) AS total FROM nodepg.t WHERE amount > $1', [1]);
  assert.deepStrictEqual(n.rows[0], { n: '2', total: '3.75' });
  // timestamptz as a Date at the right instant
  await client.query("SET TIME ZONE 'UTC'");
  const tz = await client.query("SELECT CAST('2024-01-02 03:04:05+00' AS TIMESTAMPTZ) AS ts");
  assert.ok(tz.rows[0].ts instanceof Date);
  assert.strictEqual(tz.rows[0].ts.toISOString(), '2024-01-02T03:04:05.000Z');
  // json built on the server is parsed by the driver when typed json; as text it stays a string
  const j = await client.query("SELECT json_build_object('a', 1) AS j");
  assert.deepStrictEqual(typeof j.rows[0].j === 'string' ? JSON.parse(j.rows[0].j) : j.rows[0].j, { a: 1 });
  // errors carry the SQLSTATE in `code`, and the connection survives
  await assert.rejects(client.query('SELECT * FROM nodepg.nope'), e => e.code === '42P01');
  await assert.rejects(client.query('SELEC 1'), e => e.code === '42601');
  // int4 arrives as a number. (A bare literal `1` is bigint in DataFusion, so
  // `SELECT 1` gives the string '1' where PostgreSQL's int4 gives 1: docs/sql.md.)
  const one = await client.query('SELECT CAST(1 AS INT) AS one, 1 AS literal');
  assert.strictEqual(one.rows[0].one, 1);
  assert.strictEqual(one.rows[0].literal, '1');
  await client.end();
  console.log('node-postgres ok');
}

main().catch(e => { console.error('FAIL:', e); process.exit(1); });
