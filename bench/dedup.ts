/**
 * npm run bench:dedup [-- --days N --seed S --jitter-ms J --item-jitter-ms K --debug]
 *
 * The matching rule between Web API plays and exported streams (sql/intermediate/int_plays_merged.sql)
 * on labelled data, through the real warehouse code (stageApiPlays / stageFile -> mergeStaged), in
 * both orders of arrival, beside two baselines computed in the same run on the same data:
 *   - exact timestamp: an API play is the exported stream of the same track whose ts equals played_at
 *     (cut to the second);
 *   - same track within 450 s: an API play is the nearest exported stream of the same track whose ts
 *     is within 450 s of played_at.
 * Target: precision and recall both >= 99.9 %.
 *
 * The labelled data (seeded, deterministic):
 *   - ground truth: a listener's streams over `days` days. Sessions of albums, playlists and
 *     favourites; the same track played twice or more in a row (repeat-one); skips (under 30 s, and
 *     a few after 30-60 s); partial plays; pauses of 10 s to 20 minutes inside a play; gaps of
 *     0-1.5 s between plays; offline sessions synced minutes to hours later.
 *   - the export view (Extended history): one row per stream, ts = the end cut to the second,
 *     ms_played = the time heard. Offline streams carry the ts of the sync (shared by the whole
 *     batch) and offline_timestamp = their real start.
 *   - the API view: the streams of 30 s or more. played_at is the end (85 %) or the start (15 %,
 *     the wall-clock start: before a pause), chosen per play, with jitter: a clock offset per
 *     listening session (sd J = 0.5 s, capped at 3 J) plus each item's own noise (sd K = 25 ms,
 *     capped at 3 K), 1 % late by 2-45 s; 2 % on a whole second, printed without milliseconds; offline
 *     batches listed at the plays' real times (70 %) or at the sync time, a few ms apart in the
 *     order played, consecutive tracks sometimes sharing one played_at (30 %). A track played twice in a row, listed at the end of the first
 *     play and the start of the second, gives the same track twice a moment apart. Polled every 3
 *     hours, each poll the last 50 plays (so polls overlap, and a long session between two polls
 *     loses plays, as the real API does); one merge per day of polls.
 *   - the export covers the first days - 30 of the period, the API the last days - 30: they overlap.
 * A pair is (API play, exported stream); precision = correct pairs / pairs found, recall = correct
 * pairs / true pairs (streams in both views). The rule's pairs are read back from the stored plays
 * (an exported row's api_played_at). It also prints how many streams end up stored twice or lost,
 * and pairs "interchangeable": a wrong pair between two plays of one track whose API items lie
 * within 2 s of each other (the end of one and the start of the next, put in the opposite order by
 * jitter), which the data cannot tell apart. --debug lists every wrong, missed, doubled or lost one.
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '../warehouse/duckdb.ts';
import { Layout } from '../warehouse/layout.ts';
import { mergeStaged, stageFile } from '../warehouse/plays.ts';
import { type ApiPlay, stageApiPlays } from '../warehouse/api-plays.ts';
import { playsSource } from '../warehouse/models.ts';
import { prng } from '../spotify/fake/catalogue.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const DAYS = arg('days', 180);
const SEED = arg('seed', 11);
const JITTER_MS = arg('jitter-ms', 500);
/**
 * Each API item's own noise, on top of its session's clock offset (sd 25 ms: the network jitter
 * between one client's reports). One clock stamps a session's plays, so the end of one play and the
 * start of the next keep their order unless their own noise is larger than the gap between them;
 * real polls list the same track twice 20-800 ms apart (../shared/real-data/api-notes.md). With
 * `--item-jitter-ms 100`, or the older `--jitter-ms 0 --item-jitter-ms 500` where every item had
 * its own 0.5 s, the end of a play and the start of its repeat often swap places, and no rule can
 * tell them apart: those pairs are counted apart as "interchangeable".
 */
const ITEM_JITTER_MS = arg('item-jitter-ms', 25);
const POLL_HOURS = 3;
const START = Date.UTC(2025, 0, 1);
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Seeded randomness

const rand = prng(SEED);
const uniform = (a: number, b: number) => a + (b - a) * rand();
const int = (a: number, b: number) => Math.floor(uniform(a, b + 1));
const chance = (p: number) => rand() < p;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
function normal(): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
/** Normal noise of standard deviation sd, capped at 3 sd. */
const capped = (sd: number) => Math.max(-3 * sd, Math.min(3 * sd, normal() * sd));

