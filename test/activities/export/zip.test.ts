/**
 * Hostile and broken ZIPs: each is refused with an ExportInputError naming the entry and the
 * reason, by inspectExport and by extractEntry, and nothing is written anywhere but the dest
 * given (which is removed again when extraction fails).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ArchiveLimits } from '../../../config.ts';
import { extractEntry, inspectExport } from '../../../activities/export/archive.ts';
import { LIMITS, REAL_ACCOUNT, REAL_EXTENDED, centralRecords, craftZip, limits, rejectsInput, snapshot, tempDir, writeZip } from './helpers.ts';

const AUDIO = 'Spotify Extended Streaming History/Streaming_History_Audio_2024.json';
const REAL_AUDIO = path.join(REAL_EXTENDED, 'mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2024.json'); // 1.7 MB
const REAL_MUSIC = path.join(REAL_ACCOUNT, 'mungeraiden_QuantifiedSelfProject/StreamingHistory_music_0.json'); // 1.3 MB
const GOOD_ROW = '[{"ts":"2024-01-01T00:00:00Z","ms_played":1000}]';

let root: string;
let work: string; // archives live in work/a/b/, dests in work/a/b/out/: "../../evil.json" would land in work/
let out: string;
before(async () => {
  root = await tempDir();
  work = path.join(root, 'work');
  out = path.join(work, 'a', 'b', 'out');
  await fs.mkdir(out, { recursive: true });
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

let n = 0;
async function zipFile(bytes: Buffer): Promise<string> {
  const file = path.join(work, 'a', 'b', `case-${++n}.zip`);
  await fs.writeFile(file, bytes);
  return file;
}

/**
 * Both inspectExport and extractEntry refuse `zip` with the same entry and reason, and nothing
 * appears or changes anywhere under the test folder (the dest included). With `inspectOnly`, only
 * inspectExport is asked: judging content is its job (extractEntry copies bytes).
 */
async function refused(
  zip: string,
  expected: { entry: string | undefined; reason: string | RegExp },
  opts: { limits?: ArchiveLimits; extract?: string; inspectOnly?: boolean } = {},
): Promise<void> {
  const lim = opts.limits ?? LIMITS;
  const before = await snapshot(root);
  await rejectsInput(inspectExport([zip], lim), { ...expected, input: zip });
  if (!opts.inspectOnly) {
    const dest = path.join(out, 'dest.json');
    await rejectsInput(extractEntry([zip], opts.extract ?? expected.entry ?? AUDIO, dest, lim), { ...expected, input: zip });
  }
  assert.deepEqual(await snapshot(root), before, 'nothing written');
}

