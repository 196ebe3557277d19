/**
 * The synthetic export generator (cli/demo/generate.ts): real Spotify layout and row format,
 * realistic contents, determinism, and a ZIP that yauzl reads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';
import { DEMO_FOLDER, writeDemoExport, writeDemoFolder, type DemoOptions } from '../../../cli/demo/generate.ts';

const KEYS = [
  'ts', 'platform', 'ms_played', 'conn_country', 'ip_addr', 'master_metadata_track_name',
  'master_metadata_album_artist_name', 'master_metadata_album_album_name', 'spotify_track_uri', 'episode_name',
  'episode_show_name', 'spotify_episode_uri', 'audiobook_title', 'audiobook_uri', 'audiobook_chapter_uri',
  'audiobook_chapter_title', 'reason_start', 'reason_end', 'shuffle', 'skipped', 'offline', 'offline_timestamp',
  'incognito_mode',
];
const TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const AUDIO = /^Spotify Extended Streaming History\/Streaming_History_Audio_(\d{4})(?:-(\d{4}))?_(\d+)\.json$/;
const VIDEO = /^Spotify Extended Streaming History\/Streaming_History_Video_(\d{4})(?:-(\d{4}))?\.json$/;
const PDF = `${DEMO_FOLDER}/ReadMeFirst_ExtendedStreamingHistory.pdf`;

type Row = Record<string, unknown>;

const END = new Date(Date.UTC(2025, 5, 30));
/** Small but multi-file export, quick to generate. */
const SMALL: DemoOptions = { seed: 7, streams: 6000, endDate: END, years: 3, rowsPerFile: 1800 };

let tmp: string;
let zipPath: string;
let entries: Map<string, { data: Buffer; method: number }>;
let result: Awaited<ReturnType<typeof writeDemoExport>>;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rewind-demo-test-'));
  zipPath = path.join(tmp, 'my_spotify_data.zip');
  result = await writeDemoExport(zipPath, SMALL);
  entries = await readZip(zipPath);
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function readZip(file: string): Promise<Map<string, { data: Buffer; method: number }>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      const out = new Map<string, { data: Buffer; method: number }>();
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            out.set(entry.fileName, { data: Buffer.concat(chunks), method: entry.compressionMethod });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

function audioRows(): Row[] {
  const rows: Row[] = [];
  for (const [name, e] of entries) if (AUDIO.test(name)) rows.push(...(JSON.parse(e.data.toString('utf8')) as Row[]));
  return rows;
}

test('same seed and options give a byte-identical ZIP; another seed does not', async () => {
  const again = path.join(tmp, 'again.zip');
  await writeDemoExport(again, SMALL);
  assert.equal(await sha256(again), await sha256(zipPath));
  const other = path.join(tmp, 'other.zip');
  await writeDemoExport(other, { ...SMALL, seed: 8 });
  assert.notEqual(await sha256(other), await sha256(zipPath));
});

test('the ZIP is readable by yauzl and laid out like Spotify\'s', async () => {
  const names = [...entries.keys()];
  assert.deepEqual(names, result.files);
  assert.equal(result.bytes, (await fs.stat(zipPath)).size);
  assert.ok(names.includes(PDF));
  assert.ok(entries.get(PDF)!.data.subarray(0, 5).equals(Buffer.from('%PDF-')));
  assert.ok(entries.get(PDF)!.data.toString('latin1').trimEnd().endsWith('%%EOF'));

  const audio = names.filter((n) => AUDIO.test(n));
  const video = names.filter((n) => VIDEO.test(n));
  assert.equal(audio.length, Math.ceil(audioRows().length / 1800), `audio files: ${audio.join(', ')}`);
  assert.equal(video.length, 1);
  assert.equal(names.length, audio.length + video.length + 1, 'nothing else in the archive');

  // Audio files are numbered 0..N-1 and named after the years of their rows.
  audio.forEach((name, i) => {
    const m = AUDIO.exec(name)!;
    assert.equal(Number(m[3]), i);
    const rows = JSON.parse(entries.get(name)!.data.toString('utf8')) as Row[];
    const years = rows.map((r) => Number(String(r.ts).slice(0, 4)));
    const lo = Math.min(...years);
    const hi = Math.max(...years);
    assert.equal(Number(m[1]), lo, name);
    assert.equal(m[2] === undefined ? lo : Number(m[2]), hi, name);
    if (lo === hi) assert.equal(m[2], undefined, 'a single-year file has no range');
  });
  // Every JSON entry is deflated, as in Spotify's archives.
  for (const n of [...audio, ...video]) assert.equal(entries.get(n)!.method, 8, n);
});