// ---------------------------------------------------------------------------------------------
// Ground truth

interface Track {
  uri: string;
  name: string;
  artist: string;
  album: string;
  albumUri: string;
  durationMs: number;
}

interface Stream {
  id: number;
  track: Track;
  /** Wall-clock start and end (ms since epoch); a pause makes end - start > msPlayed. */
  start: number;
  end: number;
  msPlayed: number;
  offline: boolean;
  /** When an offline stream reached Spotify (the export's ts of the whole batch). */
  syncedAt: number | null;
  offlineBatch: number | null;
  /** The session's clock offset between the API's played_at and the export's ts (ms). */
  clockOffset: number;
}

const ALBUMS = Array.from({ length: 300 }, (_, a) => {
  const artist = `Artist ${a % 120}`;
  const n = int(6, 14);
  return Array.from({ length: n }, (_, k): Track => ({
    uri: `spotify:track:b${a.toString(36)}t${k.toString(36)}${'x'.repeat(12)}`.slice(0, 36),
    name: `Song ${a}-${k}`,
    artist,
    album: `Album ${a}`,
    albumUri: `spotify:album:a${a}`,
    durationMs: chance(0.05) ? int(420_000, 720_000) : chance(0.05) ? int(45_000, 90_000) : int(140_000, 330_000),
  }));
});
const TRACKS = ALBUMS.flat();
const FAVOURITES = Array.from({ length: 60 }, () => pick(TRACKS));

function generateStreams(): Stream[] {
  const streams: Stream[] = [];
  let batch = 0;
  for (let d = 0; d < DAYS; d++) {
    const sessions = int(1, 4);
    let clock = START + d * DAY_MS + int(6, 9) * 3_600_000;
    for (let s = 0; s < sessions; s++) {
      clock += int(20, 240) * 60_000;
      const offline = chance(0.08);
      const offlineBatch = offline ? ++batch : null;
      const clockOffset = capped(JITTER_MS);
      const plays = int(8, 45);
      const mode = pick(['album', 'favourites', 'shuffle'] as const);
      const album = pick(ALBUMS);
      let previous: Track | null = null;
      let repeatLeft = 0;
      const sessionStreams: Stream[] = [];
      for (let p = 0; p < plays; p++) {
        let track: Track;
        if (previous && repeatLeft > 0) {
          track = previous;
          repeatLeft--;
        } else if (previous && chance(0.02)) {
          track = previous; // the same track again, right away
          repeatLeft = chance(0.3) ? int(1, 4) : 0;
        } else {
          track = mode === 'album' ? album[p % album.length]! : mode === 'favourites' ? pick(FAVOURITES) : pick(TRACKS);
        }
        const r = rand();
        const msPlayed =
          r < 0.17 ? int(0, 29_000) // a skip
            : r < 0.2 ? int(30_000, 60_000) // a late skip: still a play for the API
              : r < 0.3 ? int(60_000, Math.max(60_001, track.durationMs)) // stopped part-way
                : track.durationMs - int(0, 1_500); // to the end (crossfade)
        const pause = chance(0.03) ? int(10_000, 20 * 60_000) : 0;
        const start = clock;
        const end = start + msPlayed + pause;
        sessionStreams.push({ id: 0, track, start, end, msPlayed, offline, syncedAt: null, offlineBatch, clockOffset });
        clock = end + int(0, 1_500);
        previous = track;
      }
      if (offline) {
        const syncedAt = clock + int(5, 300) * 60_000;
        for (const st of sessionStreams) st.syncedAt = syncedAt;
      }
      streams.push(...sessionStreams);
    }
  }
  streams.sort((a, b) => a.end - b.end);
  streams.forEach((s, i) => (s.id = i + 1));
  return streams;
}

// ---------------------------------------------------------------------------------------------
// The two views

interface ExportRow {
  stream: Stream;
  ts: number; // ms, whole seconds
  json: Record<string, unknown>;
}

const isoSecond = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function exportView(streams: readonly Stream[], from: number, to: number): ExportRow[] {
  return streams
    .filter((s) => s.end >= from && s.end < to)
    .map((s) => {
      const ts = Math.floor((s.offline ? s.syncedAt! : s.end) / 1000) * 1000;
      return {
        stream: s,
        ts,
        json: {
          ts: isoSecond(ts),
          platform: 'android',
          ms_played: s.msPlayed,
          conn_country: 'DE',
          master_metadata_track_name: s.track.name,
          master_metadata_album_artist_name: s.track.artist,
          master_metadata_album_album_name: s.track.album,
          spotify_track_uri: s.track.uri,
          reason_start: 'trackdone',
          reason_end: s.msPlayed >= s.track.durationMs - 1500 ? 'trackdone' : 'fwdbtn',
          shuffle: false,
          skipped: s.msPlayed < 30_000,
          offline: s.offline,
          offline_timestamp: s.offline ? s.start / 1000 : 0,
          incognito_mode: false,
        },
      };
    });
}

