/**
 * Data tests of the SQL models: every `sql/tests/<model>__<name>.sql` is a query over the model's
 * view that must return no rows (dbt-style singular tests).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../config.ts';
import type { Db } from '../../warehouse/duckdb.ts';

const TESTS_DIR = path.join(PROJECT_ROOT, 'sql', 'tests');

/** Names of the checks of `model` (file names without `.sql`). */
export async function checksOf(model: string): Promise<string[]> {
  const names = await fs.readdir(TESTS_DIR);
  return names
    .filter((n) => n.startsWith(`${model}__`) && n.endsWith('.sql'))
    .map((n) => n.slice(0, -4))
    .sort();
}

/** Run every check of `model`; returns those that found rows (with up to 5 of them). */
export async function failingChecks(
  db: Db,
  model: string,
): Promise<{ check: string; rows: Record<string, unknown>[] }[]> {
  const failures = [];
  for (const check of await checksOf(model)) {
    const sql = (await fs.readFile(path.join(TESTS_DIR, `${check}.sql`), 'utf8')).trim().replace(/;\s*$/, '');
    const rows = await db.all(`select * from (\n${sql}\n) limit 5`);
    if (rows.length > 0) failures.push({ check, rows });
  }
  return failures;
}

/** Assert that `model` has checks and that they all pass. */
export async function assertChecksPass(db: Db, model: string): Promise<void> {
  assert.ok((await checksOf(model)).length > 0, `no checks for ${model}`);
  const failures = await failingChecks(db, model);
  assert.deepEqual(failures, [], `failing checks of ${model}:\n${JSON.stringify(failures, null, 2)}`);
}