test('files are pretty-printed like Spotify\'s: 2-space indent, raw UTF-8, no trailing newline', () => {
  for (const [name, e] of entries) {
    if (name === PDF) continue;
    const text = e.data.toString('utf8');
    assert.ok(text.startsWith('[\n  {\n    "ts": "'), name);
    assert.ok(text.endsWith('\n  }\n]'), name);
    const rows = JSON.parse(text) as Row[];
    assert.equal(text, JSON.stringify(rows, null, 2), `${name} is exactly JSON.stringify(rows, null, 2)`);
  }
});

test('every row has the 23 keys of current exports, in order, with Spotify\'s value styles', () => {
  const names = [...entries.keys()].filter((n) => n !== PDF);
  let count = 0;
  for (const name of names) {
    for (const r of JSON.parse(entries.get(name)!.data.toString('utf8')) as Row[]) {
      count++;
      assert.deepEqual(Object.keys(r), KEYS);
      assert.match(String(r.ts), TS);
      assert.equal(typeof r.platform, 'string');
      assert.ok(Number.isInteger(r.ms_played) && (r.ms_played as number) >= 0);
      assert.match(String(r.conn_country), /^[A-Z]{2}$/);
      assert.equal(r.ip_addr, null);
      for (const k of ['audiobook_title', 'audiobook_uri', 'audiobook_chapter_uri', 'audiobook_chapter_title']) assert.equal(r[k], null);
      assert.equal(typeof r.reason_start, 'string');
      assert.equal(typeof r.reason_end, 'string');
      assert.equal(typeof r.shuffle, 'boolean');
      assert.equal(typeof r.skipped, 'boolean');
      assert.equal(typeof r.incognito_mode, 'boolean');
      if (r.spotify_track_uri !== null) {
        assert.match(String(r.spotify_track_uri), /^spotify:track:[0-9A-Za-z]{22}$/);
        assert.equal(r.spotify_episode_uri, null);
        assert.equal(typeof r.master_metadata_track_name, 'string');
        assert.equal(typeof r.master_metadata_album_artist_name, 'string');
        assert.equal(typeof r.master_metadata_album_album_name, 'string');
      }
      if (r.spotify_episode_uri !== null) {
        assert.match(String(r.spotify_episode_uri), /^spotify:episode:[0-9A-Za-z]{22}$/);
        assert.equal(r.master_metadata_track_name, null);
        assert.equal(typeof r.episode_name, 'string');
        assert.equal(typeof r.episode_show_name, 'string');
      }
    }
  }
  assert.equal(count, result.streams);
});

test('the play count is near the requested number and the history spans the requested years', () => {
  assert.ok(Math.abs(result.streams - 6000) / 6000 < 0.02, `streams ${result.streams}`);
  const rows = audioRows();
  assert.ok(Math.abs(rows.length - 6000) / 6000 < 0.03, `audio rows ${rows.length}`);
  const ts = rows.map((r) => Date.parse(String(r.ts))).sort((a, b) => a - b);
  const start = END.getTime() - 3 * 365.25 * 86_400_000;
  assert.ok(ts[0]! >= start - 2 * 86_400_000, `first ${new Date(ts[0]!).toISOString()}`);
  assert.ok(ts[0]! < start + 30 * 86_400_000, `first ${new Date(ts[0]!).toISOString()}`);
  assert.ok(ts[ts.length - 1]! < END.getTime() + 2 * 86_400_000, `last ${new Date(ts[ts.length - 1]!).toISOString()}`);
  assert.ok(ts[ts.length - 1]! > END.getTime() - 7 * 86_400_000);
});