interface ApiItem {
  stream: Stream;
  playedAt: string;
  at: number; // ms
}

/**
 * Every play the API lists (before polling): the streams of 30 s or more. An offline batch is
 * listed at the plays' real times (70 %) or at the time of the sync, a few ms apart in the order
 * played, some consecutive plays sharing one played_at (30 %).
 */
function apiItems(streams: readonly Stream[], from: number, to: number): ApiItem[] {
  const items: ApiItem[] = [];
  // `shared`: the tracks listed at `next` so far (one track is never listed twice at one played_at:
  // the API's (track, played_at) names a play, and consecutive polls repeat it)
  const batchMode = new Map<number, { mode: 'sync' | 'real'; next: number; shared: Set<string> }>();
  for (const s of [...streams].sort((a, b) => a.start - b.start)) {
    if (s.msPlayed < 30_000) continue;
    let at: number;
    let batch = s.offline ? batchMode.get(s.offlineBatch!) : undefined;
    if (s.offline && !batch) {
      batch = { mode: chance(0.3) ? 'sync' : 'real', next: s.syncedAt!, shared: new Set() };
      batchMode.set(s.offlineBatch!, batch);
    }
    if (batch?.mode === 'sync') {
      // The next played_at of the batch; a different track may share the previous one.
      if (batch.shared.size === 0 || batch.shared.has(s.track.uri) || !chance(0.3)) {
        batch.next += int(1, 40);
        batch.shared.clear();
      }
      batch.shared.add(s.track.uri);
      at = batch.next;
    } else {
      const base = chance(0.15) ? s.start : s.end;
      const jitter = chance(0.01) ? uniform(2_000, 45_000) : s.clockOffset + capped(ITEM_JITTER_MS);
      at = Math.round(base + jitter);
    }
    if (at < from || at >= to) continue;
    // A played_at printed without milliseconds is a time with .000 ms: 2 % of the plays listed at
    // their own time (not a batch listed at the sync) are made to fall on a whole second.
    const noMillis = batch?.mode !== 'sync' && chance(0.02);
    const shown = noMillis ? Math.floor(at / 1000) * 1000 : at;
    items.push({ stream: s, playedAt: noMillis ? isoSecond(shown) : new Date(shown).toISOString(), at: shown });
  }
  return items.sort((a, b) => a.at - b.at);
}

function toApiPlay(item: ApiItem): ApiPlay {
  const t = item.stream.track;
  return {
    playedAt: item.playedAt,
    trackUri: t.uri,
    trackName: t.name,
    durationMs: t.durationMs,
    artistName: t.artist,
    artistUris: [`spotify:artist:${t.artist.replace(/\W/g, '')}`],
    albumName: t.album,
    albumUri: t.albumUri,
    contextUri: null,
    contextType: null,
  };
}

/** Polls every POLL_HOURS: the last 50 plays played before the poll. Returns the polls per day. */
function polls(items: readonly ApiItem[], from: number, to: number): Map<number, ApiItem[][]> {
  const byDay = new Map<number, ApiItem[][]>();
  let i = 0;
  for (let t = from + POLL_HOURS * 3_600_000; t <= to + POLL_HOURS * 3_600_000; t += POLL_HOURS * 3_600_000) {
    while (i < items.length && items[i]!.at <= t) i++;
    const poll = items.slice(Math.max(0, i - 50), i).reverse();
    const day = Math.floor((t - 1) / DAY_MS);
    byDay.set(day, [...(byDay.get(day) ?? []), poll]);
  }
  return byDay;
}

// ---------------------------------------------------------------------------------------------
// Scoring

interface Score {
  pairs: number;
  correct: number;
  /** Wrong pairs between two streams of one track whose API items are within 2 s of each other. */
  interchangeable: number;
  truePairs: number;
}

/** streamId -> the time of its API item, and the stream itself: set by main. */
const apiTimeOf = new Map<number, number>();
const streamOf = new Map<number, Stream>();

