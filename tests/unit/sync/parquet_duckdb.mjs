// parquet_duckdb.mjs - reads every Parquet file written by parquet_gen back
// with DuckDB (@duckdb/node-api, offline: no extension install or autoload)
// and checks it against the expectation files parquet_gen wrote beside them:
// row and row-group counts, per-column count/null count/sum/min/max, the
// time column's type, the footer (created_by, key/value metadata), the column
// statistics DuckDB sees through parquet_metadata() (per row group, against
// what DuckDB computes from the rows), and, where a rows.jsonl exists, every
// value of every row.
//
// Usage: node parquet_duckdb.mjs DIR       (exit status 0 = all checks pass)
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const src = process.env.NEOEDGE_SRC;
const requireJs = createRequire(join(src, 'tests/js/package.json'));
const { DuckDBInstance } = await import(pathToFileURL(requireJs.resolve('@duckdb/node-api')));

const dir = process.argv[2];
let failures = 0;
let checks = 0;
function check(cond, what) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAIL ${what}`);
  }
}

const inst = await DuckDBInstance.create(':memory:', {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
});
const db = await inst.connect();
async function rows(sql) {
  const r = await db.runAndReadAll(sql);
  return r.getRowObjectsJS();
}
const q = (s) => `'${s.replace(/'/g, "''")}'`;
const id = (s) => `"${s.replace(/"/g, '""')}"`;
const str = (v) => (v === null || v === undefined ? null : String(v));

function dbl(v) {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  return v;
}
function sameDouble(a, b, tol) {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  if (tol === 0) return Object.is(a, b);
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));
}
// DuckDB reads TIMESTAMP(NANOS, UTC) as its microsecond TIMESTAMPTZ,
// dividing by 1000 toward zero.
function nsToUs(s) {
  return (BigInt(s) / 1000n).toString();
}

