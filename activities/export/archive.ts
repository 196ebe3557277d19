/**
 * Reading a Spotify privacy export safely.
 *
 * An export is given as `paths`: one ZIP exactly as Spotify sends it (recognised by its content or
 * a `.zip` name), one folder (say, the unzipped export), or one or more loose `.json` files.
 * Anything else, or a mix of those, is an {@link ExportInputError}.
 *
 * - {@link inspectExport} lists the streaming-history files (Extended Streaming History and the
 *   four Account-data layouts, found at any folder depth, by name and by content shape) and the files
 *   it ignores. It reads the archive's central directory and a bounded peek of each `.json` file (at
 *   most 256 KiB decompressed); it never decompresses a whole entry and never writes anything.
 * - {@link extractEntry} streams ONE entry's decompressed bytes to a file, checking length and CRC.
 * - {@link hashExport} identifies an export, so importing the same one twice can be recognised
 *   (the CLI and the API hash it once, before the workflow starts: the workflow ID holds it).
 *
 * Hostile input (zip slip, links, encryption, zip bombs, lying headers, truncated or corrupt
 * archives, links out of a folder) is refused with an ExportInputError naming the entry and the
 * reason; see `zip.ts` and `folder.ts`. Errors of yauzl, zlib and the file system always reject the
 * returned promise; nothing is written except the `dest` given to extractEntry (removed again if
 * the extraction fails).
 */
