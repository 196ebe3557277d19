/**
 * Reading a ZIP archive defensively with yauzl.
 *
 * - The central directory is read once and every entry is checked before any data is read: name
 *   (no `..` segment, no absolute path or drive letter, backslashes counted as separators), no
 *   symbolic links or other special files, no encryption, declared size within
 *   `limits.maxEntryBytes`, compression ratio within `limits.maxRatio` for entries over 1 MiB, total
 *   declared size within `limits.maxTotalBytes`, at most `limits.maxEntries` entries, no duplicate
 *   names. One bad entry rejects the whole archive: it was not made by Spotify.
 * - Entry data is read raw from yauzl and inflated here, through a {@link Meter} that fails the
 *   stream as soon as more bytes come out than the central directory declared, and checks length
 *   and CRC-32 at the end. yauzl itself checks neither the CRC nor (in raw mode) the inflated size.
 * - Every yauzl or zlib failure becomes an `ExportInputError` ("truncated or corrupt archive (...)").
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import type { ArchiveLimits } from '../../config.ts';
import { ExportInputError } from './errors.ts';
import { Meter } from './streams.ts';

export const CORRUPT = 'truncated or corrupt archive';
const MIB = 1024 * 1024;
/** Size of the block a small read of the archive reads ahead (see HandleReader). */
const READ_AHEAD = 64 * 1024;

/** One file entry of a checked archive. */
export interface ZipItem {
  /** Name with forward slashes, as decoded from the archive. */
  name: string;
  entry: yauzl.Entry;
  /** Declared uncompressed size. */
  size: number;
}

/** Maps an error of yauzl, zlib or the file system while reading `input` to an ExportInputError. */
export function zipError(err: unknown, input: string, entry: string | undefined): ExportInputError {
  if (err instanceof ExportInputError) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.syscall === 'string' && typeof e.code === 'string') {
    return new ExportInputError(input, entry, `cannot read (${e.code})`, { cause: err });
  }
  const detail = e?.message ? String(e.message) : String(err);
  if (/strong encryption/i.test(detail)) return new ExportInputError(input, entry, 'encrypted entry', { cause: err });
  return new ExportInputError(input, entry, `${CORRUPT} (${detail})`, { cause: err });
}

/**
 * yauzl reader over one FileHandle of ours: every read of the archive (central directory, local
 * headers, entry data) goes through this one handle, with reads of `chunkSize` for entry data
 * (yauzl's own file reader reads 16 KiB at a time, which makes extraction 2-3 times slower).
 */
class HandleReader extends yauzl.RandomAccessReader {
  chunkSize = 64 * 1024;
  /**
   * The last block read for small reads. yauzl reads the central directory one record at a time
   * (two reads per entry) and each entry's local header apart: served from one block read ahead,
   * opening an export of 70 entries takes two reads instead of 140 round trips to the thread pool
   * (which cost more than extracting a small entry).
   */
  private block: { start: number; data: Buffer } | undefined;
  constructor(private readonly fh: FileHandle) {
    super();
  }
  override _readStreamForRange(start: number, end: number): Readable {
    return new RangeStream(this.fh, start, end, this.chunkSize);
  }
  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null, bytesRead?: number) => void,
  ): void {
    if (this.fromBlock(buffer, offset, length, position)) {
      process.nextTick(callback, null, length);
      return;
    }
    if (length >= READ_AHEAD) {
      this.fh.read(buffer, offset, length, position).then(
        ({ bytesRead }) => callback(null, bytesRead),
        (err: Error) => callback(err),
      );
      return;
    }
    const data = Buffer.allocUnsafe(READ_AHEAD);
    this.fh.read(data, 0, READ_AHEAD, position).then(
      ({ bytesRead }) => {
        this.block = { start: position, data: data.subarray(0, bytesRead) };
        if (this.fromBlock(buffer, offset, length, position)) callback(null, length);
        else {
          // Near the end of the file: fewer bytes than asked for, as a plain read would give.
          const n = Math.max(0, Math.min(length, bytesRead));
          data.copy(buffer, offset, 0, n);
          callback(null, n);
        }
      },
      (err: Error) => callback(err),
    );
  }
  /** Copies [position, position + length) from the block read ahead, when it holds them all. */
  private fromBlock(buffer: Buffer, offset: number, length: number, position: number): boolean {
    const b = this.block;
    if (!b || position < b.start || position + length > b.start + b.data.length) return false;
    b.data.copy(buffer, offset, position - b.start, position - b.start + length);
    return true;
  }
  override close(callback: (err: Error | null) => void): void {
    setImmediate(() => callback(null)); // the handle is closed by ZipArchive.close()
  }
}

