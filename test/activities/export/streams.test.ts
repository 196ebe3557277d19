/** The byte meter that every read of an export goes through, and the portable CRC-32. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Meter, crc32Portable } from '../../../activities/export/streams.ts';

function sink(): { stream: Writable; bytes: () => number } {
  let n = 0;
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        cb();
      },
    }),
    bytes: () => n,
  };
}

const chunks = (n: number, size: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.alloc(size, i));

test('the portable CRC-32 matches zlib, also when continued chunk by chunk', () => {
  const data = Buffer.from('[{"ts":"2024-01-01T00:00:00Z","ms_played":1}] and some more bytes \u00e9\u4e2d');
  assert.equal(crc32Portable(data), zlib.crc32(data));
  assert.equal(crc32Portable(data.subarray(10), crc32Portable(data.subarray(0, 10))), zlib.crc32(data));
  assert.equal(crc32Portable(Buffer.alloc(0)), 0);
});

test('the meter passes everything through when length and CRC match, reporting each chunk', async () => {
  const parts = chunks(4, 1000);
  const all = Buffer.concat(parts);
  const seen: number[] = [];
  const meter = new Meter({
    limit: all.length,
    overLimit: () => new Error('over'),
    expectedSize: all.length,
    expectedCrc: zlib.crc32(all),
    mismatch: (w) => new Error(w),
    onBytes: (n) => seen.push(n),
  });
  const out = sink();
  await pipeline(Readable.from(parts), meter, out.stream);
  assert.equal(out.bytes(), all.length);
  assert.equal(meter.bytes, all.length);
  assert.deepEqual(seen, [1000, 1000, 1000, 1000]);
});

test('the meter fails before passing on the chunk that crosses the limit', async () => {
  const meter = new Meter({ limit: 2500, overLimit: () => new Error('over the limit') });
  const out = sink();
  await assert.rejects(pipeline(Readable.from(chunks(4, 1000)), meter, out.stream), /over the limit/);
  assert.ok(out.bytes() <= 2000, `${out.bytes()} bytes passed`);
});

test('the meter fails at the end on a short stream or a wrong CRC', async () => {
  const parts = chunks(2, 100);
  const all = Buffer.concat(parts);
  const short = new Meter({ limit: 1000, overLimit: () => new Error('over'), expectedSize: 300, mismatch: (w) => new Error(w) });
  await assert.rejects(pipeline(Readable.from(parts), short, sink().stream), /^Error: short$/);
  const badCrc = new Meter({
    limit: 1000,
    overLimit: () => new Error('over'),
    expectedSize: 200,
    expectedCrc: (zlib.crc32(all) ^ 1) >>> 0,
    mismatch: (w) => new Error(w),
  });
  await assert.rejects(pipeline(Readable.from(parts), badCrc, sink().stream), /^Error: crc$/);
});
