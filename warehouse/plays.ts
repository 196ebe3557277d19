/**
 * Plays: staging one export file into a checkpoint Parquet file, and merging an import's staged
 * files into the warehouse (see sql/intermediate/int_plays_merged.sql for the matching rule).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Db, ident, literal, stringList } from './duckdb.ts';
import { liveFile } from './files.ts';
import { writePartitionedGenerations } from './files.ts';
import { type Layout } from './layout.ts';
import { HIVE_TYPES, PLAY_COLUMN_NAMES, withPlayColumns } from './schema.ts';
import { createModelView, localTime, modelSql, setVariables, utcYear } from './sql.ts';

export type StageFormat = 'extended' | 'account_music' | 'account_podcast' | 'account_audiobook' | 'account_legacy';

/** A file of an export that cannot be read as streaming history. Permanent: retrying won't help. */
export class BadExportFileError extends Error {
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`${entry}: ${reason}`);
    this.name = 'BadExportFileError';
  }
}

/**
 * The keys of a stream that staging reads. An export also has `username`, `ip_addr`,
 * `ip_addr_decrypted` and `user_agent_decrypted`: personal, never stored, so never read either.
 */
const EXTENDED_KEYS = [
  'ts', 'platform', 'ms_played', 'conn_country',
  'master_metadata_track_name', 'master_metadata_album_artist_name', 'master_metadata_album_album_name',
  'spotify_track_uri', 'episode_name', 'episode_show_name', 'spotify_episode_uri', 'audiobook_title',
  'audiobook_uri', 'audiobook_chapter_uri', 'audiobook_chapter_title', 'reason_start', 'reason_end',
  'shuffle', 'skipped', 'offline', 'offline_timestamp', 'incognito_mode',
];
const ACCOUNT_KEYS = [
  'endTime', 'artistName', 'trackName', 'msPlayed', 'podcastName', 'episodeName', 'audiobookName', 'chapterName', 'authorName',
];

function jsonColumns(keys: readonly string[]): string {
  // Every key is read as text and cast in staging, so a wrongly typed value rejects a row, not the file.
  return `{${keys.map((k) => `${literal(k)}: 'VARCHAR'`).join(', ')}}`;
}

export interface RejectedRows {
  reason: string;
  rows: number;
  /** 1-based position in the file of the first such row. */
  firstRow: number;
}

export interface StageResult<F extends string = StageFormat> {
  entry: string;
  /** The export file's format; 'api' for a batch of Web API plays (api-plays.ts). */
  format: F;
  rowsRead: number;
  rowsStaged: number;
  rejected: RejectedRows[];
}

/** Explain a DuckDB JSON error in the user's terms, naming the archive entry instead of our temp file. */
function jsonErrorReason(message: string, tmpPath: string): string {
  const m = message.replace(/^Error: /, '').replace(/^Invalid Input Error: /, '').split('\n')[0] ?? message;
  const cleaned = m
    .replaceAll(` in file "${tmpPath}"`, '')
    .replaceAll(tmpPath, 'the file')
    .replace(/ Try setting.*$/, '')
    .trim();
  if (/Expected top-level JSON array/.test(cleaned)) return `expected a JSON array of streams: ${cleaned}`;
  if (/Malformed JSON|unexpected/.test(cleaned)) return `not valid JSON: ${cleaned}`;
  if (/Expected OBJECT/.test(cleaned)) return `expected every stream to be a JSON object: ${cleaned}`;
  return cleaned;
}

/** Databases whose staging views exist already, per format family (see stagingViews). */
const withStagingViews = new WeakMap<Db, Set<'extended' | 'account'>>();

/**
 * The staging models of one format family as views on `db`, reading the file named by the
 * variable `rewind_json_path`. Made once per database: a lane stages file after file with the same
 * views (making them again for every file cost more than staging a small file).
 */
async function stagingViews(db: Db, extended: boolean): Promise<{ int: string }> {
  const family = extended ? 'extended' : 'account';
  const made = withStagingViews.get(db) ?? new Set();
  const raw = extended ? 'raw_extended_streams' : 'raw_account_streams';
  const stg = extended ? 'stg_extended_streams' : 'stg_account_streams';
  const int = extended ? 'int_extended_streams' : 'int_account_streams';
  if (!made.has(family)) {
    const columns = jsonColumns(extended ? EXTENDED_KEYS : ACCOUNT_KEYS);
    await db.run(
      `CREATE OR REPLACE TEMP VIEW ${ident(raw)} AS
       SELECT row_number() OVER () AS source_row, *
       FROM read_json(getvariable('rewind_json_path'), format = 'array', columns = ${columns}, maximum_object_size = 16777216)`,
    );
    await createModelView(db, 'staging', stg);
    await createModelView(db, 'intermediate', int);
    made.add(family);
    withStagingViews.set(db, made);
  }
  return { int };
}