import { createHash } from 'node:crypto';
import { promises as fs, createReadStream, createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { pipeline as pipelineCb, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArchiveLimits } from '../../config.ts';
import { type HistoryFormat, LOOKED_FOR, PEEK_BYTES, formatFromName, isJsonName, isJunk, judge, peekJson, type PeekResult } from './classify.ts';
import { ExportInputError } from './errors.ts';
import { type Input, type LooseFile, fsError, openInFolder, openLoose, resolveInput, walkFolder } from './folder.ts';
import { Meter } from './streams.ts';
import { type ZipItem, ZipArchive, zipError } from './zip.ts';

export type { HistoryFormat } from './classify.ts';
export { ExportInputError } from './errors.ts';

/** One streaming-history file of an export. */
export interface HistoryEntry {
  /** Path inside the archive (forward slashes), path relative to the folder, or a loose file's base name. */
  name: string;
  /** Uncompressed size in bytes (as declared by the archive, or the file's size). */
  size: number;
  format: HistoryFormat;
}

export interface ExportInventory {
  kind: 'zip' | 'dir' | 'files';
  /** The input paths, made absolute, in the order given. */
  paths: string[];
  /** Streaming-history files, sorted by name. */
  history: HistoryEntry[];
  /** Every other file (including symbolic links in a folder, which are never read), sorted by name. */
  ignored: string[];
  /** Sum of the `size` of the history files: the bytes an import will read (for progress). */
  totalBytes: number;
}

const HASH_CHUNK = 1024 * 1024;
/** Read and inflate chunk sizes: small for a peek (it stops early), large to extract. */
const PEEK_CHUNK = 32 * 1024;
const EXTRACT_CHUNK = 256 * 1024;

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A label for the input as a whole, in errors that concern no single file. */
function inputLabel(input: Input): string {
  if (input.kind === 'zip') return input.file;
  if (input.kind === 'dir') return input.root;
  const [first] = input.paths;
  return input.paths.length === 1 ? (first ?? '') : `${first} (and ${input.paths.length - 1} more files)`;
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** sha256 over the sorted (name, sha256 of content) pairs, one `name NUL hex LF` line each. */
function hashPairs(pairs: Array<[string, string]>): string {
  const hash = createHash('sha256');
  for (const [name, hex] of pairs.sort((a, b) => byName(a[0], b[0]))) hash.update(`${name}\0${hex}\n`, 'utf8');
  return hash.digest('hex');
}

async function hashHandle(fh: FileHandle): Promise<string> {
  const rs = fh.createReadStream({ highWaterMark: HASH_CHUNK });
  try {
    return await sha256Of(rs);
  } finally {
    rs.destroy();
  }
}

async function hashInput(input: Input): Promise<string> {
  if (input.kind === 'zip') {
    try {
      return await sha256Of(createReadStream(input.file, { highWaterMark: HASH_CHUNK }));
    } catch (err) {
      throw fsError(err, input.file, undefined);
    }
  }
  const pairs: Array<[string, string]> = [];
  if (input.kind === 'dir') {
    const { files } = await walkFolder(input.root, input.rootReal);
    for (const f of files) {
      if (isJunk(f.name)) continue;
      const { fh } = await openInFolder(input.root, input.rootReal, f.name);
      try {
        pairs.push([f.name.normalize('NFC'), await hashHandle(fh)]);
      } catch (err) {
        throw fsError(err, input.root, f.name);
      }
    }
  } else {
    for (const f of input.files) {
      if (isJunk(f.name)) continue;
      const { fh } = await openLoose(f);
      try {
        pairs.push([f.name.normalize('NFC'), await hashHandle(fh)]);
      } catch (err) {
        throw fsError(err, f.file, f.name);
      }
    }
  }
  return hashPairs(pairs);
}

/**
 * Identifies an export. A ZIP: the sha256 of the file's bytes. A folder or loose files: the sha256
 * over the sorted (name, sha256 of content) pairs of its regular files (names relative to the
 * folder, or base names; symbolic links and OS junk such as `.DS_Store` left out), so the same
 * export gives the same hash wherever it lies and whatever the order of the paths. A flat folder
 * and the same files given loose hash alike.
 */
export async function hashExport(paths: string[]): Promise<string> {
  return hashInput(await resolveInput(paths));
}

/** Peeks at a ZIP entry, mapping every yauzl/zlib failure to an ExportInputError. */
async function peekZipItem(zip: ZipArchive, item: ZipItem): Promise<PeekResult> {
  const input = zip.input;
  const { streams, meter } = await zip.openEntry(item, { chunkSize: PEEK_CHUNK });
  pipelineCb(streams, () => {}); // failures reach `meter`, whose iteration rethrows them
  try {
    return await peekJson(meter);
  } catch (err) {
    throw zipError(err, input, item.name);
  } finally {
    meter.destroy();
  }
}

async function peekHandle(fh: FileHandle, input: string, name: string): Promise<PeekResult> {
  const rs = fh.createReadStream({ start: 0, end: PEEK_BYTES - 1, highWaterMark: PEEK_CHUNK });
  try {
    return await peekJson(rs);
  } catch (err) {
    throw fsError(err, input, name);
  } finally {
    rs.destroy();
  }
}

class Collector {
  readonly history: HistoryEntry[] = [];
  readonly ignored: string[] = [];
  total = 0;

  constructor(private readonly limits: ArchiveLimits) {}

  /** Judges one `.json` file; `input` and `name` are for errors. */
  add(input: string, name: string, size: number, peek: PeekResult): void {
    const verdict = judge(name, peek);
    if ('error' in verdict) throw new ExportInputError(input, name, verdict.error);
    if ('ignore' in verdict) {
      this.ignored.push(name);
      return;
    }
    if (size > this.limits.maxEntryBytes) {
      throw new ExportInputError(input, name, `file too large: ${size} bytes, the limit is ${this.limits.maxEntryBytes}`);
    }
    this.total += size;
    if (this.total > this.limits.maxTotalBytes) {
      throw new ExportInputError(input, name, `export too large: its history files add up to more than ${this.limits.maxTotalBytes} bytes`);
    }
    this.history.push({ name, size, format: verdict.format });
  }
}

/** Whether a file must be peeked at (a `.json` that is not OS junk). */
function wantsPeek(name: string): boolean {
  return !isJunk(name) && (isJsonName(name) || formatFromName(name) !== undefined);
}

/**
 * Lists the streaming history of an export and what was ignored, checking the input against
 * `limits` and for hostile content on the way. Throws an {@link ExportInputError} for unusable
 * input, including an export without any streaming-history file.
 */
export async function inspectExport(paths: string[], limits: ArchiveLimits): Promise<ExportInventory> {
  const input = await resolveInput(paths);
  const c = new Collector(limits);

  if (input.kind === 'zip') {
    const zip = await ZipArchive.open(input.file);
    try {
      const items = await zip.scan(limits);
      for (const item of items) {
        if (!wantsPeek(item.name)) c.ignored.push(item.name);
        else c.add(input.file, item.name, item.size, await peekZipItem(zip, item));
      }
    } finally {
      await zip.close();
    }
  } else if (input.kind === 'dir') {
    const { files, skipped } = await walkFolder(input.root, input.rootReal, limits.maxEntries);
    c.ignored.push(...skipped);
    for (const f of files) {
      if (!wantsPeek(f.name)) {
        c.ignored.push(f.name);
        continue;
      }
      const { fh, size } = await openInFolder(input.root, input.rootReal, f.name);
      c.add(input.root, f.name, size, await peekHandle(fh, input.root, f.name));
    }
  } else {
    for (const f of input.files) {
      if (!wantsPeek(f.name)) {
        c.ignored.push(f.name);
        continue;
      }
      const { fh, size } = await openLoose(f);
      c.add(f.file, f.name, size, await peekHandle(fh, f.file, f.name));
    }
  }

  if (c.history.length === 0) {
    throw new ExportInputError(inputLabel(input), undefined, `no streaming history found (looked for ${LOOKED_FOR})`);
  }
  return {
    kind: input.kind,
    paths: input.paths,
    history: c.history.sort((a, b) => byName(a.name, b.name)),
    ignored: c.ignored.sort(byName),
    totalBytes: c.total,
  };
}

/** Refuses a `dest` that is the input file itself (writing would destroy what is being read). */
async function refuseSameFile(dest: string, source: { dev: number; ino: number }): Promise<void> {
  const st = await fs.stat(dest).catch(() => undefined);
  if (st && st.dev === source.dev && st.ino === source.ino) {
    throw new Error(`extractEntry: dest ${dest} is the input file itself`);
  }
}

/**
 * Pipes `streams` (source ... meter) into `dest`. Failures of the input are mapped with `mapError`;
 * failures of `dest` or of the progress callback are rethrown as they are. `dest` is removed again
 * if anything fails.
 */
async function writeOut(
  streams: [Readable, ...Transform[]],
  meter: Meter,
  dest: string,
  mapError: (err: unknown) => Error,
): Promise<number> {
  const out = createWriteStream(dest);
  // The pipeline destroys every stream with the first error, so each stream ends up emitting it:
  // the stream that emitted first is where it came from. (Listeners added before the pipeline's.)
  let first: { fromDest: boolean; err: unknown } | undefined;
  for (const s of streams) s.on('error', (err) => (first ??= { fromDest: false, err }));
  out.on('error', (err) => (first ??= { fromDest: true, err }));
  try {
    await pipeline([...streams, out]);
  } catch (err) {
    await fs.rm(dest, { force: true }).catch(() => {});
    if (meter.callbackError !== undefined) throw meter.callbackError;
    if (first?.fromDest) throw first.err;
    throw mapError(first?.err ?? err);
  }
  return meter.bytes;
}

/**
 * Streams the decompressed bytes of ONE entry of the export to the file `dest` (created or
 * truncated; its folder must exist) and returns the number of bytes written. `entryName` is a name
 * from {@link ExportInventory.history} (or `ignored`). The archive is checked as by inspectExport;
 * the entry's inflated bytes are counted and the stream aborted past its declared size, and its
 * length and CRC-32 are checked at the end. Files of a folder are read without following links
 * and at most `limits.maxEntryBytes` of them.
 *
 * `onBytes`, if given, is called with the size of each chunk as it passes (a delta, in
 * decompressed bytes; they add up to the return value and to the entry's `size`).
 *
 * On failure `dest` is removed. Input problems reject with an ExportInputError; a failure to write
 * `dest`, or an exception thrown by `onBytes`, rejects with that error.
 */
export async function extractEntry(
  paths: string[],
  entryName: string,
  dest: string,
  limits: ArchiveLimits,
  onBytes?: (n: number) => void,
): Promise<number> {
  const input = await resolveInput(paths);

  if (input.kind === 'zip') {
    const file = input.file;
    const zip = await ZipArchive.open(file);
    try {
      const items = await zip.scan(limits);
      const item = items.find((i) => i.name === entryName);
      if (!item) throw new ExportInputError(file, entryName, 'no such entry in the archive');
      await refuseSameFile(dest, zip.stat);
      const { streams, meter } = await zip.openEntry(item, { chunkSize: EXTRACT_CHUNK, ...(onBytes ? { onBytes } : {}) });
      return await writeOut(streams, meter, dest, (err) => zipError(err, file, item.name));
    } finally {
      await zip.close();
    }
  }

  let opened: { fh: FileHandle; size: number };
  let inputPath: string;
  if (input.kind === 'dir') {
    inputPath = input.root;
    opened = await openInFolder(input.root, input.rootReal, entryName);
  } else {
    const loose: LooseFile | undefined = input.files.find((f) => f.name === entryName);
    if (!loose) throw new ExportInputError(inputLabel(input), entryName, 'no such file among the inputs');
    inputPath = loose.file;
    opened = await openLoose(loose);
  }
  const { fh } = opened;
  try {
    await refuseSameFile(dest, await fh.stat());
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
  const meter = new Meter({
    limit: limits.maxEntryBytes,
    overLimit: () => new ExportInputError(inputPath, entryName, `file too large: more than ${limits.maxEntryBytes} bytes`),
    ...(onBytes ? { onBytes } : {}),
  });
  const rs = fh.createReadStream({ highWaterMark: EXTRACT_CHUNK });
  return writeOut([rs, meter], meter, dest, (err) => fsError(err, inputPath, entryName));
}