describe('names that would escape', () => {
  test('zip slip: ../../evil.json', async () => {
    const zip = await zipFile(craftZip([{ name: '../../evil.json', data: Buffer.from(GOOD_ROW) }, { name: AUDIO, data: Buffer.from(GOOD_ROW) }]));
    await refused(zip, { entry: '../../evil.json', reason: 'path traversal' });
    await assert.rejects(fs.access(path.join(work, 'evil.json')));
    await assert.rejects(fs.access(path.join(work, 'a', 'evil.json')));
  });

  test('zip slip hidden in the middle of a history path', async () => {
    const name = 'Spotify Extended Streaming History/../../../Streaming_History_Audio_2024.json';
    const zip = await zipFile(craftZip([{ name, data: Buffer.from(GOOD_ROW) }]));
    await refused(zip, { entry: name, reason: 'path traversal' });
  });

  test('absolute path', async () => {
    const zip = await zipFile(craftZip([{ name: '/tmp/Streaming_History_Audio_2024.json', data: Buffer.from(GOOD_ROW) }]));
    await refused(zip, { entry: '/tmp/Streaming_History_Audio_2024.json', reason: 'absolute path' });
  });

  test('drive letter', async () => {
    const zip = await zipFile(craftZip([{ name: 'C:\\Users\\x\\Streaming_History_Audio_2024.json', data: Buffer.from(GOOD_ROW) }]));
    await refused(zip, { entry: 'C:\\Users\\x\\Streaming_History_Audio_2024.json', reason: 'drive letter' });
  });

  test('backslashes that traverse', async () => {
    const zip = await zipFile(craftZip([{ name: 'MyData\\..\\..\\evil.json', data: Buffer.from(GOOD_ROW) }]));
    await refused(zip, { entry: 'MyData\\..\\..\\evil.json', reason: 'path traversal' });
  });

  test('backslashes as plain separators are fine', async () => {
    const zip = await zipFile(craftZip([{ name: 'MyData\\endsong_0.json', data: Buffer.from(GOOD_ROW) }]));
    const inv = await inspectExport([zip], LIMITS);
    assert.deepEqual(inv.history, [{ name: 'MyData/endsong_0.json', size: GOOD_ROW.length, format: 'extended' }]);
    const dest = path.join(out, 'ok.json');
    assert.equal(await extractEntry([zip], 'MyData/endsong_0.json', dest, LIMITS), GOOD_ROW.length);
    assert.equal(await fs.readFile(dest, 'utf8'), GOOD_ROW);
    await fs.rm(dest);
  });

  test('duplicate names', async () => {
    const zip = await zipFile(
      craftZip([
        { name: AUDIO, data: Buffer.from(GOOD_ROW) },
        { name: AUDIO, data: Buffer.from('[{"ts":"2099-01-01T00:00:00Z","ms_played":1}]') },
      ]),
    );
    await refused(zip, { entry: AUDIO, reason: 'duplicate entry name' });
  });
});

describe('entries that are not plain files', () => {
  test('symbolic link entry', async () => {
    const zip = await zipFile(
      craftZip([
        { name: 'Spotify Extended Streaming History/', data: Buffer.alloc(0), externalAttrs: 0o040755 << 16 },
        { name: AUDIO, data: Buffer.from('/etc/passwd'), externalAttrs: 0o120777 << 16 },
      ]),
    );
    await refused(zip, { entry: AUDIO, reason: 'symbolic link entry' });
  });

  test('encrypted entry', async () => {
    const zip = await zipFile(craftZip([{ name: AUDIO, data: Buffer.concat([Buffer.alloc(12, 7), Buffer.from(GOOD_ROW)]), flags: 0x1, size: GOOD_ROW.length }]));
    await refused(zip, { entry: AUDIO, reason: 'encrypted entry' });
  });

  test('unsupported compression method', async () => {
    const zip = await zipFile(craftZip([{ name: AUDIO, data: Buffer.from(GOOD_ROW), method: 12, compressed: Buffer.from('BZh91AY&SY') }]));
    await refused(zip, { entry: AUDIO, reason: 'unsupported compression method 12' });
  });
});

