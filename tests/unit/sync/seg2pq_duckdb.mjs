// seg2pq_duckdb.mjs - reads every object seg2pq_gen wrote back with DuckDB
// (@duckdb/node-api, offline: no extension install or autoload) and checks
// it against expect.json: row count, column names and types in order (time
// TIMESTAMP WITH TIME ZONE, tags VARCHAR, typed fields), the footer's
// neoedge.* metadata, and per series (selected by its tag values, NULL
// where it lacks a tag): row count, time bounds, and per field column
// count, null count, sum, min and max. Then reads all objects at once with
// hive_partitioning and checks the partition values against the keys.
//
// Usage: node seg2pq_duckdb.mjs DIR       (exit status 0 = all checks pass)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const lib = join(process.env.NEOEDGE_SRC, 'tests/js/duckdb_check.mjs');
const { openDuckDB, checker, sqlString: q, sqlIdent: id } = await import(pathToFileURL(lib));

const dir = process.argv[2];
const objdir = join(dir, 'objects');
const dc = checker();
const duck = await openDuckDB();
const { rows } = duck;
const close = (a, b) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

async function checkObject(o) {
  const f = join(objdir, o.file);
  // DuckDB would add the key's partition columns on its own
  const rp = `read_parquet(${q(f)}, hive_partitioning = false)`;
  const tag = o.file;
  dc.check(o.file.startsWith(o.key + '/'), `${tag}: not under its key ${o.key}`);

  const [cnt] = await rows(`SELECT count(*)::VARCHAR AS n FROM ${rp}`);
  dc.check(cnt.n === String(o.rows), `${tag}: rows ${cnt.n} != ${o.rows}`);

  const desc = await rows(`DESCRIBE SELECT * FROM ${rp}`);
  const got = desc.map((d) => [d.column_name, d.column_type]);
  dc.check(JSON.stringify(got) === JSON.stringify(o.columns),
        `${tag}: columns ${JSON.stringify(got)} != ${JSON.stringify(o.columns)}`);

  const kv = await rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${q(f)})`);
  const meta = Object.fromEntries(kv.map((e) => [e.k, e.v]));
  dc.check(meta['neoedge.db'] === o.db, `${tag}: neoedge.db ${meta['neoedge.db']}`);
  dc.check(meta['neoedge.measurement'] === o.measurement, `${tag}: neoedge.measurement ${meta['neoedge.measurement']}`);
  dc.check(meta['neoedge.node'] === 'n1', `${tag}: neoedge.node ${meta['neoedge.node']}`);
  dc.check(/^[0-9a-f]{16}$/.test(meta['neoedge.segment'] ?? ''), `${tag}: neoedge.segment ${meta['neoedge.segment']}`);

  let seriesRows = 0;
  for (const s of o.series) {
    seriesRows += s.rows;
    await checkSeries(rp, `${tag} ${JSON.stringify(s.tags)}`, o, s);
  }
  dc.check(seriesRows === o.rows, `${tag}: series rows ${seriesRows} != ${o.rows}`);
}

async function checkSeries(rp, where, o, s) {
  const cond = o.tag_columns
    .map((c) => (s.tags[c] === null ? `${id(c)} IS NULL` : `${id(c)} = ${q(s.tags[c])}`))
    .join(' AND ');
  const from = `${rp} WHERE ${cond}`;
  const [r] = await rows(`SELECT count(*)::VARCHAR AS n, epoch_us(min(time))::VARCHAR AS mn,
                                 epoch_us(max(time))::VARCHAR AS mx FROM ${from}`);
  dc.check(r.n === String(s.rows), `${where}: rows ${r.n} != ${s.rows}`);
  dc.check(r.mn === s.min_us && r.mx === s.max_us, `${where}: time ${r.mn}..${r.mx} != ${s.min_us}..${s.max_us}`);
  for (const fl of s.fields) {
    const col = id(fl.col);
    const w = `${where}.${fl.col}`;
    const v = fl.type === 'BOOLEAN' ? `${col}::INTEGER` : col;
    const sum = fl.type === 'VARCHAR' ? 'NULL' : `sum(${v})`;
    const cast = fl.type === 'DOUBLE' || fl.type === 'VARCHAR' ? '' : '::VARCHAR';
    const [m] = await rows(`SELECT count(${col})::VARCHAR AS n, (count(*) - count(${col}))::VARCHAR AS nulls,
                                   (${sum})${cast} AS s, min(${v})${cast} AS mn, max(${v})${cast} AS mx
                            FROM ${from}`);
    dc.check(m.n === String(fl.count), `${w}: count ${m.n} != ${fl.count}`);
    dc.check(m.nulls === String(s.rows - fl.count), `${w}: nulls ${m.nulls} != ${s.rows - fl.count}`);
    if (fl.type === 'DOUBLE' && fl.count) {
      dc.check(close(m.s, fl.sum), `${w}: sum ${m.s} != ${fl.sum}`);
      dc.check(m.mn === fl.min && m.mx === fl.max, `${w}: min/max ${m.mn}/${m.mx} != ${fl.min}/${fl.max}`);
    } else {
      dc.check(fl.type === 'VARCHAR' || m.s === fl.sum, `${w}: sum ${m.s} != ${fl.sum}`);
      dc.check(m.mn === fl.min && m.mx === fl.max, `${w}: min/max ${JSON.stringify([m.mn, m.mx])} != ${JSON.stringify([fl.min, fl.max])}`);
    }
  }
}

// All objects at once, as a lake reader would: partition columns come from
// the key; the percent-encoded measurement must decode back to its name.
async function checkHive(exp) {
  const glob = q(join(objdir, '**', '*.parquet'));
  const got = await rows(`SELECT db, measurement, date::VARCHAR AS date, hour::VARCHAR AS hour,
                                 count(*)::VARCHAR AS n
                          FROM read_parquet(${glob}, hive_partitioning = true, union_by_name = true)
                          GROUP BY ALL ORDER BY ALL`);
  const want = exp.objects.map((o) => {
    const m = /date=([^/]+)\/hour=(\d+)$/.exec(o.key);
    return { db: o.db, measurement: o.measurement, date: m[1], hour: m[2], n: String(o.rows) };
  });
  const norm = (a) => a.map((r) => JSON.stringify([r.db, r.measurement, r.date, r.hour, r.n])).sort();
  dc.check(JSON.stringify(norm(got)) === JSON.stringify(norm(want)),
        `hive read: ${JSON.stringify(norm(got))} != ${JSON.stringify(norm(want))}`);
}

const exp = JSON.parse(readFileSync(join(dir, 'expect.json'), 'utf8'));
dc.check(exp.objects.length > 0, 'no objects');
for (const o of exp.objects) {
  await checkObject(o);
  console.log(`checked ${o.file}: ${o.rows} rows, ${o.series.length} series`);
}
await checkHive(exp);
duck.close();
console.log(`${dc.checks} checks, ${dc.failures} failed`);
process.exit(dc.failures ? 1 : 0);