/** Bytes [start, end) of a file, read through a FileHandle (whose close() waits for pending reads). */
class RangeStream extends Readable {
  private pos: number;
  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly end: number,
    private readonly chunkSize: number,
  ) {
    super({ highWaterMark: chunkSize });
    this.pos = start;
  }
  override _read(): void {
    const n = Math.min(this.chunkSize, this.end - this.pos);
    if (n <= 0) {
      this.push(null);
      return;
    }
    const buf = Buffer.allocUnsafe(n);
    this.fh.read(buf, 0, n, this.pos).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) {
          this.destroy(new Error('unexpected end of file'));
          return;
        }
        this.pos += bytesRead;
        this.push(bytesRead === n ? buf : buf.subarray(0, bytesRead));
      },
      (err: Error) => this.destroy(err),
    );
  }
}

/** An open ZIP archive. `close()` it when done. */
export class ZipArchive {
  private constructor(
    readonly zip: yauzl.ZipFile,
    private readonly reader: HandleReader,
    private readonly fh: FileHandle,
    /** The archive's path, for errors. */
    readonly input: string,
    /** Identity of the archive file. */
    readonly stat: { dev: number; ino: number },
  ) {}

  /** Opens `file` and reads its end-of-central-directory record. */
  static async open(file: string): Promise<ZipArchive> {
    let fh: FileHandle;
    try {
      fh = await fs.open(file, 'r');
    } catch (err) {
      throw zipError(err, file, undefined);
    }
    try {
      const st = await fh.stat();
      const reader = new HandleReader(fh);
      const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
        yauzl.fromRandomAccessReader(
          reader,
          st.size,
          { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
          (err, zipfile) => (err || !zipfile ? reject(err ?? new Error('cannot open')) : resolve(zipfile)),
        );
      });
      // yauzl emits 'error' on the ZipFile for late failures too; an EventEmitter error without a
      // listener would crash the process.
      zip.on('error', () => {});
      return new ZipArchive(zip, reader, fh, file, { dev: st.dev, ino: st.ino });
    } catch (err) {
      await fh.close().catch(() => {});
      throw zipError(err, file, undefined);
    }
  }

  async close(): Promise<void> {
    this.zip.close();
    await this.fh.close().catch(() => {});
  }

  /** Reads and checks the whole central directory (see {@link scanZip}). */
  scan(limits: ArchiveLimits): Promise<ZipItem[]> {
    return scanZip(this.zip, this.input, limits);
  }

  /**
   * Opens the decompressed data of one checked entry: the streams to pipe, the last being the
   * meter, which fails past the declared size and, at the end, on a short entry or a CRC mismatch.
   * `chunkSize` is the size of reads and of inflated chunks (small for a peek, large to extract).
   */
  async openEntry(
    item: ZipItem,
    opts: { chunkSize: number; onBytes?: (n: number) => void },
  ): Promise<{ streams: [Readable, ...Transform[]]; meter: Meter }> {
    const { entry, name } = item;
    const input = this.input;
    const method = entry.compressionMethod;
    if (method !== 0 && method !== 8) {
      throw new ExportInputError(input, name, `unsupported compression method ${method} (only stored and deflate are supported)`);
    }
    let raw: Readable;
    this.reader.chunkSize = opts.chunkSize;
    try {
      raw = await this.zip.openReadStreamPromise(entry, { decodeFileData: false });
    } catch (err) {
      throw zipError(err, input, name);
    }
    raw.on('error', () => {}); // also handled by the pipeline; guards against late emits after it settled
    const meter = new Meter({
      limit: item.size,
      overLimit: () => new ExportInputError(input, name, `${CORRUPT} (entry inflates past its declared size of ${item.size} bytes)`),
      expectedSize: item.size,
      expectedCrc: entry.crc32,
      mismatch: (what) =>
        new ExportInputError(
          input,
          name,
          what === 'crc' ? `${CORRUPT} (CRC mismatch)` : `${CORRUPT} (entry is shorter than its declared size of ${item.size} bytes)`,
        ),
      ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
    });
    const streams: [Readable, ...Transform[]] =
      method === 8 ? [raw, zlib.createInflateRaw({ chunkSize: opts.chunkSize }), meter] : [raw, meter];
    return { streams, meter };
  }
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.removeListener('entry', onEntry);
      zip.removeListener('end', onEnd);
      zip.removeListener('error', onError);
    };
    const onEntry = (entry: yauzl.Entry): void => {
      cleanup();
      resolve(entry);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(undefined);
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(err);
    };
    zip.on('entry', onEntry);
    zip.once('end', onEnd);
    zip.once('error', onError);
    try {
      zip.readEntry();
    } catch (err) {
      cleanup();
      reject(err);
    }
  });
}