describe('limits', () => {
  test('an entry larger than maxEntryBytes', async () => {
    const zip = path.join(work, 'a', 'b', 'big-entry.zip');
    await writeZip(zip, [{ name: AUDIO, path: REAL_AUDIO }]);
    await refused(zip, { entry: AUDIO, reason: /^entry too large: 1733137 bytes uncompressed, the limit is 1000000$/ }, { limits: limits({ maxEntryBytes: 1_000_000 }) });
    assert.equal((await inspectExport([zip], LIMITS)).history.length, 1, 'fine with the default limits');
  });

  test('entries adding up to more than maxTotalBytes', async () => {
    const zip = path.join(work, 'a', 'b', 'big-total.zip');
    const music = 'Spotify Account Data/StreamingHistory_music_0.json';
    await writeZip(zip, [
      { name: AUDIO, path: REAL_AUDIO },
      { name: music, path: REAL_MUSIC },
    ]);
    await refused(zip, { entry: music, reason: 'archive too large' }, { limits: limits({ maxTotalBytes: 2_500_000 }), extract: AUDIO });
  });

  test('a zip bomb: 50 MB of zeros in ~50 KB is refused before anything is inflated', async () => {
    const zeros = Buffer.alloc(50 * 1024 * 1024);
    const compressed = zlib.deflateRawSync(zeros, { level: 9 });
    assert.ok(compressed.length < 100 * 1024);
    const zip = await zipFile(craftZip([{ name: AUDIO, data: zeros, method: 8, compressed }]));
    await refused(zip, { entry: AUDIO, reason: /^compression ratio \d+:1 exceeds the limit of 200:1/ });
  });

  test('a real file over a low maxRatio', async () => {
    const zip = path.join(work, 'a', 'b', 'ratio.zip');
    await writeZip(zip, [{ name: AUDIO, path: REAL_AUDIO }]);
    await refused(zip, { entry: AUDIO, reason: 'exceeds the limit of 3:1' }, { limits: limits({ maxRatio: 3 }) });
  });

  test('more entries than maxEntries', async () => {
    const zip = path.join(work, 'a', 'b', 'many.zip');
    await writeZip(zip, [
      { name: AUDIO, content: GOOD_ROW },
      ...Array.from({ length: 5 }, (_, i) => ({ name: `junk/${i}.txt`, content: 'x' })),
    ]);
    await refused(zip, { entry: undefined, reason: 'too many entries: 6, the limit is 5' }, { limits: limits({ maxEntries: 5 }) });
  });

  test('a lying header: the entry inflates past its declared size', async () => {
    // Declared 1 MiB - 1 (below the ratio check), inflates to 8 MiB: a valid start, then spaces.
    const data = Buffer.concat([Buffer.from('[{"ts":"2024-01-01T00:00:00Z","ms_played":1}'), Buffer.alloc(8 * 1024 * 1024, 0x20), Buffer.from(']')]);
    const declared = 1024 * 1024 - 1;
    const zip = await zipFile(craftZip([{ name: AUDIO, data, method: 8, size: declared }]));
    // The peek reads only the start: inspect lists it (with its declared size).
    const inv = await inspectExport([zip], LIMITS);
    assert.deepEqual(inv.history, [{ name: AUDIO, size: declared, format: 'extended' }]);
    const before = await snapshot(root);
    const dest = path.join(out, 'lying.json');
    let passed = 0;
    await rejectsInput(
      extractEntry([zip], AUDIO, dest, LIMITS, (b) => {
        passed += b;
      }),
      { entry: AUDIO, reason: `truncated or corrupt archive (entry inflates past its declared size of ${declared} bytes)` },
    );
    assert.ok(passed <= declared, `at most the declared size went to the file (${passed})`);
    assert.deepEqual(await snapshot(root), before, 'the partial dest is removed');
  });

  test('a lying header caught by the peek itself', async () => {
    const data = Buffer.from(`[{"ts":"2024-01-01T00:00:00Z","ms_played":1}${' '.repeat(100_000)}]`);
    const zip = await zipFile(craftZip([{ name: AUDIO, data, method: 8, size: 100 }]));
    await refused(zip, { entry: AUDIO, reason: 'entry inflates past its declared size of 100 bytes' });
  });
});

