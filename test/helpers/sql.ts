/**
 * Small SQL helpers for tests: load JS rows into DuckDB with exact column types, and read rows back
 * in a form that is easy to compare (dates as 'YYYY-MM-DD', timestamps as ISO strings).
 */
import { type Db, ident } from '../../warehouse/duckdb.ts';

export type Columns = readonly (readonly [string, string])[];

const SCALAR = /^(VARCHAR|DATE|TIMESTAMPTZ|TIMESTAMP|BIGINT|INTEGER|BOOLEAN|DOUBLE)$/;

/**
 * SQL (a SELECT) turning the JSON array bound as parameter `$<param>` into rows with exactly
 * `columns` (name, DuckDB type). Missing keys become NULL; nested types (lists, structs) are cast
 * from their JSON form.
 */
export function jsonRowsSql(columns: Columns, param = 1): string {
  const cols = columns.map(([name, type]) => {
    const key = `'${name.replaceAll("'", "''")}'`;
    const expr = SCALAR.test(type) ? `(j ->> ${key})` : `(j -> ${key})`;
    return `cast(${expr} as ${type}) as ${ident(name)}`;
  });
  return `select ${cols.join(', ')} from (select unnest(cast(cast($${param} as json) as json[])) as j)`;
}

/** Create (or replace) table `name` with `columns`, holding `rows`. */
export async function createTable(
  db: Db,
  name: string,
  columns: Columns,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  await db.run(`CREATE OR REPLACE TABLE ${ident(name)} AS ${jsonRowsSql(columns)}`, [JSON.stringify(rows)]);
}

/** Run `sql` and return its rows as plain JSON values; DATE columns become 'YYYY-MM-DD' strings. */
export async function rows<T = Record<string, unknown>>(db: Db, sql: string): Promise<T[]> {
  const described = await db.all<{ column_name: string; column_type: string }>(`DESCRIBE ${sql}`);
  const dates = described.filter((c) => c.column_type === 'DATE').map((c) => ident(c.column_name));
  const wrapped = dates.length
    ? `select * replace (${dates.map((c) => `strftime(${c}, '%Y-%m-%d') as ${c}`).join(', ')}) from (${sql})`
    : sql;
  return db.all<T>(wrapped);
}

/** The columns of a query or table, as [name, type] pairs. */
export async function columnsOf(db: Db, sqlOrTable: string): Promise<[string, string][]> {
  const described = await db.all<{ column_name: string; column_type: string }>(`DESCRIBE ${sqlOrTable}`);
  return described.map((c) => [c.column_name, c.column_type]);
}