/**
 * What is wrong with an entry or file name (forward slashes), if anything. Names are never used to
 * create files, but an archive carrying such names was crafted to attack naive extractors.
 */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty entry name';
  if (name.includes('\0')) return 'entry name contains a NUL character';
  if (name.startsWith('/')) return 'absolute path';
  if (/^[a-zA-Z]:/.test(name)) return 'absolute path (drive letter)';
  if (name.split('/').includes('..')) return 'path traversal (".." in the name)';
  return undefined;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * Reads and checks the whole central directory. Returns the file entries (directories left out);
 * throws an ExportInputError naming the first offending entry.
 */
export async function scanZip(zip: yauzl.ZipFile, input: string, limits: ArchiveLimits): Promise<ZipItem[]> {
  if (zip.entryCount > limits.maxEntries) {
    throw new ExportInputError(input, undefined, `too many entries: ${zip.entryCount}, the limit is ${limits.maxEntries}`);
  }
  const items: ZipItem[] = [];
  const seen = new Set<string>();
  let total = 0;
  let count = 0;
  for (;;) {
    let entry: yauzl.Entry | undefined;
    try {
      entry = await nextEntry(zip);
    } catch (err) {
      throw zipError(err, input, undefined);
    }
    if (!entry) break;
    count += 1;
    if (count > limits.maxEntries) {
      throw new ExportInputError(input, undefined, `too many entries: more than ${limits.maxEntries}`);
    }
    // decodeStrings: false leaves names undecoded and unchecked by yauzl; decode them keeping
    // backslashes (strict), then treat backslashes as separators ourselves.
    const raw = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
    const name = raw.replace(/\\/g, '/');
    const fail = (reason: string): ExportInputError => new ExportInputError(input, raw, reason);

    const problem = nameProblem(name);
    if (problem) throw fail(problem);
    if (entry.generalPurposeBitFlag & 0x1) throw fail('encrypted entry (password-protected archives are not supported)');
    const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
    if (type === S_IFLNK) throw fail('symbolic link entry');
    const isDir = name.endsWith('/') || type === S_IFDIR;
    if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) throw fail('special file entry (not a regular file)');
    if (isDir) continue;

    const size = entry.uncompressedSize;
    if (size > limits.maxEntryBytes) {
      throw fail(`entry too large: ${size} bytes uncompressed, the limit is ${limits.maxEntryBytes}`);
    }
    if (size > MIB) {
      const ratio = entry.compressedSize > 0 ? size / entry.compressedSize : Infinity;
      if (ratio > limits.maxRatio) {
        throw fail(
          `compression ratio ${Number.isFinite(ratio) ? Math.round(ratio) : 'infinite'}:1 exceeds the limit of ${limits.maxRatio}:1 (zip bomb?)`,
        );
      }
    }
    total += size;
    if (total > limits.maxTotalBytes) {
      throw fail(`archive too large: its entries add up to more than ${limits.maxTotalBytes} bytes uncompressed`);
    }
    if (seen.has(name)) throw fail('duplicate entry name');
    seen.add(name);
    items.push({ name, entry, size });
  }
  return items;
}
