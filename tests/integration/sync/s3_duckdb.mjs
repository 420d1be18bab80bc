// s3_duckdb.mjs - checks the Parquet objects an S3 sink uploaded against
// the daemon that uploaded them, with DuckDB (@duckdb/node-api, offline).
//
// Usage: node s3_duckdb.mjs --dir DIR --url http://127.0.0.1:PORT --db DB
//                           --node NODE [--prefix P] [--expect-rows N]
// DIR holds the bucket's objects at their keys (s3_download). Checks:
//   - every key is {P/}db=<db>/measurement=<m>/date=YYYY-MM-DD/hour=HH/
//     <node>-<16 hex>.parquet, and DuckDB reads the file;
//   - the rows of each object lie in its date and hour, and its footer
//     metadata names the same measurement and segment;
//   - DuckDB over all objects (read_parquet with hive_partitioning, as a
//     user would query the bucket) gives, per measurement, series (tag
//     set) and field, the same count, sum, min and max as the daemon's
//     own /query (GROUP BY *), and the same total number of rows;
//   - column types: time TIMESTAMP WITH TIME ZONE, floats DOUBLE,
//     integers BIGINT, booleans BOOLEAN, strings and tags VARCHAR.
// Prints one line per failed check; exit status 0 when all pass.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

const lib = join(process.env.NEOEDGE_SRC, 'tests/js/duckdb_check.mjs');
const { openDuckDB, checker, sqlString: lit, sqlIdent: ident } = await import(pathToFileURL(lib));

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['dir', 'url', 'db', 'node']) {
  if (!args[k]) throw new Error(`missing --${k}`);
}

const dc = checker();
const { rows } = await openDuckDB();

async function influx(q) {
  const u = new URL('/query', args.url);
  u.searchParams.set('db', args.db);
  u.searchParams.set('q', q);
  u.searchParams.set('epoch', 'ns');
  const r = await fetch(u);
  const j = await r.json();
  const res = j.results[0];
  if (res.error) throw new Error(`${q}: ${res.error}`);
  return res.series || [];
}

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

// ---- keys and objects ------------------------------------------------------

const pre = args.prefix ? `${args.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/` : '';
const keyRe = new RegExp(`^${pre}db=([^/]+)/measurement=([^/]+)/date=(\\d{4}-\\d{2}-\\d{2})/hour=(\\d{2})/` +
  `${args.node}-([0-9a-f]{16})\\.parquet$`);
