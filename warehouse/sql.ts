/**
 * Loading the SQL files of `sql/` and binding them as views. A model file is one SELECT named
 * after the relation it builds; it refers to its inputs by view name.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config.ts';
import { type Db, type Params, ident } from './duckdb.ts';

const cache = new Map<string, string>();

/** The text of a SQL file of the project (path relative to its root), without a trailing semicolon. */
export function sqlFileText(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = readFileSync(path.join(PROJECT_ROOT, file), 'utf8').trim().replace(/;\s*$/, '');
    cache.set(file, text);
  }
  return text;
}

/** The text of `sql/<layer>/<name>.sql`, without a trailing semicolon. */
export function modelSql(layer: 'staging' | 'intermediate' | 'marts', name: string): string {
  return sqlFileText(path.join('sql', layer, `${name}.sql`));
}

/** Create (or replace) a temporary view named after the model. */
export async function createModelView(db: Db, layer: 'staging' | 'intermediate' | 'marts', name: string): Promise<void> {
  await db.run(`CREATE OR REPLACE TEMP VIEW ${ident(name)} AS ${modelSql(layer, name)}`);
}

/** Set DuckDB variables (read by models with getvariable) from bound values. */
export async function setVariables(db: Db, vars: Record<string, string | number | null>): Promise<void> {
  for (const [name, value] of Object.entries(vars)) {
    await db.run(`SET VARIABLE ${ident(name)} = $1`, [value] as Params);
  }
}

/**
 * SQL for the UTC calendar year of a TIMESTAMPTZ expression. `year()` of a TIMESTAMPTZ goes
 * through ICU's calendar; this is epoch arithmetic (the same year, at a tenth of the cost per row).
 */
export function utcYear(timestamptz: string): string {
  return `year(make_timestamp(epoch_us(${timestamptz})))`;
}

/**
 * SQL for the wall-clock time (a TIMESTAMP) in the IANA zone `zone` (an SQL expression) of the
 * instant `timestamptz`: timezone(zone, instant), with UTC (every user's default zone) by epoch
 * arithmetic instead of ICU's calendar (which costs more than the rest of a scan of the plays).
 */
export function localTime(timestamptz: string, zone: string): string {
  return `(CASE WHEN ${zone} = 'UTC' THEN make_timestamp(epoch_us(${timestamptz})) ELSE timezone(${zone}, ${timestamptz}) END)`;
}
