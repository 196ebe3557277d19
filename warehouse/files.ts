/**
 * Immutable Parquet files with generations.
 *
 * A partition folder (for example `plays/user_id=u/year=2023/`) holds one live file,
 * `part-<gen>.parquet`. A change writes the next generation to a hidden temporary name, renames it
 * into place (atomic on one file system) and only then removes the older generations. A crash
 * between the rename and the removal leaves two generations; readers always take the highest one
 * and the next writer removes the rest, so the folder never shows a half-written or doubled state.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Db, type Params, ident, literal } from './duckdb.ts';

const PART = /^part-(\d{8})\.parquet$/;

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

let changes = 0;

/**
 * How many times this process has changed a partition folder (a generation renamed in, a partition
 * emptied). Readers that cache folder listings compare it, so this process's own writes are seen at
 * once; another process's are seen when the reader next checks the folder.
 */
export function partitionChanges(): number {
  return changes;
}

/** Generations present in one partition folder, highest first. */
export async function generations(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .map((n) => PART.exec(n)?.[1])
    .filter((g): g is string => g !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

export function partFile(dir: string, gen: number): string {
  return path.join(dir, `part-${String(gen).padStart(8, '0')}.parquet`);
}

/** The live file of one partition folder, if any. */
export async function liveFile(dir: string): Promise<string | undefined> {
  const [top] = await generations(dir);
  return top === undefined ? undefined : partFile(dir, top);
}

/** Every partition folder below `root` (folders that hold part files), depth-first. */
async function partitionDirs(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (entries.some((e) => e.isFile() && PART.test(e.name))) out.push(dir);
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(path.join(dir, e.name));
  }
  await walk(root);
  return out.sort();
}

/** The live file of every partition below `root`. */
export async function liveFiles(root: string): Promise<string[]> {
  const dirs = await partitionDirs(root);
  const files = await Promise.all(dirs.map((d) => liveFile(d)));
  return files.filter((f): f is string => f !== undefined);
}

/** Remove every generation but the highest, and stray temporaries, in one partition folder. */
export async function tidyPartition(dir: string): Promise<void> {
  const gens = await generations(dir);
  for (const g of gens.slice(1)) await fs.rm(partFile(dir, g), { force: true });
  let names: string[] = [];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith('.tmp-')) await fs.rm(path.join(dir, n), { force: true });
}

/**
 * Write the rows of `selectSql` as the next generation of the partition `dir`.
 * When the query returns no rows the partition is emptied (its files removed) instead.
 * Returns the number of rows written. `rowGroupSize`: rows per Parquet row group (122,880 by default).
 */
export async function writeGeneration(
  db: Db,
  dir: string,
  selectSql: string,
  params?: Params,
  options: { rowGroupSize?: number } = {},
): Promise<number> {
  await fs.mkdir(dir, { recursive: true });
  const gens = await generations(dir);
  const next = (gens[0] ?? 0) + 1;
  const tmp = path.join(dir, `.tmp-${randomUUID()}.parquet`);
  try {
    const rows = await db.one<{ Count: number }>(
      `COPY (${selectSql}) TO ${literal(tmp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${Math.trunc(options.rowGroupSize ?? 122_880)})`,
      params,
    );
    const count = Number(rows?.Count ?? 0);
    if (count === 0) {
      await fs.rm(tmp, { force: true });
      for (const g of gens) await fs.rm(partFile(dir, g), { force: true });
      await fs.rmdir(dir).catch(() => undefined);
      changes++;
      return 0;
    }
    await fs.rename(tmp, partFile(dir, next));
    changes++;
    await tidyPartition(dir);
    return count;
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Write the rows of `selectSql` as the next generation of many partitions in one pass: the query
 * has an integer column named `column`, and the rows with value v become the next generation of
 * `<root>/<column>=<v>/`. Each partition listed in `keys` that gets no row is emptied. Returns the
 * rows written per key.
 */
export async function writePartitionedGenerations(
  db: Db,
  root: string,
  column: string,
  keys: readonly number[],
  selectSql: string,
  params?: Params,
): Promise<Map<number, number>> {
  await fs.mkdir(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${randomUUID()}`);
  const written = new Map<number, number>();
  try {
    await db.run(
      `COPY (${selectSql}) TO ${literal(tmp)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (${ident(column)}), ROW_GROUP_SIZE 122880)`,
      params,
    );
    const produced = new Map<number, string>();
    for (const dir of await fs.readdir(tmp).catch(() => [] as string[])) {
      const m = new RegExp(`^${column}=(-?\\d+)$`).exec(dir);
      const files = m ? (await fs.readdir(path.join(tmp, dir))).filter((f) => f.endsWith('.parquet')) : [];
      if (!m || files.length !== 1) throw new Error(`unexpected partitioned output ${dir}: ${files.join(', ')}`);
      produced.set(Number(m[1]), path.join(tmp, dir, files[0]!));
    }
    for (const key of new Set([...keys, ...produced.keys()])) {
      const dir = path.join(root, `${column}=${key}`);
      const gens = await generations(dir);
      const file = produced.get(key);
      if (file) {
        await fs.mkdir(dir, { recursive: true });
        await fs.rename(file, partFile(dir, (gens[0] ?? 0) + 1));
        changes++;
        await tidyPartition(dir);
        const rows = await db.one<{ n: number }>(`SELECT count(*) AS n FROM read_parquet(${literal(partFile(dir, (gens[0] ?? 0) + 1))})`);
        written.set(key, rows?.n ?? 0);
      } else {
        for (const g of gens) await fs.rm(partFile(dir, g), { force: true });
        await fs.rmdir(dir).catch(() => undefined);
        changes++;
        written.set(key, 0);
      }
    }
    return written;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Write a JSON file atomically (temporary name, then rename). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.tmp-${randomUUID()}.json`);
  await fs.writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await fs.rename(tmp, file);
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export { exists };
