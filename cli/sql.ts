/** `rewind sql`: ad-hoc SQL over the warehouse, printed as a table, JSON or CSV. */
import Table from 'cli-table3';
import { stringify } from 'csv-stringify/sync';
import { queryWarehouse } from '../warehouse/query.ts';
import type { Context } from './context.ts';

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export async function runSqlCommand(ctx: Context, query: string, format: 'table' | 'json' | 'csv'): Promise<void> {
  const result = await queryWarehouse(ctx.layout, { memoryLimit: ctx.config.duckdb.memoryLimit, threads: ctx.config.duckdb.threads }, query);
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(result.rows)}\n`);
  } else if (format === 'csv') {
    process.stdout.write(stringify(result.rows.map((r) => result.columns.map((c) => cell(r[c]))), { header: true, columns: result.columns }));
  } else {
    const table = new Table({ head: result.columns, style: { head: [], border: [] } });
    for (const r of result.rows) table.push(result.columns.map((c) => cell(r[c]).slice(0, 80)));
    process.stdout.write(`${table.toString()}\n(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})\n`);
  }
}
