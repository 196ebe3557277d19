/**
 * Answering in the format the caller asks for: JSON (serialized once per cached result), CSV or an
 * Arrow IPC stream for the routes that return rows.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'csv-stringify/sync';
import {
  Bool,
  Float64,
  Int32,
  Int64,
  RecordBatchStreamWriter,
  Table,
  TimestampMicrosecond,
  Utf8,
  tableFromJSON,
  vectorFromArray,
  type DataType,
} from 'apache-arrow';

export const ARROW = 'application/vnd.apache.arrow.stream';

export type TableFormat = 'json' | 'csv' | 'arrow';

/** The format the Accept header prefers among JSON, CSV and Arrow (JSON when none is named). */
export function tableFormat(req: FastifyRequest): TableFormat {
  const accept = req.headers.accept;
  if (!accept) return 'json';
  const ranked = accept
    .split(',')
    .map((part, i) => {
      const [type, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { type: type!.trim(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((a) => a.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const a of ranked) {
    if (a.type === 'application/json' || a.type === 'application/*' || a.type === '*/*') return 'json';
    if (a.type === 'text/csv' || a.type === 'text/*') return 'csv';
    if (a.type === ARROW) return 'arrow';
  }
  return 'json';
}

const serialized = new WeakMap<object, string>();

/**
 * Send a result as JSON through the route's response schema (fields not in the schema never leave).
 * Results come from the reader's cache, so the serialized text is kept beside them.
 */
export function sendJson(reply: FastifyReply, value: object): FastifyReply {
  let text = serialized.get(value);
  if (text === undefined) {
    const serialize = reply.getSerializationFunction('200', 'application/json') ?? reply.getSerializationFunction('200');
    text = serialize ? serialize(value as Record<string, unknown>) : JSON.stringify(value);
    serialized.set(value, text);
  }
  return reply.code(200).type('application/json; charset=utf-8').send(text);
}

const csvCache = new WeakMap<object, string>();

/** Rows as CSV (a header line, then one line per row; nested values as JSON). */
export function toCsv(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  return stringify(
    rows.map((r) => cols.map((c) => cell(r[c]))),
    { header: true, columns: [...cols] },
  );
}

function cell(v: unknown): unknown {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

/** Rows as one Arrow IPC stream (types inferred from the values; nested values as JSON text). */
export function toArrow(rows: readonly Record<string, unknown>[], columns?: readonly string[]): Uint8Array {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const flat = rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c] !== null && typeof r[c] === 'object' ? JSON.stringify(r[c]) : r[c]])));
  const table = flat.length > 0 ? tableFromJSON(flat) : new Table({});
  const writer = RecordBatchStreamWriter.writeAll(table);
  return writer.toUint8Array(true);
}

/**
 * Send rows in the format asked for: JSON is `json` (the route's schema), CSV and Arrow hold `rows`
 * with `columns` (cached per result object, like JSON).
 */
export function sendTable(
  req: FastifyRequest,
  reply: FastifyReply,
  json: object,
  rows: readonly object[],
  columns?: readonly string[],
): FastifyReply {
  const format = tableFormat(req);
  if (format === 'json') return sendJson(reply, json);
  if (format === 'csv') {
    let text = csvCache.get(rows);
    if (text === undefined) csvCache.set(rows, (text = toCsv(rows as Record<string, unknown>[], columns)));
    return reply.code(200).type('text/csv; charset=utf-8').send(text);
  }
  return reply.code(200).type(ARROW).send(Buffer.from(toArrow(rows as Record<string, unknown>[], columns)));
}

// ---------------------------------------------------------------------------------------------
// Streams of plays (GET /export/plays)

/** Arrow type of a DuckDB column type of the plays table. */
function arrowType(duckType: string): DataType {
  switch (duckType) {
    case 'TIMESTAMPTZ':
      return new TimestampMicrosecond('UTC');
    case 'BIGINT':
      return new Int64();
    case 'INTEGER':
      return new Int32();
    case 'BOOLEAN':
      return new Bool();
    case 'DOUBLE':
      return new Float64();
    default:
      return new Utf8();
  }
}

/** Chunks of rows -> CSV text chunks (header first). */
export async function* csvChunks(columns: readonly string[], chunks: AsyncIterable<Record<string, unknown>[]>): AsyncGenerator<string> {
  yield stringify([[...columns]]);
  for await (const rows of chunks) yield stringify(rows.map((r) => columns.map((c) => cell(r[c]))));
}

/** Chunks of rows -> JSON lines. */
export async function* jsonlChunks(chunks: AsyncIterable<Record<string, unknown>[]>): AsyncGenerator<string> {
  for await (const rows of chunks) {
    yield rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))).join('\n') + '\n';
  }
}

/** Chunks of rows -> one Arrow IPC stream, a record batch per chunk, typed after the plays columns. */
export async function* arrowChunks(
  columns: readonly (readonly [string, string])[],
  chunks: AsyncIterable<Record<string, unknown>[]>,
): AsyncGenerator<Uint8Array> {
  const writer = new RecordBatchStreamWriter();
  const out: Uint8Array[] = [];
  const reader = (async () => {
    for await (const buf of writer) out.push(buf);
  })();
  let wrote = false;
  for await (const rows of chunks) {
    const vectors = Object.fromEntries(
      columns.map(([name, type]) => {
        const values = rows.map((r) => {
          const v = r[name];
          if (v === undefined) return null;
          if (type === 'TIMESTAMPTZ' && v instanceof Date) return v.getTime();
          return v;
        });
        return [name, vectorFromArray(values, arrowType(type))];
      }),
    );
    writer.write(new Table(vectors).batches[0]!);
    wrote = true;
    await new Promise((resolve) => setImmediate(resolve));
    while (out.length) yield out.shift()!;
  }
  if (!wrote) {
    const empty = Object.fromEntries(columns.map(([name, type]) => [name, vectorFromArray([], arrowType(type))]));
    writer.write(new Table(empty).batches[0]!);
  }
  writer.finish();
  await reader;
  while (out.length) yield out.shift()!;
}