async function checkFile(exp) {
  const f = join(dir, exp.file);
  const rp = `read_parquet(${q(f)})`;
  const tag = exp.file;

  const [cnt] = await rows(`SELECT count(*)::VARCHAR AS n FROM ${rp}`);
  check(cnt.n === String(exp.rows), `${tag}: rows ${cnt.n} != ${exp.rows}`);

  const [fm] = await rows(`SELECT created_by, num_rows::VARCHAR AS n, num_row_groups::VARCHAR AS g
                           FROM parquet_file_metadata(${q(f)})`);
  check(fm.created_by === exp.created_by, `${tag}: created_by ${fm.created_by}`);
  check(fm.n === String(exp.rows), `${tag}: footer num_rows ${fm.n}`);
  check(fm.g === String(exp.row_groups), `${tag}: row groups ${fm.g} != ${exp.row_groups}`);

  const kv = await rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${q(f)})`);
  check(kv.some((e) => e.k === 'neoedge.segment' && e.v === exp.file.replace(/\.parquet$/, '')),
        `${tag}: key_value_metadata ${JSON.stringify(kv)}`);

  const schema = await rows(`SELECT name, type, repetition_type, logical_type, converted_type
                             FROM parquet_schema(${q(f)})`);
  const meta = await rows(`SELECT row_group_id::INTEGER AS rg, row_group_num_rows::BIGINT AS nrows,
                                  path_in_schema AS col, stats_min_value AS mn, stats_max_value AS mx,
                                  stats_null_count::BIGINT AS nulls, compression, encodings
                           FROM parquet_metadata(${q(f)}) ORDER BY rg`);
  for (const c of exp.columns) await checkColumn(f, rp, tag, c, schema, meta);
  if (exp.rows_file) await checkRows(f, exp);
}

async function checkColumn(f, rp, tag, c, schema, meta) {
  const col = id(c.name);
  const where = `${tag}.${c.name}`;
  const se = schema.find((s) => s.name === c.name);
  check(se, `${where}: missing from schema`);
  if (!se) return;

  const [r] = await rows(`SELECT count(${col})::VARCHAR AS n, (count(*) - count(${col}))::VARCHAR AS nulls,
                                 typeof(any_value(${col})) AS t FROM ${rp}`);
  check(r.n === String(c.count), `${where}: count ${r.n} != ${c.count}`);
  check(r.nulls === String(c.nulls), `${where}: nulls ${r.nulls} != ${c.nulls}`);

  const chunks = meta.filter((m) => m.col === c.name);
  const statNulls = chunks.reduce((a, m) => a + Number(m.nulls), 0);
  check(chunks.length === 0 || statNulls === c.nulls,
        `${where}: statistics null_count ${statNulls} != ${c.nulls}`);
  check(chunks.every((m) => m.compression === 'ZSTD'), `${where}: not ZSTD`);

  if (c.kind === 'time') {
    check(se.repetition_type === 'REQUIRED', `${where}: time not REQUIRED`);
    check(/isAdjustedToUTC=1/.test(se.logical_type) && /NANOS=NanoSeconds/.test(se.logical_type),
          `${where}: logical type ${se.logical_type}`);
    check(chunks.every((m) => m.encodings === 'DELTA_BINARY_PACKED'), `${where}: encodings`);
    if (c.count) {
      check(r.t === 'TIMESTAMP WITH TIME ZONE', `${where}: type ${r.t}`);
      const [m] = await rows(`SELECT epoch_us(min(${col}))::VARCHAR AS mn, epoch_us(max(${col}))::VARCHAR AS mx
                              FROM ${rp}`);
      check(m.mn === nsToUs(c.min), `${where}: min ${m.mn} != ${nsToUs(c.min)}`);
      check(m.mx === nsToUs(c.max), `${where}: max ${m.mx} != ${nsToUs(c.max)}`);
    }
  } else {
    check(se.repetition_type === 'OPTIONAL', `${where}: not OPTIONAL`);
  }
  if (c.kind === 'tag' || c.kind === 'string') {
    check(se.converted_type === 'UTF8' && se.logical_type === 'StringType()', `${where}: string type`);
    if (c.kind === 'tag')
      check(chunks.every((m) => /RLE_DICTIONARY/.test(m.encodings)), `${where}: not dictionary encoded`);
  }
  if (c.count === 0) return;

  if (c.kind === 'int64' || c.kind === 'bool') {
    const v = c.kind === 'bool' ? `${col}::INTEGER` : col;
    const [m] = await rows(`SELECT min(${v})::VARCHAR AS mn, max(${v})::VARCHAR AS mx,
                                   sum(${v})::VARCHAR AS s FROM ${rp}`);
    check(m.mn === c.min, `${where}: min ${m.mn} != ${c.min}`);
    check(m.mx === c.max, `${where}: max ${m.mx} != ${c.max}`);
    check(m.s === c.sum, `${where}: sum ${m.s} != ${c.sum}`);
  } else if (c.kind === 'double') {
    const ok = `NOT isnan(${col})`;
    const [m] = await rows(`SELECT min(${col}) FILTER (${ok}) AS mn, max(${col}) FILTER (${ok}) AS mx,
                                   sum(${col}) FILTER (${ok}) AS s, count(*) FILTER (isnan(${col})) AS nan
                            FROM ${rp}`);
    check(sameDouble(m.mn, dbl(c.min), 0), `${where}: min ${m.mn} != ${c.min}`);
    check(sameDouble(m.mx, dbl(c.max), 0), `${where}: max ${m.mx} != ${c.max}`);
    check(sameDouble(m.s, dbl(c.sum), 1e-9), `${where}: sum ${m.s} != ${c.sum}`);
    check((Number(m.nan) > 0) === c.has_nan, `${where}: NaN count ${m.nan}`);
  } else if (c.kind === 'tag' || c.kind === 'string') {
    const [m] = await rows(`SELECT min(${col}) AS mn, max(${col}) AS mx FROM ${rp}`);
    check(m.mn === c.min, `${where}: min ${JSON.stringify(m.mn)} != ${JSON.stringify(c.min)}`);
    check(m.mx === c.max, `${where}: max ${JSON.stringify(m.mx)} != ${JSON.stringify(c.max)}`);
  }
  await checkChunkStats(f, where, c, col, chunks);
}

// Each row group's statistics must equal what DuckDB computes from its rows.
async function checkChunkStats(f, where, c, col, chunks) {
  let first = 0;
  const special = c.kind === 'double' && (c.has_nan || /Infinity/.test(String(c.min) + String(c.max)));
  for (const m of chunks) {
    const n = Number(m.nrows);
    const [g] = await rows(`SELECT min(${col})::VARCHAR AS mn, max(${col})::VARCHAR AS mx,
                                   (count(*) - count(${col}))::BIGINT AS nulls
                            FROM read_parquet(${q(f)}, file_row_number = true)
                            WHERE file_row_number >= ${first} AND file_row_number < ${first + n}`);
    first += n;
    check(Number(g.nulls) === Number(m.nulls), `${where} rg ${m.rg}: null_count ${m.nulls} != ${g.nulls}`);
    if (g.mn === null || special) continue;
    const longStr = (c.kind === 'tag' || c.kind === 'string') &&
      (Buffer.byteLength(g.mn) > 1024 || Buffer.byteLength(g.mx) > 1024);
    if (longStr) {
      check(m.mn === null && m.mx === null, `${where} rg ${m.rg}: long min/max should be left out`);
      continue;
    }
    check(m.mn === g.mn, `${where} rg ${m.rg}: stats min ${m.mn} != ${g.mn}`);
    check(m.mx === g.mx, `${where} rg ${m.rg}: stats max ${m.mx} != ${g.mx}`);
  }
}

async function checkRows(f, exp) {
  const lines = readFileSync(join(dir, exp.rows_file), 'utf8').split('\n').filter((l) => l.length);
  const sel = exp.columns.map((c) => {
    const col = id(c.name);
    if (c.kind === 'time') return `epoch_us(${col})::VARCHAR`;
    if (c.kind === 'int64') return `${col}::VARCHAR`;
    return col;
  });
  const got = await (await db.runAndReadAll(
    `SELECT ${sel.join(', ')} FROM read_parquet(${q(f)}, file_row_number = true) ORDER BY file_row_number`)).getRowsJS();
  check(got.length === lines.length, `${exp.file}: ${got.length} rows read, ${lines.length} expected`);
  let bad = 0;
  for (let i = 0; i < Math.min(got.length, lines.length) && bad < 5; i++) {
    const want = JSON.parse(lines[i]);
    exp.columns.forEach((c, j) => {
      let w = want[j];
      const g = got[i][j];
      let ok;
      if (w === null) ok = g === null;
      else if (c.kind === 'time') ok = g === nsToUs(w);
      else if (c.kind === 'double') ok = g !== null && sameDouble(g, dbl(w), 0);
      else ok = g === w;
      if (!ok && bad++ < 5) check(false, `${exp.file} row ${i} ${c.name}: ${str(g)} != ${JSON.stringify(w)}`);
    });
  }
  check(bad === 0, `${exp.file}: ${bad} rows differ`);
}

const files = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
check(files.length > 0, 'no expectation files');
for (const n of files) {
  const exp = JSON.parse(readFileSync(join(dir, n), 'utf8'));
  const rowsFile = n.replace(/\.json$/, '.rows.jsonl');
  if (existsSync(join(dir, rowsFile))) exp.rows_file = rowsFile;
  await checkFile(exp);
  console.log(`checked ${exp.file}: ${exp.rows} rows, ${exp.columns.length} columns`);
}
db.closeSync();
inst.closeSync();
console.log(`${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
