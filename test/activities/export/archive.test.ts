/**
 * Reading real Spotify exports: ZIP layouts as Spotify sends them (built from the real files in
 * /work/shared/real-data), folders and loose files; classification, the ignored list, hashes and
 * byte-identical extraction.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { extractEntry, hashExport, inspectExport, type HistoryEntry } from '../../../activities/export/archive.ts';
import { LIMITS, REAL_ACCOUNT, REAL_EXTENDED, sha256, snapshot, tempDir, writeZip } from './helpers.ts';

const X = (f: string) => path.join(REAL_EXTENDED, f);
const A = (f: string) => path.join(REAL_ACCOUNT, f);

const PDF = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n', 'latin1');
const USERDATA = JSON.stringify({ username: 'someone', email: null, country: 'SE', createdFromFacebook: false, birthdate: '1990-01-01' });
const PLAYLIST = JSON.stringify({ playlists: [{ name: 'Mix', lastModifiedDate: '2024-01-01', items: [] }] });
const INFERENCES = JSON.stringify({ inferences: ['1P_Custom_Something'] });
const SEARCHES = JSON.stringify([{ platform: 'IOS', searchTime: '2024-01-01T00:00:00Z', searchQuery: 'x', searchInteractionURIs: [] }]);
const APPLEDOUBLE = Buffer.from([0x00, 0x05, 0x16, 0x07, 0x00, 0x02, 0x00, 0x00, 0x4d, 0x61, 0x63, 0x20]);

/** The current layout of `my_spotify_data.zip` (Extended history and Account data in one archive). */
const CURRENT = [
  { name: 'Spotify Extended Streaming History/', dir: true },
  { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2023.json', path: X('mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2023.json') },
  { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2024.json', path: X('mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2024.json') },
  // stored, not deflated: both methods occur in the wild
  { name: 'Spotify Extended Streaming History/Streaming_History_Video_2024.json', path: X('mungeraiden_QuantifiedSelfProject/Streaming_History_Video_2024.json'), compress: false },
  { name: 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf', content: PDF },
  { name: 'Spotify Account Data/StreamingHistory_music_0.json', path: A('mungeraiden_QuantifiedSelfProject/StreamingHistory_music_0.json') },
  { name: 'Spotify Account Data/StreamingHistory_podcast_0.json', path: A('mungeraiden_QuantifiedSelfProject/StreamingHistory_podcast_0.json') },
  { name: 'Spotify Account Data/StreamingHistory_audiobook_0.json', path: A('hobbies-w-erin_Spotify-Account-Data/StreamingHistory_audiobook_0.json') },
  { name: 'Spotify Account Data/Userdata.json', content: USERDATA },
  { name: 'Spotify Account Data/Playlist1.json', content: PLAYLIST },
  { name: 'Spotify Account Data/Inferences.json', content: INFERENCES },
  { name: 'Spotify Account Data/SearchQueries.json', content: SEARCHES },
  { name: 'Spotify Account Data/notes.txt', content: 'not json' },
  // a history file renamed by its owner: found by its content
  { name: 'Spotify Account Data/my old history.json', path: X('CandidlyRed_spotify/endsong.json') },
  // re-zipped on a Mac: resource forks carry history-like names but are not JSON
  { name: '__MACOSX/Spotify Extended Streaming History/._Streaming_History_Audio_2023.json', content: APPLEDOUBLE },
];

const CURRENT_HISTORY: HistoryEntry[] = [
  { name: 'Spotify Account Data/StreamingHistory_audiobook_0.json', format: 'account_audiobook', size: 2287 },
  { name: 'Spotify Account Data/StreamingHistory_music_0.json', format: 'account_music', size: 1282496 },
  { name: 'Spotify Account Data/StreamingHistory_podcast_0.json', format: 'account_podcast', size: 16996 },
  { name: 'Spotify Account Data/my old history.json', format: 'extended', size: 595238 },
  { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2023.json', format: 'extended', size: 251647 },
  { name: 'Spotify Extended Streaming History/Streaming_History_Audio_2024.json', format: 'extended', size: 1733137 },
  { name: 'Spotify Extended Streaming History/Streaming_History_Video_2024.json', format: 'extended', size: 175853 },
];

const CURRENT_IGNORED = [
  'Spotify Account Data/Inferences.json',
  'Spotify Account Data/Playlist1.json',
  'Spotify Account Data/SearchQueries.json',
  'Spotify Account Data/Userdata.json',
  'Spotify Account Data/notes.txt',
  'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf',
  '__MACOSX/Spotify Extended Streaming History/._Streaming_History_Audio_2023.json',
];

let tmp: string;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Where each entry of CURRENT came from, by name. */
function sourceOf(name: string): { path?: string; content?: string | Buffer } {
  const s = CURRENT.find((c) => c.name === name);
  assert.ok(s, name);
  return s;
}

async function bytesOf(src: { path?: string; content?: string | Buffer }): Promise<Buffer> {
  if (src.path) return fs.readFile(src.path);
  return Buffer.isBuffer(src.content) ? src.content : Buffer.from(src.content ?? '');
}

describe('a ZIP as Spotify sends it', () => {
  let zip: string;
  before(async () => {
    zip = path.join(tmp, 'my_spotify_data.zip');
    await writeZip(zip, CURRENT);
  });

  test('lists the history files (by name and by content) and ignores the rest', async () => {
    const before = await snapshot(tmp);
    const inv = await inspectExport([zip], LIMITS);
    assert.equal(inv.kind, 'zip');
    assert.deepEqual(inv.paths, [zip]);
    assert.deepEqual(inv.history, CURRENT_HISTORY);
    assert.deepEqual(inv.ignored, CURRENT_IGNORED);
    assert.equal(inv.totalBytes, CURRENT_HISTORY.reduce((n, h) => n + h.size, 0));
    assert.deepEqual(await snapshot(tmp), before, 'inspecting writes nothing');
  });

  test('extractEntry writes each history file byte for byte, reporting progress', async () => {
    const out = path.join(tmp, 'out-current');
    await fs.mkdir(out);
    const inv = await inspectExport([zip], LIMITS);
    for (const [i, h] of inv.history.entries()) {
      const dest = path.join(out, `${i}.json`);
      let progress = 0;
      const n = await extractEntry([zip], h.name, dest, LIMITS, (b) => {
        progress += b;
      });
      const expected = await bytesOf(sourceOf(h.name));
      assert.equal(n, expected.length, h.name);
      assert.equal(progress, n, `onBytes adds up for ${h.name}`);
      assert.ok((await fs.readFile(dest)).equals(expected), `byte-identical: ${h.name}`);
    }
    assert.deepEqual((await fs.readdir(out)).sort(), inv.history.map((_, i) => `${i}.json`).sort(), 'only the dests were written');
  });

  test('an ignored entry can be extracted too; a missing one is an input error', async () => {
    const dest = path.join(tmp, 'userdata.json');
    await extractEntry([zip], 'Spotify Account Data/Userdata.json', dest, LIMITS);
    assert.equal(await fs.readFile(dest, 'utf8'), USERDATA);
    await fs.rm(dest);
    await assert.rejects(extractEntry([zip], 'Spotify Account Data/nope.json', dest, LIMITS), /nope\.json: no such entry/);
    await assert.rejects(fs.access(dest));
  });

  test('hash: the bytes of the ZIP; the same archive built twice hashes the same', async () => {
    const again = path.join(tmp, 'again.zip');
    await writeZip(again, CURRENT);
    const h1 = await hashExport([zip]);
    assert.equal(h1, sha256(await fs.readFile(zip)));
    assert.equal(await hashExport([again]), h1);
    const other = path.join(tmp, 'other.zip');
    await writeZip(other, CURRENT.slice(0, -1));
    assert.notEqual(await hashExport([other]), h1);
  });

  test('a ZIP is recognised by its content whatever its name', async () => {
    const download = path.join(tmp, 'download');
    await fs.copyFile(zip, download);
    const inv = await inspectExport([download], LIMITS);
    assert.equal(inv.kind, 'zip');
    assert.deepEqual(inv.history, CURRENT_HISTORY);
  });

  test('extraction of a 12 MB entry runs at about the speed of zlib', async () => {
    const rows = JSON.parse(await fs.readFile(X('Khushi-203006_Spotify_Data_Analysis_Project/Streaming_History_Audio_2026.json'), 'utf8')) as unknown[];
    const many: unknown[] = [];
    while (many.length * 300 < 12_000_000) many.push(...rows);
    const data = Buffer.from(JSON.stringify(many));
    const big = path.join(tmp, 'big.zip');
    await writeZip(big, [{ name: 'Spotify Extended Streaming History/Streaming_History_Audio_2026.json', content: data }]);
    const deflated = zlib.deflateRawSync(data);
    const dest = path.join(tmp, 'big.json');
    let zlibMs = Infinity;
    let ourMs = Infinity;
    for (let i = 0; i < 3; i++) {
      let t = performance.now();
      zlib.inflateRawSync(deflated);
      zlibMs = Math.min(zlibMs, performance.now() - t);
      t = performance.now();
      await extractEntry([big], 'Spotify Extended Streaming History/Streaming_History_Audio_2026.json', dest, LIMITS, () => {});
      ourMs = Math.min(ourMs, performance.now() - t);
    }
    assert.ok((await fs.readFile(dest)).equals(data));
    // Typically 1-1.5x inflateRawSync (it writes the file too); generous to stay stable on busy machines.
    assert.ok(ourMs < zlibMs * 5 + 150, `extractEntry ${ourMs.toFixed(0)} ms vs inflateRawSync ${zlibMs.toFixed(0)} ms for ${data.length} bytes`);
    await fs.rm(dest);
  });
});

describe('older and odd ZIP layouts', () => {
  test('MyData/ with endsong_N.json, endsong.json and legacy StreamingHistoryN.json', async () => {
    const zip = path.join(tmp, 'old.zip');
    await writeZip(zip, [
      { name: 'MyData/endsong_2.json', path: X('jcarlsso_Music_Data_Project/endsong_2.json') },
      { name: 'MyData/endsong_1.json', path: X('erickmay_Spotify-Shuffle-Analysis/endsong_1.json') },
      { name: 'MyData/endsong.json', path: X('CandidlyRed_spotify/endsong.json') },
      { name: 'MyData/StreamingHistory0.json', path: A('cosmoduende_r-spotify-history-analysis/StreamingHistory0.json') },
      { name: 'MyData/Read_Me_First.pdf', content: PDF },
      { name: 'MyData/Userdata.json', content: USERDATA },
    ]);
    const inv = await inspectExport([zip], LIMITS);
    assert.deepEqual(
      inv.history.map((h) => [h.name, h.format]),
      [
        ['MyData/StreamingHistory0.json', 'account_legacy'],
        ['MyData/endsong.json', 'extended'],
        ['MyData/endsong_1.json', 'extended'],
        ['MyData/endsong_2.json', 'extended'],
      ],
    );
    assert.deepEqual(inv.ignored, ['MyData/Read_Me_First.pdf', 'MyData/Userdata.json']);
  });

  test('renamed files are classified by their keys, at any depth', async () => {
    const zip = path.join(tmp, 'renamed.zip');
    await writeZip(zip, [
      { name: 'a/b/c/listening.json', path: X('danemanz_spotify_etl/Streaming_History_Audio_2018.json') },
      { name: 'podcasts.json', path: A('hobbies-w-erin_Spotify-Account-Data/StreamingHistory_podcast_0.json') },
      { name: 'books.json', path: A('hobbies-w-erin_Spotify-Account-Data/StreamingHistory_audiobook_0.json') },
      { name: 'music.JSON', path: A('txhxyp_spot/StreamingHistory_music_0.json') },
      { name: 'StreamingHistory0 (1).json', path: A('lukaszamora_spotify-history/StreamingHistory3.json') },
      { name: 'Streaming_History_Audio_2023-2024_7.json', path: X('EDGES2_Spotify-Data/Streaming_History_Audio_2025_2.json') },
      { name: 'empty/StreamingHistory_music_3.json', content: '[]' },
      { name: 'other.json', content: '[]' },
    ]);
    const inv = await inspectExport([zip], LIMITS);
    assert.deepEqual(
      inv.history.map((h) => [h.name, h.format]),
      [
        ['StreamingHistory0 (1).json', 'account_legacy'],
        ['Streaming_History_Audio_2023-2024_7.json', 'extended'],
        ['a/b/c/listening.json', 'extended'],
        ['books.json', 'account_audiobook'],
        ['empty/StreamingHistory_music_3.json', 'account_music'],
        ['music.JSON', 'account_music'],
        ['podcasts.json', 'account_podcast'],
      ],
    );
    assert.deepEqual(inv.ignored, ['other.json'], 'an empty array says nothing about a file that is not named as history');
  });

  test('a UTF-8 byte order mark and pretty-printing are fine', async () => {
    const zip = path.join(tmp, 'bom.zip');
    await writeZip(zip, [
      { name: 'Streaming_History_Audio_2020.json', content: '\ufeff[\n  {\n    "ts" : "2020-01-01T00:00:00Z",\n    "ms_played" : 1 }\n]' },
    ]);
    const inv = await inspectExport([zip], LIMITS);
    assert.deepEqual(inv.history.map((h) => h.format), ['extended']);
  });
});

describe('a folder and loose files', () => {
  let dir: string;
  const files = [
    ['Spotify Extended Streaming History/Streaming_History_Audio_2022.json', X('mungeraiden_QuantifiedSelfProject/Streaming_History_Audio_2022.json')],
    ['Spotify Extended Streaming History/Streaming_History_Video_2023.json', X('mungeraiden_QuantifiedSelfProject/Streaming_History_Video_2023.json')],
    ['Spotify Account Data/StreamingHistory_music_1.json', A('mungeraiden_QuantifiedSelfProject/StreamingHistory_music_1.json')],
  ] as const;

  before(async () => {
    dir = path.join(tmp, 'unzipped');
    for (const [name, src] of files) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.copyFile(src, path.join(dir, name));
    }
    await fs.writeFile(path.join(dir, 'Spotify Account Data/Userdata.json'), USERDATA);
    await fs.writeFile(path.join(dir, 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf'), PDF);
  });

  test('a folder: names relative to it, history sorted, the rest ignored', async () => {
    const inv = await inspectExport([dir], LIMITS);
    assert.equal(inv.kind, 'dir');
    assert.deepEqual(
      inv.history.map((h) => [h.name, h.format]),
      [
        ['Spotify Account Data/StreamingHistory_music_1.json', 'account_music'],
        ['Spotify Extended Streaming History/Streaming_History_Audio_2022.json', 'extended'],
        ['Spotify Extended Streaming History/Streaming_History_Video_2023.json', 'extended'],
      ],
    );
    assert.deepEqual(inv.ignored, ['Spotify Account Data/Userdata.json', 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf']);
    for (const h of inv.history) assert.equal(h.size, (await fs.stat(path.join(dir, h.name))).size);
  });

  test('a folder: extractEntry copies byte for byte', async () => {
    const inv = await inspectExport([dir], LIMITS);
    for (const h of inv.history) {
      const dest = path.join(tmp, 'from-folder.json');
      let progress = 0;
      const n = await extractEntry([dir], h.name, dest, LIMITS, (b) => (progress += b));
      const expected = await fs.readFile(path.join(dir, h.name));
      assert.equal(n, expected.length);
      assert.equal(progress, n);
      assert.ok((await fs.readFile(dest)).equals(expected), h.name);
      await fs.rm(dest);
    }
  });

  test('a folder: the hash ignores where it lies, the order files were made in, and OS junk', async () => {
    const h1 = await hashExport([dir]);
    // the same export, copied in reverse order to another place
    const copy = path.join(tmp, 'elsewhere', 'copy');
    for (const [name] of [...files].reverse()) {
      await fs.mkdir(path.dirname(path.join(copy, name)), { recursive: true });
      await fs.copyFile(path.join(dir, name), path.join(copy, name));
    }
    await fs.copyFile(path.join(dir, 'Spotify Account Data/Userdata.json'), path.join(copy, 'Spotify Account Data/Userdata.json'));
    await fs.copyFile(
      path.join(dir, 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf'),
      path.join(copy, 'Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf'),
    );
    await fs.writeFile(path.join(copy, '.DS_Store'), 'finder was here');
    assert.equal(await hashExport([copy]), h1);
    // a changed byte changes it
    const f = path.join(copy, files[0][0]);
    const bytes = await fs.readFile(f);
    bytes[10] = bytes[10] === 0x20 ? 0x09 : 0x20;
    await fs.writeFile(f, bytes);
    assert.notEqual(await hashExport([copy]), h1);
    // so does a renamed file
    await fs.writeFile(f, await fs.readFile(path.join(dir, files[0][0])));
    assert.equal(await hashExport([copy]), h1);
    await fs.rename(f, `${f.slice(0, -5)}_1.json`);
    assert.notEqual(await hashExport([copy]), h1);
  });

  test('loose files: base names, any order, same hash as a flat folder of them', async () => {
    const loose = files.map(([name]) => path.join(dir, name));
    const inv = await inspectExport(loose, LIMITS);
    assert.equal(inv.kind, 'files');
    assert.deepEqual(inv.paths, loose);
    assert.deepEqual(
      inv.history.map((h) => [h.name, h.format]),
      [
        ['StreamingHistory_music_1.json', 'account_music'],
        ['Streaming_History_Audio_2022.json', 'extended'],
        ['Streaming_History_Video_2023.json', 'extended'],
      ],
    );
    assert.deepEqual(inv.ignored, []);
    const h = await hashExport(loose);
    assert.equal(await hashExport([...loose].reverse()), h);
    const flat = path.join(tmp, 'flat');
    await fs.mkdir(flat);
    for (const f of loose) await fs.copyFile(f, path.join(flat, path.basename(f)));
    assert.equal(await hashExport([flat]), h);
    for (const h of inv.history) {
      const dest = path.join(tmp, 'loose-out.json');
      await extractEntry(loose, h.name, dest, LIMITS);
      assert.ok((await fs.readFile(dest)).equals(await fs.readFile(loose.find((l) => l.endsWith(`/${h.name}`))!)));
      await fs.rm(dest);
    }
  });
});