const files = walk(args.dir).sort();
dc.check(files.length > 0, 'the bucket holds objects');
const byMeas = new Map();
for (const f of files) {
  const key = relative(args.dir, f);
  const m = keyRe.exec(key);
  dc.check(m !== null, `key ${key} follows {prefix}/db=/measurement=/date=/hour=/{node}-{segment}.parquet`);
  if (!m) continue;
  const [, db, meas, date, hour, seg] = m;
  dc.check(db === args.db, `${key}: database ${db}`);
  const [r] = await rows(`SELECT count(*)::BIGINT AS n, strftime(min(time) AT TIME ZONE 'UTC', '%Y-%m-%d %H') AS lo,
                                 strftime(max(time) AT TIME ZONE 'UTC', '%Y-%m-%d %H') AS hi
                          FROM read_parquet(${lit(f)})`);
  dc.check(Number(r.n) > 0, `${key}: has rows`);
  dc.check(r.lo === `${date} ${hour}` && r.hi === `${date} ${hour}`,
    `${key}: rows from ${r.lo}h to ${r.hi}h lie in the key's hour ${date} ${hour}`);
  const kv = await rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${lit(f)})`);
  const meta = Object.fromEntries(kv.map((e) => [e.k, e.v]));
  dc.check(meta['neoedge.measurement'] === decodeURIComponent(meas), `${key}: footer measurement ${meta['neoedge.measurement']}`);
  dc.check(meta['neoedge.segment'] === seg, `${key}: footer segment ${meta['neoedge.segment']}`);
  const name = decodeURIComponent(meas);
  if (!byMeas.has(name)) byMeas.set(name, []);
  byMeas.get(name).push(f);
}

// ---- aggregates against the daemon -------------------------------------------

const duckType = { float: 'DOUBLE', integer: 'BIGINT', unsigned: 'BIGINT', boolean: 'BOOLEAN', string: 'VARCHAR' };
const near = (a, b) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
let parquetRows = 0;

for (const [meas, list] of byMeas) {
  const from = `read_parquet([${list.map(lit).join(', ')}], hive_partitioning = true)`;
  const cols = Object.fromEntries((await rows(`DESCRIBE SELECT * FROM ${from}`)).map((c) => [c.column_name, c.column_type]));
  dc.check(cols.time === 'TIMESTAMP WITH TIME ZONE', `${meas}: time is ${cols.time}`);
  dc.check(cols.measurement !== undefined && cols.hour !== undefined, `${meas}: hive partition columns present`);
  const tags = (await influx(`SHOW TAG KEYS FROM ${ident(meas)}`)).flatMap((s) => s.values.map((v) => v[0]));
  const fields = (await influx(`SHOW FIELD KEYS FROM ${ident(meas)}`)).flatMap((s) => s.values);
  for (const t of tags) dc.check(cols[t] === 'VARCHAR', `${meas}: tag ${t} is ${cols[t]}`);
  const [{ n }] = await rows(`SELECT count(*)::BIGINT AS n FROM ${from}`);
  parquetRows += Number(n);
  const [{ m }] = await rows(`SELECT count(DISTINCT measurement)::BIGINT AS m FROM ${from} WHERE measurement = ${lit(meas)}`);
  dc.check(Number(m) === 1, `${meas}: the hive measurement column holds the name`);

  for (const [field, type] of fields) {
    dc.check(cols[field] === duckType[type], `${meas}.${field} (${type}) is ${cols[field]}`);
    const numeric = type === 'float' || type === 'integer' || type === 'unsigned';
    const aggs = numeric ? ['count', 'sum', 'min', 'max'] : ['count'];
    const sel = aggs.map((a) => `${a}(${ident(field)})`).join(', ');
    const series = await influx(`SELECT ${sel} FROM ${ident(meas)} GROUP BY *`);
    const want = new Map();
    for (const s of series) {
      const key = tags.map((t) => (s.tags && s.tags[t]) || '').join('\u0001');
      want.set(key, s.values[0].slice(1).map(Number));
    }
    const dsel = aggs.map((a) => (a === 'count' ? `count(${ident(field)})::DOUBLE` : `${a}(${ident(field)})::DOUBLE`));
    const tagSel = tags.map((t) => `coalesce(${ident(t)}, '')`);
    const got = await rows(`SELECT ${[...tagSel.map((t, i) => `${t} AS t${i}`), ...dsel.map((d, i) => `${d} AS a${i}`)].join(', ')}
                            FROM ${from} ${tags.length ? `GROUP BY ${tagSel.join(', ')}` : ''}`);
    const have = new Map();
    for (const r of got) {
      const key = tags.map((t, i) => r[`t${i}`]).join('\u0001');
      const vals = aggs.map((a, i) => r[`a${i}`]);
      if (vals[0] > 0) have.set(key, vals);
    }
    dc.check(have.size === want.size, `${meas}.${field}: ${have.size} series in Parquet, ${want.size} in neoedge`);
    for (const [key, w] of want) {
      const h = have.get(key);
      const label = `${meas}.${field} {${key.replace(/\u0001/g, ',')}}`;
      dc.check(h !== undefined, `${label}: missing in Parquet`);
      if (!h) continue;
      aggs.forEach((a, i) => dc.check(near(h[i], w[i]), `${label}: ${a} ${h[i]} in Parquet, ${w[i]} in neoedge`));
    }
  }
}
if (args['expect-rows']) dc.check(parquetRows === Number(args['expect-rows']), `rows ${parquetRows}, want ${args['expect-rows']}`);

console.error(`${dc.checks - dc.failures} of ${dc.checks} DuckDB checks passed over ${files.length} objects, ${parquetRows} rows`);
process.exit(dc.failures ? 1 : 0);