/**
 * Read one extracted export file (`jsonPath`) and write its valid rows, in the stored play shape,
 * to `outFile` (a Parquet checkpoint, written to a temporary name and renamed).
 */
export async function stageFile(
  db: Db,
  opts: { jsonPath: string; format: StageFormat; importId: string; entry: string; outFile: string },
): Promise<StageResult> {
  await setVariables(db, {
    rewind_json_path: opts.jsonPath,
    rewind_import_id: opts.importId,
    rewind_source_file: opts.entry,
    rewind_account_format: opts.format,
  });
  // (After the variables: making a view binds it, which reads rewind_json_path.)
  const { int } = await stagingViews(db, opts.format === 'extended');
  await fs.mkdir(path.dirname(opts.outFile), { recursive: true });
  // One pass over the file: every row goes to the checkpoint with its reject_reason (NULL when
  // kept); the merge reads only the kept ones. Counting the rejects afterwards reads one column.
  // A checkpoint lives only until the merge, so it is not compressed (dictionaries and run lengths
  // still make it about a tenth of the JSON): Snappy cost 0.2 to 0.4 CPU-s more over the
  // benchmark's million rows (zstd, a third more again). The warehouse's own files are zstd.
  const tmp = `${opts.outFile}.tmp-${randomUUID()}`;
  try {
    await db.run(
      `COPY (SELECT ${PLAY_COLUMN_NAMES.map(ident).join(', ')}, reject_reason FROM ${ident(int)})
       TO ${literal(tmp)} (FORMAT parquet, COMPRESSION uncompressed)`,
    );
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new BadExportFileError(opts.entry, jsonErrorReason(String(e), opts.jsonPath));
  }
  const counts = await db.all<RejectedRows & { kept: boolean }>(
    `SELECT reject_reason IS NULL AS kept, coalesce(reject_reason, '') AS reason, count(*) AS rows, min(source_row) AS "firstRow"
     FROM read_parquet(${literal(tmp)}) GROUP BY ALL ORDER BY rows DESC`,
  );
  await fs.rename(tmp, opts.outFile);
  const rowsRead = counts.reduce((n, c) => n + c.rows, 0);
  const rowsStaged = counts.find((c) => c.kept)?.rows ?? 0;
  const rejected = counts.filter((c) => !c.kept).map(({ reason, rows, firstRow }) => ({ reason, rows, firstRow }));
  return { entry: opts.entry, format: opts.format, rowsRead, rowsStaged, rejected };
}

export interface MergeResult {
  rowsIn: number;
  added: number;
  duplicates: number;
  /** Stored rows replaced by a better row of the same stream (Account by Extended, API by export). */
  superseded: number;
  /** Stored exported rows that gained the IDs and context of an API play matched to them. */
  enriched: number;
  years: number[];
  /** Local dates (in `timezone`) whose plays changed: to rebuild in the marts. */
  affectedDays: string[];
}

/** SQL for reading the given Parquet files of plays, with the hive keys user_id and year. */
export function playsFromFiles(paramIndex = 1): string {
  return `read_parquet($${paramIndex}, hive_partitioning = true, hive_types = ${HIVE_TYPES}, union_by_name = true)`;
}

/**
 * Merge an import's staged checkpoint files into the user's plays. Rewrites only the year
 * partitions the import touches, each as a new immutable generation. The caller holds the user's
 * write lock. Idempotent: merging the same staged files again adds nothing.
 */
