// duckdb_compare.mjs - size of the same rows in DuckDB's own Parquet: reads
// every object bench_seg2pq kept under DIR (DIR/<key>/<seg>-<index>.parquet),
// checks DuckDB sees the rows, and rewrites them with
// COPY ... (FORMAT parquet, COMPRESSION zstd) twice: once per object (the
// same split as ours) and once per measurement (one file, all its rows).
// Prints Markdown table rows: data | writer | files | bytes | B/value.
// Usage: node duckdb_compare.mjs DIR NAME      (DIR/values: field values)
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const src = process.env.NEOEDGE_SRC;
const req = createRequire(join(src, 'tests/js/package.json'));
const { DuckDBInstance } = await import(pathToFileURL(req.resolve('@duckdb/node-api')));

const [dir, name] = process.argv.slice(2);
const values = Number(readFileSync(join(dir, 'values'), 'utf8'));
const inst = await DuckDBInstance.create(':memory:', {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
  threads: '1',
});
const db = await inst.connect();
const one = async (sql) => (await (await db.runAndReadAll(sql)).getRowObjectsJS())[0];
const q = (s) => `'${s.replace(/'/g, "''")}'`;

function walk(d) {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.parquet') ? [join(d, e.name)] : []);
}
const files = walk(dir).sort();
const out = mkdtempSync(join(tmpdir(), 'neoedge-duck-'));
let ours = 0, perObject = 0, perMeas = 0, rows = 0, i = 0;
const byMeas = new Map();
for (const f of files) {
  ours += statSync(f).size;
  const rp = `read_parquet(${q(f)}, hive_partitioning = false)`;
  rows += Number((await one(`SELECT count(*)::VARCHAR AS n FROM ${rp}`)).n);
  const t = join(out, `o${i++}.parquet`);
  await db.run(`COPY (SELECT * FROM ${rp}) TO ${q(t)} (FORMAT parquet, COMPRESSION zstd)`);
  perObject += statSync(t).size;
  rmSync(t);
  const m = relative(dir, f).split('/').slice(0, 2).join('/'); // db=…/measurement=…
  if (!byMeas.has(m)) byMeas.set(m, []);
  byMeas.get(m).push(f);
}
for (const [m, fs] of byMeas) {
  const t = join(out, `m.parquet`);
  const list = `[${fs.map(q).join(', ')}]`;
  await db.run(`COPY (SELECT * FROM read_parquet(${list}, hive_partitioning = false, union_by_name = true))
                TO ${q(t)} (FORMAT parquet, COMPRESSION zstd)`);
  perMeas += statSync(t).size;
  rmSync(t);
}
rmSync(out, { recursive: true, force: true });
const bpv = (b) => (b / values).toFixed(3);
console.log(`| ${name} | neoedge seg2pq (zstd 3) | ${files.length} objects | ${ours} | ${bpv(ours)} |`);
console.log(`| ${name} | DuckDB COPY zstd, same split | ${files.length} files | ${perObject} | ${bpv(perObject)} |`);
console.log(`| ${name} | DuckDB COPY zstd, one file per measurement | ${byMeas.size} files | ${perMeas} | ${bpv(perMeas)} |`);
console.error(`${name}: DuckDB read ${rows} rows from ${files.length} objects`);
db.closeSync();
inst.closeSync();
