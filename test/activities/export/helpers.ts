/**
 * Helpers for the export-reading tests: temp folders, ZIPs built with yazl from real files, ZIPs
 * written byte by byte (for what yazl refuses to write: traversal names, lying sizes, links,
 * encryption flags), snapshots of a folder tree, and assertions on ExportInputError.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import yazl from 'yazl';
import type { ArchiveLimits } from '../../../config.ts';
import { ExportInputError } from '../../../activities/export/archive.ts';

import { REAL_DATA } from '../../helpers/real-data.ts';
export const REAL = REAL_DATA;
export const REAL_EXTENDED = path.join(REAL, 'extended');
export const REAL_ACCOUNT = path.join(REAL, 'account');

/** The defaults of config.ts. */
export const LIMITS: ArchiveLimits = {
  maxEntryBytes: 1024 * 1024 * 1024,
  maxTotalBytes: 16 * 1024 * 1024 * 1024,
  maxRatio: 200,
  maxEntries: 10_000,
};

export function limits(over: Partial<ArchiveLimits>): ArchiveLimits {
  return { ...LIMITS, ...over };
}

/** A fresh temp folder; remove it with `fs.rm(dir, { recursive: true, force: true })`. */
export function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'rewind-export-test-'));
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ZipSource {
  /** Name inside the archive. */
  name: string;
  /** A real file to add, or */
  path?: string;
  /** the content. */
  content?: string | Buffer;
  /** Deflate (default) or store. */
  compress?: boolean;
  /** An empty folder entry (name ends with '/'). */
  dir?: boolean;
}

const MTIME = new Date(Date.UTC(2024, 0, 1));

/** Writes a ZIP with yazl; fixed timestamps, so the same sources give the same bytes. */
export async function writeZip(file: string, sources: ZipSource[]): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const s of sources) {
    if (s.dir) zip.addEmptyDirectory(s.name, { mtime: MTIME });
    else if (s.path) zip.addFile(s.path, s.name, { mtime: MTIME, compress: s.compress ?? true });
    else zip.addBuffer(Buffer.isBuffer(s.content) ? s.content : Buffer.from(s.content ?? ''), s.name, { mtime: MTIME, compress: s.compress ?? true });
  }
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.on('error', reject);
    zip.outputStream.pipe(createWriteStream(file)).on('close', resolve).on('error', reject);
  });
}

/** One entry of a hand-made ZIP. Every header field that tests lie about can be overridden. */
export interface RawEntry {
  name: string | Buffer;
  /** Uncompressed content. */
  data: Buffer;
  /** 0 (stored, default) or 8 (deflate, computed from `data`), or any number with `compressed`. */
  method?: number;
  /** Compressed bytes as stored (default: computed from data and method). */
  compressed?: Buffer;
  /** Declared CRC-32 (default: the real one). */
  crc?: number;
  /** Declared uncompressed size (default: the real one). */
  size?: number;
  /** General purpose flags (bit 0: encrypted). */
  flags?: number;
  /** External attributes (Unix mode in the upper 16 bits). */
  externalAttrs?: number;
}

/** A ZIP written by hand: local headers, central directory, end record. No zip64, no descriptors. */
export function craftZip(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name, 'utf8');
    const method = e.method ?? 0;
    const compressed = e.compressed ?? (method === 8 ? zlib.deflateRawSync(e.data) : e.data);
    const crc = e.crc ?? zlib.crc32(e.data);
    const size = e.size ?? e.data.length;
    const flags = (e.flags ?? 0) | 0x800; // names are UTF-8
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    parts.push(local, name, compressed);

    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(flags, 8);
    cd.writeUInt16LE(method, 10);
    cd.writeUInt16LE(0, 12);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc >>> 0, 16);
    cd.writeUInt32LE(compressed.length, 20);
    cd.writeUInt32LE(size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(0, 30);
    cd.writeUInt16LE(0, 32);
    cd.writeUInt16LE(0, 34);
    cd.writeUInt16LE(0, 36);
    cd.writeUInt32LE((e.externalAttrs ?? (0o100644 << 16)) >>> 0, 38);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += local.length + name.length + compressed.length;
  }
  const cdBuf = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, eocd]);
}

/** Where things are in a ZIP: central directory records by name (for patching bytes in tests). */
export function centralRecords(zip: Buffer): Array<{ name: string; at: number; localAt: number; compressedSize: number; dataAt: number }> {
  const eocdAt = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(eocdAt + 10);
  let at = zip.readUInt32LE(eocdAt + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const name = zip.subarray(at + 46, at + 46 + nameLen).toString('utf8');
    const localAt = zip.readUInt32LE(at + 42);
    const dataAt = localAt + 30 + zip.readUInt16LE(localAt + 26) + zip.readUInt16LE(localAt + 28);
    out.push({ name, at, localAt, compressedSize: zip.readUInt32LE(at + 20), dataAt });
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Every path below `dir` with its size (folders end with '/'), sorted: to prove nothing else was written. */
export async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, rel: string): Promise<void> {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        await walk(path.join(d, e.name), r);
      } else {
        const st = await fs.lstat(path.join(d, e.name));
        out.push(`${r} ${st.size}`);
      }
    }
  }
  await walk(dir, '');
  return out.sort();
}

/**
 * Awaits `promise`, which must reject with an ExportInputError whose `entry` is `entry` (undefined:
 * about no entry) and whose reason includes `reason`; its message must name both.
 */
export async function rejectsInput(
  promise: Promise<unknown>,
  expected: { entry: string | undefined; reason: string | RegExp; input?: string },
): Promise<ExportInputError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, 'expected a rejection');
  assert.ok(caught instanceof ExportInputError, `expected an ExportInputError, got ${String(caught)}`);
  const err = caught;
  assert.equal(err.entry, expected.entry, `entry of: ${err.message}`);
  if (typeof expected.reason === 'string') assert.ok(err.reason.includes(expected.reason), `reason "${expected.reason}" in: ${err.message}`);
  else assert.match(err.reason, expected.reason, `reason in: ${err.message}`);
  if (expected.input !== undefined) assert.equal(err.input, expected.input);
  if (expected.entry !== undefined) assert.ok(err.message.includes(`: ${expected.entry}: `), `message names the entry: ${err.message}`);
  assert.ok(err.message.endsWith(err.reason), `message ends with the reason: ${err.message}`);
  return err;
}

/** Real files of one kind, as paths relative to `root` (owner/file), sorted. */
export async function realFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const owner of await fs.readdir(root)) {
    for (const f of await fs.readdir(path.join(root, owner))) out.push(`${owner}/${f}`);
  }
  return out.sort();
}
