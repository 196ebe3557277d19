/**
 * The byte meter every read of an export goes through: counts bytes, stops the stream the moment
 * more than the allowed number pass (so a lying ZIP header can never make us write more than it
 * declared), and at the end checks the expected length and CRC-32.
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;
/** Table-driven CRC-32 (IEEE), for Node versions before 20.15 that lack `zlib.crc32`. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  const t = table;
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = (t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)) >>> 0;
  return (crc ^ 0xffffffff) >>> 0;
}

const nativeCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32;
/** CRC-32 as used by ZIP, continuing from `value`. */
export const crc32: Crc32 = typeof nativeCrc32 === 'function' ? nativeCrc32 : crc32Portable;

export interface MeterOptions {
  /** Most bytes allowed through; one more fails the stream before the offending chunk is passed on. */
  limit: number;
  /** Error to fail with when `limit` is exceeded. */
  overLimit: () => Error;
  /** If set, the stream must end with exactly this many bytes. */
  expectedSize?: number;
  /** If set, the CRC-32 of all bytes must be this. */
  expectedCrc?: number;
  /** Error to fail with when the length or CRC at the end is wrong. */
  mismatch?: (what: 'short' | 'crc') => Error;
  /** Called with the size of each chunk passed on. */
  onBytes?: (n: number) => void;
}

export class Meter extends Transform {
  /** Bytes passed on so far. */
  bytes = 0;
  /** Error thrown by `onBytes`, if any (it is the caller's, not the input's). */
  callbackError: unknown;
  private crc = 0;
  private readonly opts: MeterOptions;

  constructor(opts: MeterOptions) {
    super();
    this.opts = opts;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const next = this.bytes + chunk.length;
    if (next > this.opts.limit) {
      callback(this.opts.overLimit());
      return;
    }
    this.bytes = next;
    if (this.opts.expectedCrc !== undefined) this.crc = crc32(chunk, this.crc);
    if (this.opts.onBytes) {
      try {
        this.opts.onBytes(chunk.length);
      } catch (e) {
        this.callbackError = e;
        callback(e as Error);
        return;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { expectedSize, expectedCrc, mismatch } = this.opts;
    if (mismatch && expectedSize !== undefined && this.bytes !== expectedSize) {
      callback(mismatch('short'));
      return;
    }
    if (mismatch && expectedCrc !== undefined && this.crc >>> 0 !== expectedCrc >>> 0) {
      callback(mismatch('crc'));
      return;
    }
    callback();
  }
}