/**
 * An API item paired with another stream of the same track, whose own API item lies within 2 s:
 * the data cannot tell the two apart (the end of one play and the start of the next, listed in
 * the opposite order by jitter), and both rows gain the same track's IDs either way.
 */
function interchangeable(apiStream: number, exportStream: number): boolean {
  const a = streamOf.get(apiStream);
  const x = streamOf.get(exportStream);
  const ta = apiTimeOf.get(apiStream);
  const tx = apiTimeOf.get(exportStream);
  return !!a && !!x && a.track.uri === x.track.uri && ta !== undefined && tx !== undefined && Math.abs(ta - tx) <= 2_000;
}

const pct = (n: number, d: number) => (d === 0 ? 'n/a' : `${((100 * n) / d).toFixed(3)} %`);

function score(found: Iterable<[number, number]>, truePairs: number): Score {
  const seen = new Set<string>();
  let correct = 0;
  let swapped = 0;
  for (const [apiStream, exportStream] of found) {
    const k = `${apiStream} ${exportStream}`;
    if (seen.has(k)) continue;
    seen.add(k);
    if (apiStream === exportStream) correct++;
    else if (interchangeable(apiStream, exportStream)) swapped++;
  }
  return { pairs: seen.size, correct, interchangeable: swapped, truePairs };
}

function baselineExact(items: readonly ApiItem[], rows: readonly ExportRow[]): [number, number][] {
  const byKey = new Map<string, ExportRow[]>();
  for (const r of rows) {
    const k = `${r.stream.track.uri} ${r.ts}`;
    byKey.set(k, [...(byKey.get(k) ?? []), r]);
  }
  const out: [number, number][] = [];
  for (const it of items) {
    for (const r of byKey.get(`${it.stream.track.uri} ${Math.floor(it.at / 1000) * 1000}`) ?? []) out.push([it.stream.id, r.stream.id]);
  }
  return out;
}

