/**
 * Classification: every real export file in /work/shared/real-data is recognised with the right
 * format (as a folder, as loose files, inside a ZIP, and renamed), and the bounded peek and the
 * verdicts on odd content.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { inspectExport, type HistoryFormat } from '../../../activities/export/archive.ts';
import { PEEK_BYTES, formatFromName, isJunk, judge, peekJson, type PeekResult } from '../../../activities/export/classify.ts';
import { LIMITS, REAL_ACCOUNT, REAL_EXTENDED, realFiles, tempDir, writeZip } from './helpers.ts';

/** The format a real file has, known from the folder it was published in and its Spotify name. */
function expectedFormat(kind: 'extended' | 'account', file: string): HistoryFormat {
  if (kind === 'extended') return 'extended';
  const base = path.basename(file);
  if (/^StreamingHistory_music_\d+\.json$/.test(base)) return 'account_music';
  if (/^StreamingHistory_podcast_\d+\.json$/.test(base)) return 'account_podcast';
  if (/^StreamingHistory_audiobook_\d+\.json$/.test(base)) return 'account_audiobook';
  if (/^StreamingHistory\d+\.json$/.test(base)) return 'account_legacy';
  throw new Error(`unexpected real file ${file}`);
}

let tmp: string;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

for (const [kind, root] of [
  ['extended', REAL_EXTENDED],
  ['account', REAL_ACCOUNT],
] as const) {
  describe(`every real ${kind} file`, () => {
    test('is found in the folder with its format, nothing skipped or ignored', async () => {
      const files = await realFiles(root);
      assert.ok(files.length >= (kind === 'extended' ? 29 : 20), `${files.length} real files`);
      const inv = await inspectExport([root], LIMITS);
      assert.deepEqual(
        inv.history.map((h) => [h.name, h.format]),
        files.map((f) => [f, expectedFormat(kind, f)]),
      );
      assert.deepEqual(inv.ignored, []);
      for (const h of inv.history) assert.equal(h.size, (await fs.stat(path.join(root, h.name))).size);
    });

    test('is classified as a loose file, owner by owner', async () => {
      const files = await realFiles(root);
      const owners = [...new Set(files.map((f) => f.split('/')[0]!))];
      let seen = 0;
      for (const owner of owners) {
        const mine = files.filter((f) => f.startsWith(`${owner}/`));
        const inv = await inspectExport(
          mine.map((f) => path.join(root, f)),
          LIMITS,
        );
        assert.equal(inv.kind, 'files');
        assert.deepEqual(
          inv.history.map((h) => [h.name, h.format]),
          mine.map((f) => [path.basename(f), expectedFormat(kind, f)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
        );
        seen += inv.history.length;
      }
      assert.equal(seen, files.length);
    });

    test('is classified inside a ZIP, and by its keys alone when renamed', async () => {
      const files = await realFiles(root);
      const zip = path.join(tmp, `${kind}.zip`);
      await writeZip(zip, [
        ...files.map((f) => ({ name: `named/${f}`, path: path.join(root, f) })),
        ...files.map((f, i) => ({ name: `renamed/file-${i}.json`, path: path.join(root, f) })),
      ]);
      const inv = await inspectExport([zip], LIMITS);
      const got = new Map(inv.history.map((h) => [h.name, h.format]));
      assert.equal(got.size, files.length * 2);
      for (const [i, f] of files.entries()) {
        const format = expectedFormat(kind, f);
        assert.equal(got.get(`named/${f}`), format, f);
        // Without its name a legacy file cannot be told from a music file: same keys.
        assert.equal(got.get(`renamed/file-${i}.json`), format === 'account_legacy' ? 'account_music' : format, `${f} renamed`);
      }
      assert.deepEqual(inv.ignored, []);
    });
  });
}

describe('names', () => {
  test('history names, at any depth, any case', () => {
    const cases: Array<[string, HistoryFormat | undefined]> = [
      ['Spotify Extended Streaming History/Streaming_History_Audio_2023.json', 'extended'],
      ['Streaming_History_Audio_2019-2021_3.json', 'extended'],
      ['x/y/Streaming_History_Video_2024.json', 'extended'],
      ['MyData/endsong_12.json', 'extended'],
      ['endsong.json', 'extended'],
      ['streaming_history_audio_2023.JSON', 'extended'],
      ['Spotify Account Data/StreamingHistory_music_0.json', 'account_music'],
      ['StreamingHistory_podcast_2.json', 'account_podcast'],
      ['StreamingHistory_audiobook_0.json', 'account_audiobook'],
      ['MyData/StreamingHistory3.json', 'account_legacy'],
      ['Userdata.json', undefined],
      ['StreamingHistory_music_0.json.pdf', undefined],
      ['ReadMeFirst_ExtendedStreamingHistory.pdf', undefined],
      ['Streaming_History_Audio_2023.json/other.json', undefined],
    ];
    for (const [name, format] of cases) assert.equal(formatFromName(name), format, name);
  });

  test('OS junk', () => {
    assert.ok(isJunk('__MACOSX/a/._Streaming_History_Audio_2023.json'));
    assert.ok(isJunk('a/._StreamingHistory0.json'));
    assert.ok(isJunk('.DS_Store'));
    assert.ok(isJunk('x/Thumbs.db'));
    assert.ok(!isJunk('Spotify Account Data/StreamingHistory0.json'));
  });
});

async function peek(text: string | Buffer, max?: number): Promise<PeekResult> {
  return peekJson(Readable.from([Buffer.isBuffer(text) ? text : Buffer.from(text)]), max);
}

describe('the bounded peek', () => {
  test('reports the top-level shape and the keys of the first object', async () => {
    assert.deepEqual(await peek('[{"ts":"x","ms_played":1,"n":{"a":[1,{"b":2}]}},{"other":1}]'), {
      kind: 'first-object',
      keys: ['ts', 'ms_played', 'n'],
    });
    assert.deepEqual(await peek('  [ ]  '), { kind: 'empty-array' });
    assert.deepEqual(await peek('{"a":1}'), { kind: 'not-array', found: 'an object' });
    assert.deepEqual(await peek('"x"'), { kind: 'not-array', found: 'a string' });
    assert.deepEqual(await peek('[1,2]'), { kind: 'array-of', found: 'numbers' });
    assert.deepEqual(await peek('[[1]]'), { kind: 'array-of', found: 'arrays' });
    assert.deepEqual(await peek('[null]'), { kind: 'array-of', found: 'nulls' });
    assert.equal((await peek('%PDF-1.4')).kind, 'not-json');
    assert.deepEqual(await peek(''), { kind: 'not-json', detail: 'empty file' });
    assert.deepEqual(await peek('[{"ts":'), { kind: 'not-json', detail: 'the file ends early' });
    assert.equal((await peek('[{"ts" 1}]')).kind, 'not-json');
  });

  test('reads no more than its budget, and stops once the first object is complete', async () => {
    let pulled = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      pulled += 1;
      yield Buffer.from('[{"ts":"a","ms_played":1},');
      for (;;) {
        pulled += 1;
        yield Buffer.alloc(64 * 1024, 0x20);
      }
    }
    assert.equal((await peekJson(chunks())).kind, 'first-object');
    assert.equal(pulled, 1, 'stopped after the first chunk');

    pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from('[{"ts":"');
      for (;;) {
        pulled += 1;
        yield Buffer.alloc(64 * 1024, 0x61);
      }
    }
    assert.deepEqual(await peekJson(endless()), { kind: 'too-long' });
    assert.ok(pulled <= PEEK_BYTES / (64 * 1024) + 1, `read ${pulled} chunks`);
  });
});