export async function mergeStaged(
  db: Db,
  layout: Layout,
  opts: { userId: string; stagedFiles: string[]; timezone: string },
): Promise<MergeResult> {
  const cols = PLAY_COLUMN_NAMES.map(ident).join(', ');
  if (opts.stagedFiles.length === 0) {
    return { rowsIn: 0, added: 0, duplicates: 0, superseded: 0, enriched: 0, years: [], affectedDays: [] };
  }
  // A view over the staged files, not a table: the merge reads them twice (once whole for its
  // keys, once whole for the rows it keeps) and a few columns for the rest, which costs less than
  // copying every row into memory first. row_id names a row: its file's index and row number.
  const staged = `[${opts.stagedFiles.map(literal).join(', ')}]`;
  const stagedRows = `(SELECT *, cast(file_index AS BIGINT) * 4294967296 + file_row_number AS row_id
     FROM read_parquet(${staged}, union_by_name = true, file_row_number = true))`;
  // Checkpoints written by this version have every play column. One staged by an older version
  // (an import resumed across an upgrade) may lack a newer one: only then are the missing columns
  // filled with NULLs (withPlayColumns), which costs the write a sixth of its CPU.
  const stagedColumns = new Set((await db.all<{ column_name: string }>(`DESCRIBE SELECT * FROM ${stagedRows}`)).map((c) => c.column_name));
  const complete = PLAY_COLUMN_NAMES.every((c) => stagedColumns.has(c)) && stagedColumns.has('reject_reason');
  await db.run(
    `CREATE OR REPLACE TEMP VIEW incoming_plays AS
     SELECT ${cols}, row_id
     FROM ${complete ? stagedRows : withPlayColumns(stagedRows, [['reject_reason', 'VARCHAR'], ['row_id', 'BIGINT']])}
     WHERE reject_reason IS NULL`,
  );
  // The years of the incoming rows, and the next or previous year for rows within an hour of New
  // Year: the matching rule pairs rows up to minutes apart, which may lie in two partitions.
  const incomingYears = await db.all<{ y: number; near: boolean }>(
    // (year() is monotonic: a year's earliest and latest rows tell whether any lies that close.)
    `WITH per_year AS (
       SELECT ${utcYear('ended_at')} AS y, min(ended_at) AS lo, max(ended_at) AS hi FROM incoming_plays GROUP BY y
     )
     SELECT y, bool_and(near) AS near FROM (
       SELECT y, false AS near FROM per_year
       UNION ALL SELECT year(lo - INTERVAL 1 HOUR), true FROM per_year
       UNION ALL SELECT year(hi + INTERVAL 1 HOUR), true FROM per_year
     ) GROUP BY y ORDER BY y`,
  );
  const years: number[] = [];
  const existingFiles: string[] = [];
  for (const { y, near } of incomingYears) {
    const f = await liveFile(layout.playsPartition(opts.userId, y));
    if (f) existingFiles.push(f);
    if (f || !near) years.push(y);
  }
  if (existingFiles.length > 0) {
    await db.run(
      `CREATE OR REPLACE TEMP TABLE existing_plays AS SELECT ${cols} FROM ${withPlayColumns('read_parquet($1, union_by_name = true)')}`,
      [stringList(existingFiles)],
    );
  } else {
    await db.run(`CREATE OR REPLACE TEMP TABLE existing_plays AS SELECT ${cols} FROM incoming_plays LIMIT 0`);
  }
  // API matching (rules 4 and 5) only when an API row, or a row that gained one, takes part: an
  // export-only merge then runs the same plan as before API plays existed (the hot path of imports).
  // Likewise Account data against Extended history (rule 3) only when an Account row takes part.
  const involved = await db.one<{ api: boolean; account: boolean }>(
    `SELECT EXISTS (FROM incoming_plays WHERE source = 'api')
         OR EXISTS (FROM existing_plays WHERE source = 'api' OR api_played_at IS NOT NULL) AS api,
            EXISTS (FROM incoming_plays WHERE source = 'account_export')
         OR EXISTS (FROM existing_plays WHERE source = 'account_export') AS account`,
  );
  await db.run(`SET VARIABLE rewind_match_api = $1::BOOLEAN`, [involved?.api ?? true]);
  await db.run(`SET VARIABLE rewind_match_account = $1::BOOLEAN`, [involved?.account ?? true]);
  // Rules 1 and 2, on the incoming rows alone: a narrow table (row_id, occurrence).
  await db.run(
    `CREATE OR REPLACE TEMP TABLE int_incoming_occurrences AS ${modelSql('intermediate', 'int_incoming_occurrences')}`,
  );
  const rowsIn = (await db.one<{ n: number }>(`SELECT count(*) AS n FROM incoming_plays`))?.n ?? 0;
  // Every touched year in one pass; each becomes the next generation of its partition. A merge
  // with stored rows writes each year in time order; a first import writes the rows in about the
  // order of the export (blocks of rows in the order of the files and their rows: for Spotify's
  // files, nearly time order), which spares a sort of every row (a quarter of the merge).
  const write = (selectSql: string, order: 'time' | 'export') =>
    writePartitionedGenerations(
      db,
      layout.userPlays(opts.userId),
      'year',
      years,
      `SELECT ${cols}, ${utcYear('ended_at')} AS year FROM (${selectSql})${order === 'time' ? ' ORDER BY ended_at, occurrence' : ''}`,
    );
  // The local dates (in the user's zone) of the rows of `selectSql`.
  const daysOf = async (selectSql: string) => {
    const rows = await db.all<{ d: string }>(
      `SELECT strftime(d, '%Y-%m-%d') AS d FROM (SELECT DISTINCT cast(${localTime('started_at', '$1')} AS DATE) AS d FROM (${selectSql})) ORDER BY d`,
      [opts.timezone],
    );
    return rows.map((r) => r.d);
  };
  let added: number;
  let superseded = 0;
  let enriched = 0;
  let affectedDays: string[];
  if (existingFiles.length === 0 && involved?.api === false && involved.account === false) {
    // Nothing stored in these years, nothing to pair (the first import of a history): every
    // incoming stream is added, as int_plays_merged would say. Its rows go from the staged files
    // to the warehouse in one pass, without a table of whole rows in between.
    added = (await db.one<{ n: number }>(`SELECT count(*) AS n FROM int_incoming_occurrences`))?.n ?? 0;
    if (added > 0) {
      // The model names every stream with its occurrence; nearly every row is a stream alone with
      // its identity (occurrence 1). Only the exceptions are joined to the rows: the rows left out
      // (rule 1) and the occurrences other than 1 (rule 2), two small tables, not the whole model.
      await db.run(
        `CREATE OR REPLACE TEMP TABLE incoming_left_out AS
           SELECT row_id FROM incoming_plays ANTI JOIN int_incoming_occurrences USING (row_id);
         CREATE OR REPLACE TEMP TABLE incoming_occurrences_not_1 AS
           SELECT row_id, occurrence FROM int_incoming_occurrences WHERE occurrence <> 1`,
      );
      await write(
        `SELECT i.* EXCLUDE (row_id) REPLACE (coalesce(o.occurrence, 1) AS occurrence)
         FROM incoming_plays AS i
         ANTI JOIN incoming_left_out AS l ON l.row_id = i.row_id
         LEFT JOIN incoming_occurrences_not_1 AS o ON o.row_id = i.row_id`,
        'export',
      );
    }
    // A row left out is identical to one added, on the same day.
    affectedDays = await daysOf('FROM incoming_plays');
  } else {
    await createModelView(db, 'intermediate', 'int_plays_merged');
    await db.run(`CREATE OR REPLACE TEMP TABLE merged_plays AS SELECT * FROM int_plays_merged`);
    const counts = await db.one<{ added: number; superseded: number; enriched: number }>(
      `SELECT count(*) FILTER (WHERE status = 'added') AS added,
              count(*) FILTER (WHERE status = 'superseded') AS superseded,
              count(*) FILTER (WHERE status = 'enriched') AS enriched
       FROM merged_plays`,
    );
    added = counts?.added ?? 0;
    superseded = counts?.superseded ?? 0;
    enriched = counts?.enriched ?? 0;
    // The stored rows are in merged_plays now: their memory goes to the sorted write (which spills
    // to disk when short of it).
    await db.run(`DROP TABLE IF EXISTS existing_plays`);
    if (added > 0 || superseded > 0 || enriched > 0) {
      await write(`FROM merged_plays WHERE status IN ('kept', 'added', 'enriched')`, 'time');
    }
    affectedDays = await daysOf(`FROM merged_plays WHERE status IN ('added', 'superseded', 'enriched')`);
  }
  await db.run(
    `DROP VIEW IF EXISTS int_plays_merged; DROP TABLE IF EXISTS merged_plays; DROP TABLE IF EXISTS int_incoming_occurrences;
     DROP TABLE IF EXISTS incoming_left_out; DROP TABLE IF EXISTS incoming_occurrences_not_1;
     DROP TABLE IF EXISTS existing_plays; DROP VIEW IF EXISTS incoming_plays`,
  );
  await db.run(`RESET VARIABLE rewind_match_api; RESET VARIABLE rewind_match_account`);
  return { rowsIn, added, duplicates: rowsIn - added, superseded, enriched, years, affectedDays };
}