test('contents are realistic: skips, complete plays, podcasts, nulls, zeros, offline, duplicates, unsorted runs', () => {
  const rows = audioRows();
  const tracks = rows.filter((r) => r.spotify_track_uri !== null);
  const episodes = rows.filter((r) => r.spotify_episode_uri !== null);
  const fwd = tracks.filter((r) => r.reason_end === 'fwdbtn').length / tracks.length;
  assert.ok(fwd > 0.12 && fwd < 0.3, `fwdbtn share ${fwd}`);
  assert.ok(tracks.some((r) => r.reason_end === 'fwdbtn' && r.skipped === true && (r.ms_played as number) < 30_000));
  assert.ok(tracks.some((r) => r.reason_start === 'trackdone' && r.reason_end === 'trackdone' && r.skipped === false));
  const shuffle = tracks.filter((r) => r.shuffle === true).length / tracks.length;
  assert.ok(shuffle > 0.2 && shuffle < 0.8, `shuffle share ${shuffle}`);

  assert.ok(episodes.length > 0, 'podcast rows');
  const msAll = rows.reduce((s, r) => s + (r.ms_played as number), 0);
  const msPod = episodes.reduce((s, r) => s + (r.ms_played as number), 0);
  assert.ok(msPod / msAll > 0.02 && msPod / msAll < 0.15, `podcast time share ${msPod / msAll}`);

  assert.ok(rows.some((r) => r.spotify_track_uri === null && r.spotify_episode_uri === null && r.master_metadata_track_name === null && r.episode_name === null), 'all-null rows');
  assert.ok(rows.some((r) => r.ms_played === 0), 'ms_played = 0 rows');
  const offline = rows.filter((r) => r.offline === true);
  assert.ok(offline.length > 0, 'offline rows');
  // offline_timestamp in seconds (10 digits) around the start of the stream.
  for (const r of offline) {
    const ots = r.offline_timestamp as number;
    if (ots === 0) continue;
    assert.ok(ots > 1e9 && ots < 1e10, `offline_timestamp ${ots}`);
    assert.ok(ots * 1000 <= Date.parse(String(r.ts)) + 2000);
  }
  assert.ok(rows.some((r) => r.incognito_mode === true), 'incognito rows');
  assert.ok(new Set(rows.map((r) => r.platform)).size >= 3, 'several platforms');

  const seen = new Set<string>();
  let dups = 0;
  for (const r of rows) {
    const k = JSON.stringify(r);
    if (seen.has(k)) dups++;
    seen.add(k);
  }
  assert.ok(dups > 0 && dups < rows.length * 0.01, `duplicates ${dups}`);

  // Not strictly sorted within a file, but made of sorted runs.
  let inversions = 0;
  for (const [name, e] of entries) {
    if (!AUDIO.test(name)) continue;
    const ts = (JSON.parse(e.data.toString('utf8')) as Row[]).map((r) => String(r.ts));
    for (let i = 1; i < ts.length; i++) if (ts[i]! < ts[i - 1]!) inversions++;
  }
  assert.ok(inversions > 0 && inversions < rows.length * 0.01, `inversions ${inversions}`);

  // A few artists dominate (Zipf-like), and the favourites change over the years.
  const byYear = new Map<string, Map<string, number>>();
  for (const r of tracks) {
    const y = String(r.ts).slice(0, 4);
    const m = byYear.get(y) ?? new Map<string, number>();
    m.set(String(r.master_metadata_album_artist_name), (m.get(String(r.master_metadata_album_artist_name)) ?? 0) + 1);
    byYear.set(y, m);
  }
  const tops = [...byYear.values()].filter((m) => [...m.values()].reduce((a, b) => a + b, 0) > 500).map((m) => {
    const sorted = [...m.entries()].sort((a, b) => b[1] - a[1]);
    const total = sorted.reduce((s, [, c]) => s + c, 0);
    const top10 = sorted.slice(0, 10).reduce((s, [, c]) => s + c, 0);
    assert.ok(top10 / total > 0.2, `top-10 artists share ${top10 / total}`);
    return sorted[0]![0];
  });
  assert.ok(new Set(tops).size > 1, `favourite artist changes over the years: ${tops.join(', ')}`);
});

test('video file: a few video-podcast rows', () => {
  const [name] = [...entries.keys()].filter((n) => VIDEO.test(n));
  const rows = JSON.parse(entries.get(name!)!.data.toString('utf8')) as Row[];
  assert.ok(rows.length > 0 && rows.length < result.streams * 0.02);
  for (const r of rows) {
    assert.deepEqual(Object.keys(r), KEYS);
    assert.equal(typeof r.spotify_episode_uri, 'string');
    assert.equal(r.spotify_track_uri, null);
  }
});

test('writeDemoFolder writes the same files as the ZIP holds', async () => {
  const dir = path.join(tmp, 'folder');
  const r = await writeDemoFolder(dir, SMALL);
  assert.deepEqual(r.files, result.files);
  assert.equal(r.streams, result.streams);
  let bytes = 0;
  for (const name of r.files) {
    const data = await fs.readFile(path.join(dir, ...name.split('/')));
    bytes += data.length;
    assert.ok(data.equals(entries.get(name)!.data), name);
  }
  assert.equal(r.bytes, bytes);
});

test('default file size resembles Spotify\'s: ~15,000 rows and 10-13 MB per audio file', async () => {
  const dir = path.join(tmp, 'sizes');
  const r = await writeDemoFolder(dir, { seed: 3, streams: 32_000, endDate: END });
  const audio = r.files.filter((n) => AUDIO.test(n));
  assert.equal(audio.length, 3);
  for (const name of audio.slice(0, -1)) {
    const data = await fs.readFile(path.join(dir, ...name.split('/')));
    const rows = JSON.parse(data.toString('utf8')) as Row[];
    assert.ok(rows.length >= 15_000 && rows.length <= 16_000, `${name}: ${rows.length} rows`);
    assert.ok(data.length > 10e6 && data.length < 13.5e6, `${name}: ${data.length} bytes`);
  }
  await fs.rm(dir, { recursive: true, force: true });
});