describe('truncated and corrupt archives', () => {
  let good: Buffer;
  before(async () => {
    const file = path.join(root, 'good.zip');
    await writeZip(file, [
      { name: AUDIO, path: REAL_AUDIO },
      { name: 'Spotify Account Data/StreamingHistory_music_0.json', path: REAL_MUSIC },
    ]);
    good = await fs.readFile(file);
  });

  test('cut in half', async () => {
    const zip = await zipFile(good.subarray(0, Math.floor(good.length / 2)));
    await refused(zip, { entry: undefined, reason: 'truncated or corrupt archive' });
  });

  test('not a ZIP at all, though named one', async () => {
    const zip = await zipFile(Buffer.from('this is not a zip file, whatever its name says'));
    await refused(zip, { entry: undefined, reason: /^truncated or corrupt archive/ });
  });

  test('a bad local header', async () => {
    const bytes = Buffer.from(good);
    const rec = centralRecords(bytes).find((r) => r.name === AUDIO)!;
    bytes.writeUInt32LE(0xdeadbeef, rec.localAt);
    const zip = await zipFile(bytes);
    await refused(zip, { entry: AUDIO, reason: 'truncated or corrupt archive (invalid local file header signature' });
  });

  test('corrupt bytes in the compressed data', async () => {
    const bytes = Buffer.from(good);
    const rec = centralRecords(bytes).find((r) => r.name === AUDIO)!;
    const mid = rec.dataAt + Math.floor(rec.compressedSize / 2);
    for (let i = 0; i < 64; i++) bytes[mid + i] = (bytes[mid + i]! * 31 + 17) & 0xff;
    const zip = await zipFile(bytes);
    // The peek stops long before the damage; the extraction finds it.
    assert.equal((await inspectExport([zip], LIMITS)).history.length, 2);
    const before = await snapshot(root);
    await rejectsInput(extractEntry([zip], AUDIO, path.join(out, 'corrupt.json'), LIMITS), {
      entry: AUDIO,
      reason: /^truncated or corrupt archive \(/,
      input: zip,
    });
    assert.deepEqual(await snapshot(root), before, 'the partial dest is removed');
  });

  test('CRC mismatch', async () => {
    const bytes = Buffer.from(good);
    const rec = centralRecords(bytes).find((r) => r.name === AUDIO)!;
    bytes.writeUInt32LE((bytes.readUInt32LE(rec.at + 16) ^ 0x1) >>> 0, rec.at + 16);
    const zip = await zipFile(bytes);
    assert.equal((await inspectExport([zip], LIMITS)).history.length, 2);
    const before = await snapshot(root);
    await rejectsInput(extractEntry([zip], AUDIO, path.join(out, 'crc.json'), LIMITS), {
      entry: AUDIO,
      reason: 'truncated or corrupt archive (CRC mismatch)',
      input: zip,
    });
    assert.deepEqual(await snapshot(root), before, 'the partial dest is removed');
    // the other entry is intact
    const music = 'Spotify Account Data/StreamingHistory_music_0.json';
    const dest = path.join(out, 'music.json');
    await extractEntry([zip], music, dest, LIMITS);
    assert.ok((await fs.readFile(dest)).equals(await fs.readFile(REAL_MUSIC)));
    await fs.rm(dest);
  });

  test('CRC mismatch in a stored entry', async () => {
    const zip = await zipFile(craftZip([{ name: AUDIO, data: Buffer.from(GOOD_ROW), crc: 12345 }]));
    await rejectsInput(extractEntry([zip], AUDIO, path.join(out, 'crc2.json'), LIMITS), { entry: AUDIO, reason: 'CRC mismatch' });
    await assert.rejects(fs.access(path.join(out, 'crc2.json')));
  });

  test('an entry shorter than declared', async () => {
    const data = Buffer.from(GOOD_ROW);
    const zip = await zipFile(craftZip([{ name: AUDIO, data, method: 8, size: data.length + 10 }]));
    await rejectsInput(extractEntry([zip], AUDIO, path.join(out, 'short.json'), LIMITS), {
      entry: AUDIO,
      reason: `entry is shorter than its declared size of ${data.length + 10} bytes`,
    });
    await assert.rejects(fs.access(path.join(out, 'short.json')));
  });
});

describe('history files with the wrong content', () => {
  const cases: Array<[string, string | Buffer, string]> = [
    ['a PDF named as history', Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1'), 'not JSON'],
    ['plain text', 'hello', 'not JSON'],
    ['an empty file', '', 'not JSON (empty file)'],
    ['cut after the first key', '[{"ts":', 'not JSON (the file ends early)'],
    ['an object', '{"ts":"2024-01-01T00:00:00Z","ms_played":1}', 'expected a JSON array of streams, found an object'],
    ['an array of numbers', '[1,2,3]', 'expected a JSON array of streams, found an array of numbers'],
    ['account rows in an extended file', '[{"endTime":"2024-01-01 00:00","artistName":"a","trackName":"t","msPlayed":1}]', 'first stream lacks "ts"'],
  ];
  for (const [what, content, reason] of cases) {
    test(what, async () => {
      const zip = path.join(work, 'a', 'b', `content-${++n}.zip`);
      await writeZip(zip, [{ name: AUDIO, content }]);
      await refused(zip, { entry: AUDIO, reason }, { inspectOnly: true });
    });
  }

  test('extended rows in an account file', async () => {
    const name = 'Spotify Account Data/StreamingHistory_music_0.json';
    const zip = path.join(work, 'a', 'b', 'account-shape.zip');
    await writeZip(zip, [{ name, path: REAL_AUDIO }]);
    await refused(zip, { entry: name, reason: 'first stream lacks "endTime", "artistName", "trackName", "msPlayed"' }, { inspectOnly: true });
  });

  test('an empty array is a history file with no rows', async () => {
    const zip = path.join(work, 'a', 'b', 'empty-array.zip');
    await writeZip(zip, [{ name: AUDIO, content: '[]' }]);
    const inv = await inspectExport([zip], LIMITS);
    assert.deepEqual(inv.history, [{ name: AUDIO, size: 2, format: 'extended' }]);
  });
});

describe('no history at all', () => {
  test('an empty archive', async () => {
    const zip = path.join(work, 'a', 'b', 'empty.zip');
    await writeZip(zip, []);
    const before = await snapshot(root);
    await rejectsInput(inspectExport([zip], LIMITS), { entry: undefined, reason: /^no streaming history found \(looked for Streaming_History_Audio_\*\.json/, input: zip });
    assert.deepEqual(await snapshot(root), before);
  });

  test('an archive with only ignored files', async () => {
    const zip = path.join(work, 'a', 'b', 'only-ignored.zip');
    await writeZip(zip, [
      { name: 'Spotify Account Data/', dir: true },
      { name: 'Spotify Account Data/Userdata.json', content: '{"username":"x"}' },
      { name: 'Spotify Account Data/Playlist1.json', content: '{"playlists":[]}' },
      { name: 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf', content: '%PDF-1.4' },
      { name: '__MACOSX/._StreamingHistory_music_0.json', content: Buffer.from([0, 5, 22, 7]) },
    ]);
    await rejectsInput(inspectExport([zip], LIMITS), { entry: undefined, reason: 'no streaming history found (looked for ', input: zip });
  });
});

test('hostile archives never crash the process: many failures in parallel all reject', async () => {
  const zips = [
    await zipFile(craftZip([{ name: '../x.json', data: Buffer.from('x') }])),
    await zipFile(Buffer.from('PK\x03\x04 garbage', 'latin1')),
    await zipFile(craftZip([{ name: AUDIO, data: Buffer.from(GOOD_ROW), method: 8, compressed: Buffer.from([0xff, 0xff, 0xff, 0xff]) }])),
    await zipFile(Buffer.alloc(0)),
  ];
  let uncaught: unknown;
  const onUncaught = (err: unknown): void => {
    uncaught = err;
  };
  process.on('uncaughtException', onUncaught);
  try {
    const results = await Promise.allSettled(
      zips.flatMap((z) => [inspectExport([z], LIMITS), extractEntry([z], AUDIO, path.join(out, `p-${path.basename(z)}.json`), LIMITS)]),
    );
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason?.name, 'ExportInputError', String((r as PromiseRejectedResult).reason));
    }
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  assert.equal(uncaught, undefined);
  assert.deepEqual(await fs.readdir(out), []);
});
