/**
 * The only module that opens DuckDB. Every query in Rewind goes through a `Db` from here.
 *
 * Values are always bound parameters. Identifiers (and the paths of files Rewind itself
 * generates, which DuckDB's COPY cannot take as a parameter) go through `ident` / `literal`.
 */
import {
  DuckDBArrayType,
  DuckDBInstance,
  DuckDBListType,
  DuckDBStructType,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
  listValue,
} from '@duckdb/node-api';
import os from 'node:os';
import path from 'node:path';

export type Params = DuckDBValue[] | Record<string, DuckDBValue>;
export type Row = Record<string, unknown>;

export interface DbOptions {
  memoryLimit?: string;
  threads?: number;
  /** Folder DuckDB may spill to (must be inside the data folder). */
  tempDirectory?: string;
}

/** Quote an identifier (table, view, column) for DuckDB. The one quoting helper for identifiers. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote a string literal. Used only for file paths Rewind generates itself (COPY ... TO cannot bind). */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A DuckDB list value of strings, for binding a list of paths or keys as one parameter. */
export function stringList(values: readonly string[]): DuckDBValue {
  return listValue([...values]);
}

/** Turn DuckDB's JS values into plain JSON-friendly ones: integers become numbers where exact. */
export function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') {
    const out: Row = {};
    for (const [k, v] of Object.entries(value as Row)) out[k] = plain(v);
    return out;
  }
  return value;
}

const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;

function integersAsNumbers(value: unknown, type: DuckDBType | undefined): unknown {
  if (value === null || value === undefined || type === undefined) return value ?? null;
  if (type instanceof DuckDBListType || type instanceof DuckDBArrayType) {
    return Array.isArray(value) ? value.map((v) => integersAsNumbers(v, type.valueType)) : value;
  }
  if (type instanceof DuckDBStructType) {
    const out: Row = {};
    for (const [k, v] of Object.entries(value as Row)) out[k] = integersAsNumbers(v, type.typeForEntry(k));
    return out;
  }
  if (typeof value === 'string' && INTEGER_TYPES.test(type.toString())) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value;
  }
  return value;
}

/**
 * Where DuckDB spills when a caller names no folder (an in-memory database would otherwise spill
 * into `.tmp/` of the working directory). DuckDB removes its spill files when it closes.
 */
export const DEFAULT_TEMP_DIRECTORY = path.join(os.tmpdir(), 'rewind-duckdb');

export class Db {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
  ) {}

  static async open(options: DbOptions = {}): Promise<Db> {
    const settings: Record<string, string> = {};
    if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
    if (options.threads) settings.threads = String(options.threads);
    settings.temp_directory = options.tempDirectory ?? DEFAULT_TEMP_DIRECTORY;
    // Nothing in Rewind needs extensions beyond the built-in parquet, json and icu; never download any.
    settings.autoinstall_known_extensions = 'false';
    settings.autoload_known_extensions = 'true';
    const instance = await DuckDBInstance.create(':memory:', settings);
    const connection = await instance.connect();
    // Timestamps are compared and truncated in UTC unless a model converts to a user's zone.
    await connection.run(`SET TimeZone = 'UTC'`);
    return new Db(instance, connection);
  }

  async run(sql: string, params?: Params): Promise<void> {
    await this.connection.run(sql, params);
  }

  /** Run a query and return its rows as objects of plain JS values (bigints made numbers where exact). */
  async all<T = Row>(sql: string, params?: Params): Promise<T[]> {
    const reader = await this.connection.runAndReadAll(sql, params);
    return reader.getRowObjectsJS().map((r) => plain(r) as T);
  }

  /**
   * Rows with DuckDB's JSON conversion (timestamps as text, decimals as strings), except that
   * integers, at any depth of lists and structs, are numbers where they fit exactly.
   */
  async allJson(sql: string, params?: Params): Promise<{ columns: string[]; types: string[]; rows: Row[] }> {
    const reader = await this.connection.runAndReadAll(sql, params);
    const columns = reader.columnNames();
    const columnTypes = reader.columnTypes();
    const rows = reader.getRowObjectsJson().map((r) => {
      const out: Row = {};
      columns.forEach((c, i) => (out[c] = integersAsNumbers(r[c], columnTypes[i])));
      return out;
    });
    return { columns, types: columnTypes.map((t) => t.toString()), rows };
  }

  async one<T = Row>(sql: string, params?: Params): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/** Open a database, run `fn`, and always close it. */
export async function withDb<T>(options: DbOptions, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await Db.open(options);
  try {
    return await fn(db);
  } finally {
    db.close();
  }
}