describe('verdicts', () => {
  test('a history-named file must have the shape of its format', () => {
    const first = (...keys: string[]): PeekResult => ({ kind: 'first-object', keys });
    assert.deepEqual(judge('Streaming_History_Audio_2023.json', first('ts', 'ms_played')), { format: 'extended' });
    assert.deepEqual(judge('Streaming_History_Audio_2023.json', { kind: 'empty-array' }), { format: 'extended' });
    assert.deepEqual(judge('Streaming_History_Audio_2023.json', first('endTime', 'artistName', 'trackName', 'msPlayed')), {
      error: 'first stream lacks "ts", "ms_played"',
    });
    assert.deepEqual(judge('StreamingHistory_music_0.json', first('ts', 'ms_played')), {
      error: 'first stream lacks "endTime", "artistName", "trackName", "msPlayed"',
    });
    assert.deepEqual(judge('endsong_0.json', { kind: 'not-array', found: 'an object' }), {
      error: 'expected a JSON array of streams, found an object',
    });
    assert.deepEqual(judge('endsong_0.json', { kind: 'array-of', found: 'strings' }), {
      error: 'expected a JSON array of streams, found an array of strings',
    });
    const notJson = judge('endsong_0.json', { kind: 'not-json', detail: 'unexpected "%" at byte 0' });
    assert.ok('error' in notJson && notJson.error.startsWith('not JSON'));
  });

  test('another .json is history only when its first object has a format’s keys', () => {
    const first = (...keys: string[]): PeekResult => ({ kind: 'first-object', keys });
    assert.deepEqual(judge('x.json', first('ts', 'ms_played', 'future_key')), { format: 'extended' });
    assert.deepEqual(judge('x.json', first('endTime', 'podcastName', 'episodeName', 'msPlayed')), { format: 'account_podcast' });
    assert.deepEqual(judge('x.json', first('endTime', 'audiobookName', 'chapterName', 'authorName', 'msPlayed')), {
      format: 'account_audiobook',
    });
    assert.deepEqual(judge('x.json', first('endTime', 'artistName', 'trackName', 'msPlayed')), { format: 'account_music' });
    assert.deepEqual(judge('StreamingHistory1 (2).json', first('endTime', 'artistName', 'trackName', 'msPlayed')), {
      format: 'account_legacy',
    });
    assert.deepEqual(judge('x.json', first('ts')), { ignore: true });
    assert.deepEqual(judge('x.json', first('searchTime', 'searchQuery')), { ignore: true });
    assert.deepEqual(judge('x.json', { kind: 'not-array', found: 'an object' }), { ignore: true });
    assert.deepEqual(judge('x.json', { kind: 'not-json', detail: '' }), { ignore: true });
    assert.deepEqual(judge('x.json', { kind: 'empty-array' }), { ignore: true });
  });
});
