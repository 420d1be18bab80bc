// duckdb_check.mjs - what the DuckDB checking scripts share: an in-memory
// DuckDB (@duckdb/node-api from tests/js, offline: no extension install or
// autoload), SQL quoting, and a check counter.
//
//   const d = await openDuckDB();   d.rows(sql) -> row objects; d.close()
//   const c = checker();            c.check(cond, what); c.checks, c.failures
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const requireJs = createRequire(join(process.env.NEOEDGE_SRC, 'tests/js/package.json'));
const { DuckDBInstance } = await import(pathToFileURL(requireJs.resolve('@duckdb/node-api')));

export async function openDuckDB() {
  const inst = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const con = await inst.connect();
  return {
    rows: async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJS(),
    close: () => {
      con.closeSync();
      inst.closeSync();
    },
  };
}

// Counts checks; a failed one is printed as "FAIL what".
export function checker() {
  const c = { checks: 0, failures: 0 };
  c.check = (cond, what) => {
    c.checks++;
    if (!cond) {
      c.failures++;
      console.error(`FAIL ${what}`);
    }
  };
  return c;
}

export const sqlString = (s) => `'${String(s).replace(/'/g, "''")}'`;
export const sqlIdent = (s) => `"${String(s).replace(/"/g, '""')}"`;