function baselineWindow(items: readonly ApiItem[], rows: readonly ExportRow[], windowMs: number): [number, number][] {
  const byTrack = new Map<string, ExportRow[]>();
  for (const r of rows) byTrack.set(r.stream.track.uri, [...(byTrack.get(r.stream.track.uri) ?? []), r]);
  const out: [number, number][] = [];
  for (const it of items) {
    let best: ExportRow | undefined;
    for (const r of byTrack.get(it.stream.track.uri) ?? []) {
      const d = Math.abs(r.ts - it.at);
      if (d <= windowMs && (!best || d < Math.abs(best.ts - it.at))) best = r;
    }
    if (best) out.push([it.stream.id, best.stream.id]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

interface RuleOutcome {
  found: [number, number][];
  storedRows: number;
  storedTwice: number;
  lost: number;
  mergeSeconds: number;
  merges: number;
  /** Streams stored more than once. */
  twice: number[];
}

async function runRule(
  root: string,
  order: 'api-first' | 'export-first',
  exportRows: readonly ExportRow[],
  pollsByDay: Map<number, ApiItem[][]>,
  streams: readonly Stream[],
  itemStream: Map<string, number>,
  inEither: Set<number>,
): Promise<RuleOutcome> {
  const home = path.join(root, order);
  const layout = new Layout(home);
  const db = await Db.open({ threads: 2, memoryLimit: '768MB' });
  let mergeSeconds = 0;
  let merges = 0;
  try {
    const exportFile = path.join(home, 'Streaming_History_Audio_2025.json');
    await fs.mkdir(home, { recursive: true });
    await fs.writeFile(exportFile, JSON.stringify(exportRows.map((r) => r.json)));
    const importExport = async () => {
      const outFile = path.join(home, 'staged', 'export.parquet');
      await stageFile(db, { jsonPath: exportFile, format: 'extended', importId: 'export-1', entry: path.basename(exportFile), outFile });
      const t0 = process.hrtime.bigint();
      await mergeStaged(db, layout, { userId: 'bench', stagedFiles: [outFile], timezone: 'UTC' });
      mergeSeconds += seconds(t0);
      merges++;
    };
    const sync = async () => {
      for (const [day, dayPolls] of [...pollsByDay].sort((a, b) => a[0] - b[0])) {
        const staged: string[] = [];
        for (const [i, poll] of dayPolls.entries()) {
          if (poll.length === 0) continue;
          const outFile = path.join(home, 'staged', `api-${day}-${i}.parquet`);
          await stageApiPlays(db, { plays: poll.map(toApiPlay), importId: `sync-${day}-${i}`, entry: 'recently-played', outFile });
          staged.push(outFile);
        }
        const t0 = process.hrtime.bigint();
        await mergeStaged(db, layout, { userId: 'bench', stagedFiles: staged, timezone: 'UTC' });
        mergeSeconds += seconds(t0);
        merges++;
      }
    };
    if (order === 'export-first') {
      await importExport();
      await sync();
    } else {
      await sync();
      await importExport();
    }
    const stored = await db.all<{ source: string; source_row: number; track_uri: string; api_played_at: string | null }>(
      `SELECT source, source_row, track_uri, api_played_at FROM (${await playsSource(layout, 'bench')})`,
    );
    const found: [number, number][] = [];
    const storedStreams = new Map<number, number>();
    const note = (id: number) => storedStreams.set(id, (storedStreams.get(id) ?? 0) + 1);
    for (const r of stored) {
      if (r.source === 'api') {
        const id = itemStream.get(`${r.track_uri} ${new Date(r.api_played_at!).getTime()}`);
        if (id === undefined) throw new Error(`unknown API play ${r.track_uri} ${r.api_played_at}`);
        note(id);
      } else {
        const id = exportRows[r.source_row - 1]!.stream.id;
        note(id);
        if (r.api_played_at !== null) {
          const apiId = itemStream.get(`${r.track_uri} ${new Date(r.api_played_at).getTime()}`);
          if (apiId === undefined) throw new Error(`unknown API play ${r.track_uri} ${r.api_played_at}`);
          found.push([apiId, id]);
        }
      }
    }
    let storedTwice = 0;
    for (const n of storedStreams.values()) if (n > 1) storedTwice += n - 1;
    let lost = 0;
    for (const id of inEither) {
      if (storedStreams.has(id)) continue;
      lost++;
      if (process.argv.includes('--debug')) {
        const st = streams.find((x) => x.id === id)!;
        const near = streams.filter((x) => Math.abs(x.start - st.start) < 600_000).map((x) => `#${x.id} ${x.track.name} ${new Date(x.start).toISOString()} ${x.msPlayed}${x.offline ? ' off ' + new Date(x.syncedAt!).toISOString() : ''}`);
        console.log(`LOST #${id} ${order}`, near, [...itemStream].filter(([, v]) => Math.abs(v - id) < 3));
      }
    }
    const twice = [...storedStreams].filter(([, n]) => n > 1).map(([id]) => id);
    return { found, storedRows: stored.length, storedTwice, lost, mergeSeconds, merges, twice };
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const t0 = process.hrtime.bigint();
  const streams = generateStreams();
  const end = START + DAYS * DAY_MS;
  const exportTo = end - 30 * DAY_MS;
  const apiFrom = START + 30 * DAY_MS;
  const exportRows = exportView(streams, START, exportTo);
  const items = apiItems(streams, apiFrom, end);
  const pollsByDay = polls(items, apiFrom, end);
  // What the API actually delivered: the items of at least one poll.
  const polled = new Map<string, ApiItem>();
  for (const dayPolls of pollsByDay.values()) for (const poll of dayPolls) for (const it of poll) polled.set(`${it.stream.track.uri} ${it.at}`, it);
  const polledItems = [...polled.values()];
  const itemStream = new Map(polledItems.map((it) => [`${it.stream.track.uri} ${it.at}`, it.stream.id]));
  for (const it of polledItems) if (!apiTimeOf.has(it.stream.id)) apiTimeOf.set(it.stream.id, it.at);
  for (const st of streams) streamOf.set(st.id, st);
  const exported = new Set(exportRows.map((r) => r.stream.id));
  const apiSeen = new Set(polledItems.map((it) => it.stream.id));
  const inBoth = new Set([...apiSeen].filter((id) => exported.has(id)));
  const inEither = new Set([...apiSeen, ...exported]);

  const root = mkdtempSync(path.join(os.tmpdir(), 'rewind-bench-dedup-'));
  try {
    const outcomes = {
      'api-first': await runRule(root, 'api-first', exportRows, pollsByDay, streams, itemStream, inEither),
      'export-first': await runRule(root, 'export-first', exportRows, pollsByDay, streams, itemStream, inEither),
    };
    const rows: [string, Score][] = [
      ['baseline: exact timestamp (ts = played_at cut to the second)', score(baselineExact(polledItems, exportRows), inBoth.size)],
      ['baseline: same track within 450 s (nearest)', score(baselineWindow(polledItems, exportRows, 450_000), inBoth.size)],
      ['rewind rule, API synced first, then the export imported', score(outcomes['api-first'].found, inBoth.size)],
      ['rewind rule, export imported first, then the API synced', score(outcomes['export-first'].found, inBoth.size)],
    ];
    const multi = streams.filter((s, i) => i > 0 && streams[i - 1]!.track.uri === s.track.uri).length;
    console.log(
      `labelled data: ${streams.length} streams over ${DAYS} days (seed ${SEED}); export view ${exportRows.length} rows ` +
        `(days 1-${DAYS - 30}); API view ${polledItems.length} distinct items from ${[...pollsByDay.values()].flat().length} polls ` +
        `(days 31-${DAYS}); ${inBoth.size} true pairs; ${multi} streams repeating the track before them; ` +
        `${streams.filter((s) => s.offline).length} offline streams; API jitter: session offset sd ${JITTER_MS} ms + item noise sd ${ITEM_JITTER_MS} ms`,
    );
    console.log('');
    console.log('| method | pairs found | correct | precision | recall | interchangeable | precision, recall with them |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, s] of rows) {
      const ok = s.correct + s.interchangeable;
      console.log(
        `| ${name} | ${s.pairs} | ${s.correct} | ${pct(s.correct, s.pairs)} | ${pct(s.correct, s.truePairs)} | ` +
          `${s.interchangeable} | ${pct(ok, s.pairs)}, ${pct(ok, s.truePairs)} |`,
      );
    }
    console.log('');
    for (const [order, o] of Object.entries(outcomes)) {
      console.log(
        `${order}: ${o.storedRows} plays stored for ${inEither.size} streams seen by either view; ` +
          `${o.storedTwice} stored twice, ${o.lost} lost; ${o.merges} merges in ${o.mergeSeconds.toFixed(1)} s`,
      );
    }
    if (process.argv.includes('--debug')) {
      const byId = new Map(streams.map((st) => [st.id, st]));
      const itemsOf = new Map<number, ApiItem[]>();
      for (const it of polledItems) itemsOf.set(it.stream.id, [...(itemsOf.get(it.stream.id) ?? []), it]);
      const fmt = (id: number) => {
        const st = byId.get(id)!;
        const iso = (ms: number) => new Date(ms).toISOString().slice(5, 23);
        return `#${id} ${st.track.name} ${iso(st.start)}..${iso(st.end)} ms=${st.msPlayed} dur=${st.track.durationMs}${st.offline ? ` offline sync=${iso(st.syncedAt!)}` : ''} api=[${(itemsOf.get(id) ?? []).map((it) => iso(it.at)).join(',')}] exported=${exported.has(id)}`;
      };
      const found = new Set(outcomes['api-first'].found.map(([a, x]) => `${a} ${x}`));
      for (const k of found) {
        const [a, x] = k.split(' ').map(Number) as [number, number];
        if (a !== x) console.log(`WRONG api ${fmt(a)}\n   -> exp ${fmt(x)}\n${[-3, -2, -1, 1, 2, 3].map((k) => byId.has(a + k) ? `      ${fmt(a + k)}` : '').join('\n')}`);
      }
      const paired = new Set(outcomes['api-first'].found.filter(([a, x]) => a === x).map(([a]) => a));
      for (const id of inBoth) if (!paired.has(id)) console.log(`MISSED ${fmt(id)}`);
      for (const [order, o] of Object.entries(outcomes)) {
        for (const id of o.twice) {
          console.log(`TWICE ${order} ${fmt(id)}\n${[-3, -2, -1, 1, 2, 3].map((k) => byId.has(id + k) ? `      ${fmt(id + k)}` : '').join('\n')}`);
        }
      }
    }
    const worst = Math.min(...rows.slice(2).flatMap(([, s]) => [s.correct / s.pairs, s.correct / s.truePairs]));
    const worstWith = Math.min(
      ...rows.slice(2).flatMap(([, s]) => [(s.correct + s.interchangeable) / s.pairs, (s.correct + s.interchangeable) / s.truePairs]),
    );
    console.log('');
    console.log(
      `target: precision and recall >= 99.9 % -> ${worst >= 0.999 ? 'met' : 'missed'} (worst ${(100 * worst).toFixed(3)} %); ` +
        `counting interchangeable pairs -> ${worstWith >= 0.999 ? 'met' : 'missed'} (worst ${(100 * worstWith).toFixed(3)} %); ` +
        `${seconds(t0).toFixed(0)} s in all`,
    );
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

await main();
