/**
 * Synthetic Spotify "Extended Streaming History" export, in the real file format, for demos,
 * tests and benchmarks.
 *
 * The output mimics what Spotify sends (see /work/shared/spotify-facts.md):
 *
 *   Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf
 *   Spotify Extended Streaming History/Streaming_History_Audio_<YYYY>[-<YYYY>]_<N>.json   (N = 0, 1, ...)
 *   Spotify Extended Streaming History/Streaming_History_Video_<YYYY>[-<YYYY>].json
 *
 * Each audio file is one pretty-printed JSON array (2-space indent, no trailing newline, raw UTF-8)
 * of about 15,000 rows with the 23 keys of current exports, in Spotify's order. The listener is
 * simulated: a made-up catalogue, a Zipf-like taste that drifts over the years, a daily rhythm in
 * Europe/Berlin, sessions per device, skips, podcasts, offline plays synced later, incognito sessions,
 * rows with all metadata null, ms_played = 0 rows, exact duplicate rows, trips abroad, and files whose
 * rows come in several sorted runs (like Spotify's files) rather than strictly in time order.
 *
 * Everything is derived from a seeded PRNG: the same options give byte-identical output (the ZIP's
 * DOS timestamps use the machine's local time zone, as yazl writes them; the JSON never depends on it).
 * Memory stays bounded: one file is generated, handed to the ZIP writer and released before the
 * next-but-one is generated.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';

// ---------------------------------------------------------------------------------------------
// Public API

export interface DemoOptions {
  /** PRNG seed. Default 42. */
  seed?: number;
  /** Approximate total number of streams (rows), audio + video. Default 60,000. */
  streams?: number;
  /** Last day of history (its UTC calendar date is taken as the listener's local last day).
   *  Default: 2026-10-31, fixed so the default output is deterministic. */
  endDate?: Date;
  /** Span of the history in years. Default 4. */
  years?: number;
  /** Rows per audio file. Default: about 15,000 (varies a little per file, like Spotify's).
   *  Mainly for tests that want several files from a small export. */
  rowsPerFile?: number;
}

export interface DemoResult {
  /** The ZIP path (writeDemoExport) or the folder (writeDemoFolder). */
  file: string;
  /** Rows written over all JSON files (audio + video, duplicates included). */
  streams: number;
  /** Entry names in the ZIP / paths relative to the folder, in write order. */
  files: string[];
  /** Size of the ZIP, or the total size of the files written to the folder. */
  bytes: number;
}

export const DEMO_FOLDER = 'Spotify Extended Streaming History';
export const DEMO_DEFAULT_END_DATE = new Date(Date.UTC(2026, 9, 31));

/** Writes the synthetic export as a deflated ZIP, laid out like Spotify's `my_spotify_data.zip`. */
export async function writeDemoExport(zipPath: string, options: DemoOptions = {}): Promise<DemoResult> {
  const sink = new ZipSink(zipPath, exportTime(options));
  try {
    const r = await generate(sink, options);
    const bytes = await sink.finish();
    return { file: zipPath, streams: r.streams, files: r.files, bytes };
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/** Writes the same content as loose files: `<dir>/Spotify Extended Streaming History/...`,
 *  i.e. what extracting the ZIP into `dir` gives. */
export async function writeDemoFolder(dir: string, options: DemoOptions = {}): Promise<DemoResult> {
  const sink = new FolderSink(dir);
  const r = await generate(sink, options);
  return { file: dir, streams: r.streams, files: r.files, bytes: sink.bytes };
}

// ---------------------------------------------------------------------------------------------
// Output sinks

interface Sink {
  add(name: string, data: Buffer): Promise<void>;
}

class FolderSink implements Sink {
  bytes = 0;
  constructor(private readonly dir: string) {}
  async add(name: string, data: Buffer): Promise<void> {
    const p = path.join(this.dir, ...name.split('/'));
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await fsp.writeFile(p, data);
    this.bytes += data.length;
  }
}

class ZipSink implements Sink {
  private readonly zip = new ZipFile();
  private readonly out: ReturnType<typeof createWriteStream>;
  private readonly done: Promise<void>;
  private failure: unknown = null;
  private readonly failed: Promise<never>;
  /** Resolves when the previously added entry has been read completely by the ZIP writer. */
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly zipPath: string,
    private readonly mtime: Date,
  ) {
    this.out = createWriteStream(zipPath);
    this.done = pipeline(this.zip.outputStream, this.out);
    let reject!: (e: unknown) => void;
    this.failed = new Promise<never>((_, rej) => (reject = rej));
    this.failed.catch(() => undefined);
    const fail = (e: unknown): void => {
      if (this.failure === null) this.failure = e ?? new Error('ZIP writing failed');
      reject(this.failure);
    };
    this.done.catch(fail);
    this.zip.on('error', fail);
  }

  async add(name: string, data: Buffer): Promise<void> {
    if (this.failure !== null) throw this.failure;
    // At most two entries pending: the one being compressed and this one.
    await Promise.race([this.inFlight, this.failed]);
    const input = new PassThrough({ highWaterMark: 1 << 20 });
    const consumed = once(input, 'end').then(() => undefined);
    consumed.catch(() => undefined);
    this.zip.addReadStream(input, name, { mtime: this.mtime, mode: 0o100644, size: data.length });
    for (let off = 0; off < data.length; off += 1 << 20) input.write(data.subarray(off, off + (1 << 20)));
    input.end();
    this.inFlight = consumed;
  }

  async finish(): Promise<number> {
    await Promise.race([this.inFlight, this.failed]);
    this.zip.end();
    await Promise.race([this.done, this.failed]);
    return (await fsp.stat(this.zipPath)).size;
  }

  abort(): void {
    this.out.destroy();
  }
}

function exportTime(options: DemoOptions): Date {
  const end = options.endDate ?? DEMO_DEFAULT_END_DATE;
  // The export is "delivered" a few days after the last day of history, at noon.
  const day = Math.floor(end.getTime() / DAY_MS);
  return new Date((day + 3) * DAY_MS + 12 * 3600_000);
}

// ---------------------------------------------------------------------------------------------
// PRNG and hashing

type Rng = () => number;

/** mulberry32: small, fast, good enough for synthetic data. Returns floats in [0, 1). */
function mulberry32(seed: number): Rng {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash32(...xs: number[]): number {
  let h = 0x811c9dc5 | 0;
  for (const x of xs) {
    h = Math.imul(h ^ (x | 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    h = Math.imul(h, 0x297a2d39);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const randInt = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
/** Standard normal (Box-Muller, one value). */
const gauss = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
/** Picks an index from a weight table. */
function pickWeighted(rng: Rng, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let r = rng() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return weights.length - 1;
}
/** First index i in cum[lo, hi) with cum[i] > x (cum is non-decreasing). */
function searchCum(cum: Float64Array, lo: number, hi: number, x: number): number {
  let a = lo;
  let b = hi - 1;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (cum[m]! > x) b = m;
    else a = m + 1;
  }
  return a;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function base62Id(rng: Rng): string {
  let s = '';
  for (let i = 0; i < 22; i++) s += BASE62[Math.floor(rng() * 62)];
  return s;
}

// ---------------------------------------------------------------------------------------------
// Time helpers (all epoch values in milliseconds unless named ...Sec / ...Day)

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

/** Start (UTC ms) of the Europe/Berlin summer-time period of a year, and its end. */
const dstCache = new Map<number, [number, number]>();
function dstRange(year: number): [number, number] {
  let r = dstCache.get(year);
  if (!r) {
    const lastSunday = (month: number): number => {
      const last = new Date(Date.UTC(year, month + 1, 0));
      return Date.UTC(year, month, last.getUTCDate() - last.getUTCDay(), 1);
    };
    r = [lastSunday(2), lastSunday(9)];
    dstCache.set(year, r);
  }
  return r;
}
/** Converts a Europe/Berlin wall-clock time (expressed as if it were UTC) to real UTC. */
function berlinToUtc(localMs: number): number {
  const guess = localMs - 3600_000;
  const [a, b] = dstRange(new Date(guess).getUTCFullYear());
  return guess >= a && guess < b ? localMs - 7200_000 : guess;
}

const TWO = Array.from({ length: 60 }, (_, i) => (i < 10 ? '0' : '') + i);
/** Formats UTC epoch seconds as `YYYY-MM-DDTHH:MM:SSZ`, caching the date part per day. */
class TsFormatter {
  private day = NaN;
  private prefix = '';
  private year = 0;
  private readonly cache = new Map<number, [string, number]>();
  format(sec: number): string {
    const d = Math.floor(sec / 86400);
    if (d !== this.day) {
      let c = this.cache.get(d);
      if (!c) {
        const iso = new Date(d * DAY_MS).toISOString();
        c = [iso.slice(0, 11), Number(iso.slice(0, 4))];
        if (this.cache.size > 4096) this.cache.clear();
        this.cache.set(d, c);
      }
      this.day = d;
      this.prefix = c[0];
      this.year = c[1];
    }
    const s = sec - d * 86400;
    const h = Math.floor(s / 3600);
    const m = Math.floor((s - h * 3600) / 60);
    return this.prefix + TWO[h]! + ':' + TWO[m]! + ':' + TWO[s - h * 3600 - m * 60]! + 'Z';
  }
  yearOf(sec: number): number {
    const d = Math.floor(sec / 86400);
    if (d !== this.day) this.format(d * 86400);
    return this.year;
  }
}

// ---------------------------------------------------------------------------------------------
// Names

const FIRST = ['Mara', 'Jonas', 'Lena', 'Kai', 'Ines', 'Noah', 'Elif', 'Theo', 'Zoë', 'Léa', 'Mika', 'Aurelia', 'Finn', 'Sasha', 'Nadia', 'Oskar', 'Ida', 'Ravi', 'June', 'Milo', 'Björn', 'Aino', 'Camille', 'Dario', 'Esme', 'Felix', 'Greta', 'Hugo', 'Isla', 'Jules', 'Kenji', 'Liv', 'Marlon', 'Nina', 'Otto', 'Paz', 'Quinn', 'Rosa', 'Silas', 'Tove', 'Uma', 'Vera', 'Wren', 'Yara', 'Zeno', 'Anouk', 'Bram', 'Chiara', 'Dagny', 'Emil', 'Farah', 'Gideon', 'Hana', 'Ilse', 'Joël', 'Kira', 'Lior', 'Malin', 'Nico', 'Orla', 'Pia', 'Rafael', 'Saoirse', 'Tomás', 'Ulla', 'Vito', 'Willem', 'Ximena', 'Yusuf', 'Zora'];
const LAST = ['Lindqvist', 'Okafor', 'Brandt', 'Moreau', 'Haddad', 'Kowalski', 'Sørensen', 'Vance', 'Ortega', 'Nakamura', 'Reyes', 'Falk', 'Hartmann', 'Delacroix', 'Ivanova', 'Quist', 'Mbeki', 'Rossi', 'Thorne', 'Ahlberg', 'Castellano', 'Dvořák', 'Eklund', 'Ferreira', 'Gallo', 'Holm', 'Iwata', 'Jansen', 'Kaur', 'Lund', 'Moss', 'Nørgaard', 'Park', 'Ramos', 'Stern', 'Tanaka', 'Ueda', 'Varga', 'Weiss', 'Young', 'Abara', 'Bellamy', 'Cruz', 'Duval', 'Engström', 'Fontaine', 'Grünewald', 'Halloran', 'Ishikawa', 'Jovanović', 'Kessler', 'Laurent', 'Mendes', 'Novak', "O'Connell", 'Petrov', 'Rinaldi', 'Szabó', 'Tran', 'Valdés'];
const ADJ = ['Velvet', 'Paper', 'Electric', 'Hollow', 'Golden', 'Quiet', 'Neon', 'Silver', 'Wild', 'Broken', 'Midnight', 'Crystal', 'Lazy', 'Burning', 'Frozen', 'Distant', 'Silent', 'Violet', 'Lucky', 'Gentle', 'Restless', 'Northern', 'Tidal', 'Static', 'Painted', 'Hidden', 'Copper', 'Bitter', 'Sweet', 'Lonely', 'Crimson', 'Faded', 'Endless', 'Little', 'Secret', 'Rusty', 'Atomic', 'Cosmic', 'Sleepy', 'Honest', 'Blue', 'Second-Hand', 'Borrowed', 'Electric', 'Analog', 'Slow', 'Heavy', 'Tender', 'Savage', 'Open', 'Glass', 'Marble', 'Plastic', 'Sunlit', 'Careless', 'Young', 'Ancient', 'Radio', 'Magnetic', 'Wandering'];
const NOUN = ['Harbor', 'Lantern', 'Fox', 'Mirror', 'River', 'Garden', 'Echo', 'Comet', 'Wolf', 'Signal', 'Ocean', 'Machine', 'Orchard', 'Satellite', 'Parade', 'Ghost', 'Tiger', 'Desert', 'Window', 'Engine', 'Feather', 'Thunder', 'Meadow', 'Circuit', 'Island', 'Canyon', 'Mountain', 'Lighthouse', 'Cathedral', 'Telephone', 'Postcard', 'Balloon', 'Compass', 'Hotel', 'Summer', 'Winter', 'Morning', 'Avenue', 'Kingdom', 'Shadow', 'Heart', 'Highway', 'Candle', 'Planet', 'Horizon', 'Stranger', 'Diamond', 'Sparrow', 'Cassette', 'Motel', 'Rocket', 'Arcade', 'Bridge', 'Wave', 'Forest', 'Storm', 'Daydream', 'Skyline', 'Fever', 'Paradise'];
const VERB = ['Dancing', 'Running', 'Falling', 'Waiting', 'Driving', 'Dreaming', 'Hiding', 'Burning', 'Drifting', 'Floating', 'Walking', 'Sleeping', 'Singing', 'Chasing', 'Leaving', 'Breathing', 'Talking', 'Swimming', 'Fading', 'Holding On'];
const PREP = ['in', 'on', 'under', 'through', 'across', 'into', 'after', 'before', 'beyond', 'with'];
const PHRASE = ["Don't Let Go", 'Stay a While', 'All My Friends', 'Come Home', 'Say It Again', 'Better Days', 'Take Me Back', "I'll Be There", 'Too Late', 'Hold Me Closer', 'Nothing Else', 'One More Night', 'Just Like Before', 'Here We Go', 'Not Tonight', 'Call Me Later', 'You & I', 'We Were Kings', 'Slow Motion', 'Heartbeat', 'Overthinking', 'Goodbye, Goodnight', 'Sunday Morning', '3 AM', 'Lost & Found', 'Every Little Thing', "It's Alright", 'Where We Are', 'Love Again', 'Weightless'];
const SHOW_TOPIC = ['Science', 'History', 'True Crime', 'Football', 'Design', 'Money', 'Tech', 'Film', 'Cooking', 'Philosophy', 'Music', 'Politics', 'Space', 'Comedy', 'Health', 'Startups', 'Books', 'Travel', 'Language', 'Gaming'];
const EP_PHRASE = ['Why We Sleep', 'The Long Game', 'What Nobody Tells You', 'A Brief History of Everything', 'Mailbag', 'Live from Berlin', 'The Big Interview', 'Year in Review', 'Behind the Scenes', 'Myths, Busted', 'The Future Is Weird', 'Q&A Special', 'How It Really Works', 'The Comeback', 'Small Things, Big Changes', 'A Conversation About Failure', 'Bonus Episode', 'Hot Takes', 'Deep Dive', 'Listener Questions', 'The One We Never Aired', 'Season Finale', 'What Happened Next', 'On Getting Lost', 'The Numbers Game'];

function plural(n: string): string {
  if (/(s|x|sh|ch)$/.test(n)) return n + 'es';
  if (/[^aeiou]y$/.test(n)) return n.slice(0, -1) + 'ies';
  if (n === 'Wolf') return 'Wolves';
  return n + 's';
}
function madeUpWord(rng: Rng): string {
  const syl = ['ka', 'lu', 'mi', 'ra', 'no', 've', 'si', 'to', 'ren', 'dal', 'ora', 'vin', 'qua', 'zel', 'mo', 'tia', 'bel', 'xo', 'fen', 'lyr', 'ae', 'nu', 'sto', 'rim', 'é', 'ø'];
  let w = '';
  const n = randInt(rng, 2, 3);
  for (let i = 0; i < n; i++) w += pick(rng, syl);
  return w.charAt(0).toUpperCase() + w.slice(1);
}
function artistName(rng: Rng): string {
  const r = rng();
  if (r < 0.3) return `${pick(rng, FIRST)} ${pick(rng, LAST)}`;
  if (r < 0.5) return `The ${pick(rng, ADJ)} ${plural(pick(rng, NOUN))}`;
  if (r < 0.62) return `${pick(rng, ADJ)} ${pick(rng, NOUN)}`;
  if (r < 0.74) return madeUpWord(rng);
  if (r < 0.8) return `${pick(rng, FIRST)} & The ${plural(pick(rng, NOUN))}`;
  if (r < 0.85) return `DJ ${madeUpWord(rng)}`;
  if (r < 0.9) return `${pick(rng, NOUN).toLowerCase()}${pick(rng, NOUN).toLowerCase()}`;
  if (r < 0.95) return `${pick(rng, NOUN)} ${pick(rng, NOUN)}`;
  return `${madeUpWord(rng)} ${pick(rng, LAST)}`;
}
function trackTitle(rng: Rng, artists: readonly string[]): string {
  const r = rng();
  let t: string;
  if (r < 0.28) t = `${pick(rng, ADJ)} ${pick(rng, NOUN)}`;
  else if (r < 0.45) t = pick(rng, NOUN);
  else if (r < 0.58) t = `${pick(rng, VERB)} ${pick(rng, PREP)} the ${pick(rng, NOUN)}`;
  else if (r < 0.78) t = pick(rng, PHRASE);
  else if (r < 0.86) t = `${plural(pick(rng, NOUN))}`;
  else if (r < 0.93) t = `${pick(rng, NOUN)} of ${pick(rng, NOUN)}`;
  else t = madeUpWord(rng);
  const s = rng();
  if (s < 0.05 && artists.length > 0) t += ` (feat. ${pick(rng, artists)})`;
  else if (s < 0.07) t += ` - Remastered ${randInt(rng, 2001, 2021)}`;
  else if (s < 0.09) t += ' - Live';
  else if (s < 0.1) t += ' - Acoustic';
  else if (s < 0.11) t += ' - Radio Edit';
  else if (s < 0.115) t += ` (From "${pick(rng, ADJ)} ${pick(rng, NOUN)}")`;
  return t;
}
function albumTitle(rng: Rng, artist: string): string {
  const r = rng();
  if (r < 0.3) return `${pick(rng, ADJ)} ${pick(rng, NOUN)}`;
  if (r < 0.45) return plural(pick(rng, NOUN));
  if (r < 0.52) return artist;
  if (r < 0.6) return `${pick(rng, NOUN)} ${pick(rng, ['II', 'III', 'IV', 'Vol. 1', 'Vol. 2', 'Pt. 1'])}`;
  if (r < 0.68) return `Songs for ${plural(pick(rng, NOUN))}`;
  if (r < 0.74) return `Live at the ${pick(rng, NOUN)}`;
  if (r < 0.82) return pick(rng, PHRASE);
  return `${pick(rng, VERB)} ${pick(rng, PREP)} the ${pick(rng, NOUN)}`;
}
function showName(rng: Rng, i: number): string {
  const topic = SHOW_TOPIC[i % SHOW_TOPIC.length]!;
  const r = rng();
  if (r < 0.2) return `The ${pick(rng, ADJ)} ${pick(rng, NOUN)} Podcast`;
  if (r < 0.35) return `${topic} Talk`;
  if (r < 0.5) return `${pick(rng, FIRST)} & ${pick(rng, FIRST)} Explain ${topic}`;
  if (r < 0.62) return `Daily ${topic} Briefing`;
  if (r < 0.74) return `Late Night ${topic}`;
  if (r < 0.86) return `${topic} for Curious People`;
  return `${pick(rng, ADJ)} ${topic} 🎙️`;
}

// ---------------------------------------------------------------------------------------------
// Catalogue

const J = (s: string): string => JSON.stringify(s);

interface Catalogue {
  nArtists: number;
  artistName: string[]; // JSON-encoded
  artistEraCenter: Float64Array; // ms
  artistEraWidth: Float64Array; // ms
  artistBase: Float64Array;
  artistDebut: Float64Array; // ms, first release
  artistAlbumStart: Int32Array; // albums of artist a: [start[a], start[a+1])
  albumName: string[]; // JSON-encoded
  albumRelease: Float64Array;
  albumTrackStart: Int32Array; // tracks of album b: [start[b], start[b+1])
  trackName: string[]; // JSON-encoded
  trackUri: string[]; // JSON-encoded
  trackArtist: Int32Array;
  trackAlbum: Int32Array;
  trackDuration: Int32Array; // ms
  trackSkipiness: Float32Array; // 0..1, how often this track gets skipped
  /** Cumulative within-artist track weights (artist's tracks are contiguous). */
  trackCum: Float64Array;
  shows: Show[];
}

interface Show {
  name: string; // JSON-encoded
  first: number; // ms, first episode release
  interval: number; // ms between episodes
  minMin: number; // episode length range, minutes
  maxMin: number;
  eraCenter: number;
  eraWidth: number;
  base: number;
  video: boolean;
  id: number;
}

function buildCatalogue(seed: number, streams: number, t0: number, t1: number): Catalogue {
  const rng = mulberry32(hash32(seed, 0xca7a));
  const nArtists = Math.max(120, Math.min(5000, Math.round(6 * Math.sqrt(streams))));
  const span = t1 - t0;
  const YEAR = 365.25 * DAY_MS;

  const names = new Set<string>();
  const rawNames: string[] = [];
  for (let a = 0; a < nArtists; a++) {
    let n = artistName(rng);
    for (let k = 0; names.has(n) && k < 20; k++) n = artistName(rng);
    if (names.has(n)) n = `${n} ${a}`;
    names.add(n);
    rawNames.push(n);
  }

  // Zipf base weight on a random rank order; eras spread over (and a bit beyond) the history.
  const rank = Array.from({ length: nArtists }, (_, i) => i);
  for (let i = nArtists - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [rank[i], rank[j]] = [rank[j]!, rank[i]!];
  }
  const artistBase = new Float64Array(nArtists);
  const artistEraCenter = new Float64Array(nArtists);
  const artistEraWidth = new Float64Array(nArtists);
  const artistDebut = new Float64Array(nArtists);
  for (let a = 0; a < nArtists; a++) {
    artistBase[a] = 1 / Math.pow(rank[a]! + 1.5, 1.1);
    artistEraCenter[a] = t0 - 0.4 * YEAR + rng() * (span + 0.7 * YEAR);
    // Most favourites last months to a couple of years; a few stay for a decade.
    const w = rng() < 0.08 ? 6 * YEAR : Math.exp(Math.log(0.55 * YEAR) + 0.6 * gauss(rng));
    artistEraWidth[a] = Math.max(50 * DAY_MS, w);
  }

  const albumNameArr: string[] = [];
  const albumRelease: number[] = [];
  const albumTrackStart: number[] = [];
  const artistAlbumStart = new Int32Array(nArtists + 1);
  const trackNameArr: string[] = [];
  const trackUriArr: string[] = [];
  const trackArtist: number[] = [];
  const trackAlbum: number[] = [];
  const trackDuration: number[] = [];
  const trackSkip: number[] = [];
  const trackW: number[] = [];

  for (let a = 0; a < nArtists; a++) {
    artistAlbumStart[a] = albumNameArr.length;
    const name = rawNames[a]!;
    // Favourites (low rank) tend to have larger catalogues.
    const extra = rank[a]! < 40 ? randInt(rng, 2, 5) : rank[a]! < 200 ? randInt(rng, 0, 2) : 0;
    const nAlbums = Math.min(14, 1 + extra + Math.floor(-Math.log(1 - rng()) * 2.2));
    // The debut comes before the artist's era (often long before the history starts).
    const debut = artistEraCenter[a]! - artistEraWidth[a]! * (0.8 + rng()) - rng() * 3 * YEAR;
    artistDebut[a] = debut;
    let release = debut;
    const firstTrackOfArtist = trackNameArr.length;
    for (let b = 0; b < nAlbums; b++) {
      const albumIdx = albumNameArr.length;
      const kind = b === 0 ? rng() * 0.8 + 0.2 : rng();
      const nTracks = kind < 0.35 ? randInt(rng, 1, 2) : kind < 0.5 ? randInt(rng, 4, 6) : randInt(rng, 8, 16);
      albumTrackStart.push(trackNameArr.length);
      albumRelease.push(release);
      let albumTitleRaw = '';
      for (let t = 0; t < nTracks; t++) {
        const title = trackTitle(rng, rawNames);
        if (t === 0) albumTitleRaw = nTracks <= 2 ? title : nTracks <= 6 && rng() < 0.5 ? `${title} EP` : albumTitle(rng, name);
        trackNameArr.push(J(title));
        trackUriArr.push(J('spotify:track:' + base62Id(rng)));
        trackArtist.push(a);
        trackAlbum.push(albumIdx);
        const sec = Math.min(360, Math.max(120, Math.exp(Math.log(205) + 0.25 * gauss(rng))));
        trackDuration.push(rng() < 0.3 ? Math.round(sec) * 1000 : Math.round(sec * 1000));
        trackSkip.push(rng());
        trackW.push(0);
      }
      albumNameArr.push(J(albumTitleRaw));
      release += (0.3 + rng() * 1.7) * YEAR * (nTracks <= 2 ? 0.4 : 1);
    }
    // Hits: Zipf over a random order of the artist's tracks.
    const n = trackNameArr.length - firstTrackOfArtist;
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let i = 0; i < n; i++) trackW[firstTrackOfArtist + order[i]!] = 1 / Math.pow(i + 1, 0.9);
  }
  artistAlbumStart[nArtists] = albumNameArr.length;
  albumTrackStart.push(trackNameArr.length);

  const trackCum = new Float64Array(trackW.length);
  for (let a = 0; a < nArtists; a++) {
    const from = albumTrackStart[artistAlbumStart[a]!]!;
    const to = albumTrackStart[artistAlbumStart[a + 1]!]!;
    let c = 0;
    for (let t = from; t < to; t++) trackCum[t] = c += trackW[t]!;
  }

  const nShows = 14 + Math.floor(rng() * 8);
  const shows: Show[] = [];
  for (let i = 0; i < nShows; i++) {
    const daily = rng() < 0.2;
    const minMin = daily ? 12 : 25 + Math.floor(rng() * 20);
    shows.push({
      name: J(showName(rng, i)),
      first: t0 - (0.5 + rng() * 4) * YEAR,
      interval: daily ? DAY_MS : rng() < 0.7 ? WEEK_MS : 14 * DAY_MS,
      minMin,
      maxMin: daily ? 30 : minMin + 30 + Math.floor(rng() * 70),
      eraCenter: t0 + rng() * span,
      eraWidth: Math.max(90 * DAY_MS, Math.exp(Math.log(0.8 * YEAR) + 0.5 * gauss(rng))),
      base: 1 / Math.pow(i + 1, 0.9),
      video: i % 4 === 1,
      id: i,
    });
  }

  return {
    nArtists,
    artistName: rawNames.map(J),
    artistEraCenter,
    artistEraWidth,
    artistBase,
    artistDebut,
    artistAlbumStart,
    albumName: albumNameArr,
    albumRelease: Float64Array.from(albumRelease),
    albumTrackStart: Int32Array.from(albumTrackStart),
    trackName: trackNameArr,
    trackUri: trackUriArr,
    trackArtist: Int32Array.from(trackArtist),
    trackAlbum: Int32Array.from(trackAlbum),
    trackDuration: Int32Array.from(trackDuration),
    trackSkipiness: Float32Array.from(trackSkip),
    trackCum,
    shows,
  };
}

/** Attributes of episode k of a show, derived from a hash so no episode list is stored. */
function episodeOf(seed: number, show: Show, k: number): { name: string; uri: string; durationMs: number; release: number } {
  const r = mulberry32(hash32(seed, 0xe915, show.id, k));
  const phrase = pick(r, EP_PHRASE);
  const style = show.id % 4;
  const raw =
    style === 0 ? `Ep. ${k + 1}: ${phrase}` : style === 1 ? `#${k + 1} – ${phrase}` : style === 2 ? `${phrase} (with ${pick(r, FIRST)} ${pick(r, LAST)})` : phrase;
  const durationMs = Math.round((show.minMin + r() * (show.maxMin - show.minMin)) * 60_000) + Math.floor(r() * 1000);
  return {
    name: J(raw),
    uri: J('spotify:episode:' + base62Id(r)),
    durationMs,
    release: show.first + k * show.interval + Math.floor(r() * 6 * 3600_000),
  };
}

// ---------------------------------------------------------------------------------------------
// Devices and platform strings

const enum Dev {
  Phone = 0,
  Desktop = 1,
  Laptop = 2,
  Cast = 3,
  Web = 4,
}
const N_DEV = 5;
/** Before this date, platform strings are the long device descriptions of older exports. */
const SHORT_PLATFORM_FROM = Date.UTC(2023, 0, 1);
/** Before this date, offline_timestamp is null for online rows and in milliseconds for offline rows. */
const OTS_SECONDS_FROM = Date.UTC(2021, 5, 1);
/** Before this date, video rows have offline and offline_timestamp null. */
const VIDEO_OFFLINE_FROM = Date.UTC(2025, 0, 1);

const ANDROID_VERSION: Record<number, string> = {
  21: '5.0', 22: '5.1.1', 23: '6.0.1', 24: '7.0', 25: '7.1.1', 26: '8.0.0', 27: '8.1.0', 28: '9', 29: '10', 30: '11',
  31: '12', 32: '12', 33: '13',
};

class Platforms {
  private readonly cache = new Map<string, string>();
  constructor(private readonly phoneSwitch: number) {}

  /** JSON-encoded platform string for a device at a time. */
  get(dev: Dev, t: number): string {
    const y = new Date(t).getUTCFullYear();
    const m = new Date(t).getUTCMonth();
    const short = t >= SHORT_PLATFORM_FROM;
    const key = `${dev}|${short ? 's' : y * 12 + m}|${dev === Dev.Phone && t >= this.phoneSwitch ? 1 : 0}|${dev === Dev.Web ? Math.floor(t / (7 * DAY_MS)) : 0}`;
    let s = this.cache.get(key);
    if (s === undefined) {
      s = J(this.raw(dev, t, y, m, short));
      this.cache.set(key, s);
    }
    return s;
  }

  private raw(dev: Dev, t: number, y: number, m: number, short: boolean): string {
    switch (dev) {
      case Dev.Phone:
        if (t >= this.phoneSwitch) {
          if (short) return 'ios';
          const major = Math.max(9, y - 2006 - (m < 8 ? 1 : 0));
          const minor = Math.min(7, Math.floor(((m + 4) % 12) / 2));
          return `iOS ${major}.${minor}${m % 3 === 0 ? '' : `.${m % 3}`} (iPhone${Math.max(8, y - 2008)},${1 + (y % 3)})`;
        } else {
          if (short) return 'android';
          const api = Math.max(21, Math.min(33, y - 1993 + (m >= 8 ? 1 : 0)));
          const ver = ANDROID_VERSION[api] ?? '13';
          return `Android OS ${ver} API ${api} (samsung, SM-G${y >= 2021 ? '991B' : y >= 2019 ? '973F' : '950F'})`;
        }
      case Dev.Desktop: {
        if (short) return 'windows';
        const build = y >= 2022 ? '19044' : y >= 2021 ? '19043' : y >= 2020 ? '19041' : y >= 2019 ? '18363' : '17134';
        return `Windows 10 (10.0.${build}; x64)`;
      }
      case Dev.Laptop:
        if (short) return 'osx';
        return y >= 2022 ? `OS X 12.${Math.min(6, m)}.0 [arm 2]` : y >= 2021 ? 'OS X 11.6.0 [arm 2]' : `OS X 10.15.${Math.min(7, m)} [x86 8]`;
      case Dev.Cast:
        if (short) return 'cast';
        return 'Partner google cast_tv;Chromecast;;1.56.281627';
      case Dev.Web: {
        // Chrome shipped every 6 weeks until version 94 (September 2021), every 4 weeks since.
        const v94 = Date.UTC(2021, 8, 21);
        const chrome = t < v94 ? 55 + Math.floor((t - Date.UTC(2016, 11, 1)) / (42 * DAY_MS)) : 94 + Math.floor((t - v94) / (28 * DAY_MS));
        return y >= 2020 ? `web_player windows 10;chrome ${chrome}.0.0.0;desktop` : `web_player windows 10;chrome ${chrome}.0;desktop`;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rows

const NULL = 'null';

interface Row {
  /** The `ts` value: end of the stream, UTC ms (offline sync and unexpected exits move it later). */
  ts: number;
  start: number;
  platform: string;
  dev: Dev;
  ms: number;
  cc: string;
  track: number; // -1 = none
  episodeName: string;
  showName: string;
  episodeUri: string;
  rs: string;
  re: string;
  shuffle: boolean;
  skipped: boolean;
  offline: boolean;
  incognito: boolean;
}

function formatOfflineTs(row: Row, rng: Rng): string {
  if (row.start < OTS_SECONDS_FROM) return row.offline ? String(Math.floor(row.start)) : NULL;
  if (row.dev === Dev.Cast && rng() < 0.5) return '0';
  const sec = Math.floor(row.start / 1000) + randInt(rng, -1, 1);
  if (rng() < 0.001) {
    const frac = randInt(rng, 10, 99) * 10 + randInt(rng, 1, 9); // no trailing zero, as JSON writes it
    return `${sec}.${frac}`;
  }
  return String(sec);
}

// ---------------------------------------------------------------------------------------------
// The simulation

const HOURS_WEEKDAY = [0.3, 0.15, 0.08, 0.05, 0.05, 0.15, 0.8, 2.2, 2.6, 1.6, 1.3, 1.3, 1.6, 1.4, 1.2, 1.3, 1.7, 2.4, 2.3, 1.8, 1.9, 2.0, 1.6, 0.8];
const HOURS_FRIDAY = [0.3, 0.15, 0.08, 0.05, 0.05, 0.15, 0.8, 2.1, 2.5, 1.5, 1.3, 1.3, 1.6, 1.4, 1.3, 1.5, 1.9, 2.5, 2.5, 2.3, 2.4, 2.5, 2.3, 1.7];
const HOURS_WEEKEND = [1.0, 0.7, 0.4, 0.2, 0.1, 0.1, 0.2, 0.4, 0.8, 1.3, 1.7, 1.9, 1.9, 1.8, 1.7, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.2, 1.9, 1.3];
/** Most sorted runs an audio file is made of. */
const MAX_RUNS = 9;
const TRIP_COUNTRIES = ['AT', 'IT', 'ES', 'FR', 'NL', 'DK', 'PT', 'GR', 'CH', 'HR', 'GB', 'SE', 'CZ', 'PL'];

interface Trip {
  from: number; // day index
  to: number; // day index, exclusive
  cc: string;
}

interface GenResult {
  streams: number;
  files: string[];
}

const enum Kind {
  Shuffle,
  Album,
  Radio,
  Repeat,
  Podcast,
}

async function generate(sink: Sink, options: DemoOptions): Promise<GenResult> {
  const seed = (options.seed ?? 42) | 0;
  const streams = Math.max(0, Math.round(options.streams ?? 60_000));
  const years = Math.max(0.1, options.years ?? 4);
  const end = options.endDate ?? DEMO_DEFAULT_END_DATE;
  if (!Number.isFinite(end.getTime())) throw new Error('endDate is not a valid date');
  const fixedPerFile = options.rowsPerFile !== undefined ? Math.max(1, Math.floor(options.rowsPerFile)) : 0;

  // Local calendar days (Europe/Berlin), represented as UTC midnights of the same dates.
  const lastDay = Math.floor(end.getTime() / DAY_MS);
  const nDays = Math.max(1, Math.round(years * 365.25));
  const firstDay = lastDay - nDays + 1;
  const t0 = firstDay * DAY_MS;
  const t1 = (lastDay + 1) * DAY_MS;
  const span = t1 - t0;

  const rng = mulberry32(hash32(seed, 0x5eed));
  const cat = buildCatalogue(seed, streams, t0, t1);
  const platforms = new Platforms(t0 + Math.floor(span * (0.4 + rng() * 0.15)));
  const laptopFrom = t0 + Math.floor(span * (0.25 + rng() * 0.2));
  const podcastFrom = t0 + Math.floor(span * rng() * 0.25);

  // ---- plan: trips, per-day row targets, per-day video rows
  const trips: Trip[] = [];
  for (let d = randInt(rng, 20, 120); d < nDays; d += randInt(rng, 60, 180)) {
    const len = randInt(rng, 3, 14);
    trips.push({ from: d, to: Math.min(nDays, d + len), cc: pick(rng, TRIP_COUNTRIES) });
    d += len;
  }
  const tripOn = new Int16Array(nDays).fill(-1);
  trips.forEach((t, i) => tripOn.fill(i, t.from, t.to));

  const videoTotal = streams >= 500 ? Math.round(streams * 0.002) + 3 : Math.min(3, Math.floor(streams / 100));
  const audioTotal = streams - videoTotal;

  const dayWeight = new Float64Array(nDays);
  let level = 0;
  for (let d = 0; d < nDays; d++) {
    if (d % 30 === 0) level = 0.7 * level + 0.3 * gauss(rng) * 0.6; // slow mood/season drift
    const wd = new Date((firstDay + d) * DAY_MS).getUTCDay();
    let w = [0.9, 1, 1, 1, 1, 1.1, 1.05][wd]! * Math.exp(level) * (0.8 + 0.4 * (d / nDays));
    const r = rng();
    if (r < 0.03) w = 0;
    else if (r < 0.08) w *= 0.3;
    else if (r < 0.11) w *= 1.8;
    if (tripOn[d]! >= 0) w *= 0.7;
    dayWeight[d] = w;
  }
  const audioPerDay = roundToTotal(dayWeight, audioTotal);
  const videoWeight = new Float64Array(nDays);
  for (let d = Math.floor(nDays * 0.4); d < nDays; d++) videoWeight[d] = rng() < 0.15 ? (d / nDays) * (0.5 + rng()) : 0;
  if (videoTotal > 0 && videoWeight.every((w) => w === 0)) videoWeight[nDays - 1] = 1;
  const videoPerDay = roundToTotal(videoWeight, videoTotal);

  // ---- output state
  const fmt = new TsFormatter();
  const files: string[] = [];
  let written = 0;
  let fileIndex = 0;
  let fileTarget = fixedPerFile || 15_000 + randInt(rng, 0, 900);
  // Rows of the file being built: serialised into one growing buffer, reordered at flush time.
  let rowBuf = Buffer.allocUnsafe(16 << 20);
  let rowBytes = 0;
  let fTs: number[] = []; // ts (ms) per row
  let fBucket: number[] = []; // run per row
  let fOff: number[] = []; // byte offset of each row in rowBuf
  let fLen: number[] = []; // byte length of each row
  let sessionBucket = 0;
  let fileBuckets = 0;
  const newFileBuckets = (): void => {
    fileBuckets = randInt(rng, 2, MAX_RUNS);
  };
  newFileBuckets();
  const videoRows: { ts: number; str: string }[] = [];

  const flushFile = async (): Promise<void> => {
    if (fTs.length === 0) return;
    // Spotify's files come in several runs, each sorted by ts; runs overlap in time.
    const runOrder = Array.from({ length: MAX_RUNS }, (_, i) => i);
    for (let i = runOrder.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [runOrder[i], runOrder[j]] = [runOrder[j]!, runOrder[i]!];
    }
    const pos = new Int32Array(MAX_RUNS);
    runOrder.forEach((b, i) => (pos[b] = i));
    const n = fTs.length;
    const ordered = runOrderOf(n, (i) => pos[fBucket[i]!]!, (i) => fTs[i]!);
    let minY = Infinity;
    let maxY = -Infinity;
    for (const t of fTs) {
      const y = fmt.yearOf(Math.floor(t / 1000));
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    let size = 4 + Math.max(0, n - 1) * 2;
    for (const l of fLen) size += l;
    const data = Buffer.allocUnsafe(size);
    let at = data.write('[\n', 0, 'latin1');
    for (let k = 0; k < n; k++) {
      const i = ordered[k]!;
      if (k > 0) at += data.write(',\n', at, 'latin1');
      at += rowBuf.copy(data, at, fOff[i]!, fOff[i]! + fLen[i]!);
    }
    at += data.write('\n]', at, 'latin1');
    const name = `${DEMO_FOLDER}/Streaming_History_Audio_${minY === maxY ? minY : `${minY}-${maxY}`}_${fileIndex}.json`;
    fileIndex++;
    written += n;
    fTs = [];
    fBucket = [];
    fOff = [];
    fLen = [];
    rowBytes = 0;
    files.push(name);
    await sink.add(name, data);
    fileTarget = fixedPerFile || 15_000 + randInt(rng, 0, 900);
    newFileBuckets();
  };

  const pdfName = `${DEMO_FOLDER}/ReadMeFirst_ExtendedStreamingHistory.pdf`;
  files.push(pdfName);
  await sink.add(pdfName, readMePdf());

  // ---- serialisation
  const serialize = (row: Row): string => {
    const t = row.track;
    let tn = NULL;
    let an = NULL;
    let al = NULL;
    let tu = NULL;
    if (t >= 0) {
      tn = cat.trackName[t]!;
      an = cat.artistName[cat.trackArtist[t]!]!;
      al = cat.albumName[cat.trackAlbum[t]!]!;
      tu = cat.trackUri[t]!;
    }
    return `  {
    "ts": "${fmt.format(Math.floor(row.ts / 1000))}",
    "platform": ${row.platform},
    "ms_played": ${row.ms},
    "conn_country": "${row.cc}",
    "ip_addr": null,
    "master_metadata_track_name": ${tn},
    "master_metadata_album_artist_name": ${an},
    "master_metadata_album_album_name": ${al},
    "spotify_track_uri": ${tu},
    "episode_name": ${row.episodeName},
    "episode_show_name": ${row.showName},
    "spotify_episode_uri": ${row.episodeUri},
    "audiobook_title": null,
    "audiobook_uri": null,
    "audiobook_chapter_uri": null,
    "audiobook_chapter_title": null,
    "reason_start": "${row.rs}",
    "reason_end": "${row.re}",
    "shuffle": ${row.shuffle},
    "skipped": ${row.skipped},
    "offline": ${row.offline},
    "offline_timestamp": ${formatOfflineTs(row, rng)},
    "incognito_mode": ${row.incognito}
  }`;
  };

  const pushAudio = async (ts: number, str: string, duplicate: boolean): Promise<void> => {
    if (duplicate && fOff.length > 0) {
      fOff.push(fOff[fOff.length - 1]!);
      fLen.push(fLen[fLen.length - 1]!);
    } else {
      if (rowBytes + str.length * 3 > rowBuf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(rowBuf.length * 2, rowBytes + str.length * 3));
        rowBuf.copy(bigger, 0, 0, rowBytes);
        rowBuf = bigger;
      }
      const len = rowBuf.write(str, rowBytes);
      fOff.push(rowBytes);
      fLen.push(len);
      rowBytes += len;
    }
    fTs.push(ts);
    fBucket.push(sessionBucket);
    if (fTs.length >= fileTarget) await flushFile();
    // Let the event loop run now and then, so the ZIP writer keeps compressing (on the thread
    // pool) while rows are generated.
    else if ((fTs.length & 255) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const emitAudio = (row: Row): Promise<void> => pushAudio(row.ts, serialize(row), false);

  // ---- taste tables, recomputed weekly
  const artistCum = new Float64Array(cat.nArtists);
  let tasteWeek = -1;
  const showW: number[] = new Array<number>(cat.shows.length).fill(0);
  const updateTaste = (t: number): void => {
    const week = Math.floor((t - t0) / WEEK_MS);
    if (week === tasteWeek) return;
    tasteWeek = week;
    const wt = t0 + week * WEEK_MS;
    let c = 0;
    for (let a = 0; a < cat.nArtists; a++) {
      let w = 0;
      if (cat.artistDebut[a]! <= wt) {
        const z = (wt - cat.artistEraCenter[a]!) / cat.artistEraWidth[a]!;
        w = cat.artistBase[a]! * (0.025 + Math.exp(-0.5 * z * z));
      }
      artistCum[a] = c += w;
    }
    cat.shows.forEach((s, i) => {
      const z = (wt - s.eraCenter) / s.eraWidth;
      showW[i] = s.first <= wt ? s.base * (0.02 + Math.exp(-0.5 * z * z)) : 0;
    });
  };

  const sampleArtist = (): number => searchCum(artistCum, 0, cat.nArtists, rng() * artistCum[cat.nArtists - 1]!);
  const artistTracks = (a: number): [number, number] => [
    cat.albumTrackStart[cat.artistAlbumStart[a]!]!,
    cat.albumTrackStart[cat.artistAlbumStart[a + 1]!]!,
  ];
  const released = (t: number, now: number): boolean => cat.albumRelease[cat.trackAlbum[t]!]! <= now;
  const sampleTrackOf = (a: number, now: number): number => {
    const [from, to] = artistTracks(a);
    // New releases get extra plays for a couple of months.
    if (rng() < 0.2) {
      for (let b = cat.artistAlbumStart[a + 1]! - 1; b >= cat.artistAlbumStart[a]!; b--) {
        const rel = cat.albumRelease[b]!;
        if (rel <= now && now - rel < 75 * DAY_MS) {
          return randInt(rng, cat.albumTrackStart[b]!, cat.albumTrackStart[b + 1]! - 1);
        }
      }
    }
    for (let k = 0; k < 6; k++) {
      // trackCum restarts at each artist: search on the artist's own range.
      const x = rng() * cat.trackCum[to - 1]!;
      const t = searchCum(cat.trackCum, from, to, x);
      if (released(t, now)) return t;
    }
    return from; // first track of the debut, released before the artist gets any weight
  };
  const sampleTrack = (now: number): number => sampleTrackOf(sampleArtist(), now);

  // ---- podcast state
  const inProgress = new Map<number, { k: number; pos: number }>();
  const latestEpisode = (s: Show, now: number): number => {
    let k = Math.max(0, Math.floor((now - s.first) / s.interval));
    while (k > 0 && episodeOf(seed, s, k).release > now) k--;
    return k;
  };

  // ---- device clocks (UTC ms): a device plays one thing at a time
  const clock = new Float64Array(N_DEV).fill(-Infinity);

  const chooseDevice = (hour: number, weekend: boolean, trip: boolean, t: number): Dev => {
    const laptop = t >= laptopFrom;
    let w: number[];
    if (trip) w = [0.93, 0, laptop ? 0.05 : 0, 0, 0.02];
    else if (hour < 6) w = [0.85, 0.15, 0, 0, 0];
    else if (!weekend && hour >= 9 && hour < 17) w = [0.3, laptop ? 0.12 : 0.5, laptop ? 0.48 : 0, 0, 0.1];
    else if (!weekend && ((hour >= 7 && hour < 9) || (hour >= 17 && hour < 19))) w = [0.92, 0.05, 0, 0, 0.03];
    else w = [0.45, 0.3, 0, 0.2, 0.05];
    return pickWeighted(rng, w) as Dev;
  };

  const SESSION_START = ['clickrow', 'playbtn', 'appload', 'remote', 'trackdone', 'unknown', 'fwdbtn', 'backbtn'];
  const SESSION_START_W = [40, 22, 20, 6, 5, 2, 3, 2];
  const SESSION_END = ['endplay', 'logout', 'trackdone', 'unexpected-exit-while-paused', 'unexpected-exit', 'remote', 'unknown', 'trackerror'];
  const SESSION_END_W = [40, 25, 15, 8, 3, 5, 2, 0.5];

  // ---- the day loop
  for (let d = 0; d < nDays; d++) {
    const dayStartLocal = (firstDay + d) * DAY_MS;
    const wd = new Date(dayStartLocal).getUTCDay();
    const weekend = wd === 0 || wd === 6;
    const profile = weekend ? HOURS_WEEKEND : wd === 5 ? HOURS_FRIDAY : HOURS_WEEKDAY;
    const trip = tripOn[d]! >= 0 ? trips[tripOn[d]!]! : null;
    const cc = trip ? trip.cc : 'DE';
    updateTaste(dayStartLocal);

    // Sessions: draw lengths until the day's rows are covered, then start times. Sessions that
    // come out shorter than planned (podcasts, repeats) leave rows for another round.
    let left = audioPerDay[d]!;
    for (let round = 0; left > 0 && round < 6; round++) {
      const plans: { start: number; len: number; hour: number }[] = [];
      for (let planned = 0; planned < left; ) {
        const len = Math.min(left - planned, 1 + Math.floor(-Math.log(1 - rng()) * 11));
        const hour = pickWeighted(rng, profile);
        plans.push({ start: berlinToUtc(dayStartLocal + hour * 3600_000 + Math.floor(rng() * 3600_000)), len, hour });
        planned += len;
      }
      plans.sort((a, b) => a.start - b.start);

      for (const plan of plans) {
        if (left <= 0) break;
        let dev = chooseDevice(plan.hour, weekend, trip !== null, plan.start);
        // A device plays one thing at a time. If it is still busy long after the session should
        // start, use another free device; if all are busy (only at implausible stream counts),
        // play anyway so the history stays within its dates.
        const latest = plan.start + 2 * 3600_000;
        if (clock[dev]! > latest) {
          for (let k = 0; k < N_DEV; k++) {
            if (k === Dev.Laptop && plan.start < laptopFrom) continue;
            if (clock[k]! <= latest && (clock[dev]! > latest || clock[k]! < clock[dev]!)) dev = k as Dev;
          }
        }
        const gap = randInt(rng, 20_000, 900_000);
        let now = clock[dev]! > latest ? plan.start : Math.max(plan.start, clock[dev]! + gap);
        const platform = platforms.get(dev, now);
        const commute = !weekend && ((plan.hour >= 7 && plan.hour < 9) || (plan.hour >= 17 && plan.hour < 19));
        const offline = dev === Dev.Phone && rng() < (trip ? 0.25 : commute ? 0.08 : 0.02);
        const syncLater = offline && rng() < 0.4;
        const incognito = rng() < 0.005;
        sessionBucket = rng() < 0.55 ? 0 : 1 + Math.floor(rng() * (fileBuckets - 1));

        // Podcasts take ~5-10% of the listening time whatever the density: a podcast session
        // replaces a music session of plan.len rows, so short sessions make podcasts rarer.
        const podcastP = now >= podcastFrom ? (commute ? 0.2 : plan.hour < 9 ? 0.13 : 0.055) * Math.min(1, plan.len / 11) : 0;
        const kindR = rng();
        const kind: Kind =
          dev !== Dev.Cast && kindR < podcastP
            ? Kind.Podcast
            : rng() < 0.48
              ? Kind.Shuffle
              : rng() < 0.45
                ? Kind.Album
                : rng() < 0.85
                  ? Kind.Radio
                  : Kind.Repeat;

        const rows: Row[] = [];
        const base = (start: number, ms: number, rs: string, re: string): Row => ({
          ts: start + ms,
          start,
          platform,
          dev,
          ms,
          cc,
          track: -1,
          episodeName: NULL,
          showName: NULL,
          episodeUri: NULL,
          rs,
          re,
          shuffle: false,
          skipped: false,
          offline,
          incognito,
        });
        let rs = SESSION_START[pickWeighted(rng, SESSION_START_W)]!;

        if (kind === Kind.Podcast) {
          const nEp = Math.min(plan.len, randInt(rng, 1, 3));
          let show = cat.shows[pickWeighted(rng, showW)]!;
          let budget = randInt(rng, 8, 70) * 60_000;
          for (let i = 0; i < nEp && budget > 0; i++) {
            let st = inProgress.get(show.id);
            if (!st || rng() < 0.15) {
              const latest = latestEpisode(show, now);
              st = { k: rng() < 0.75 ? latest : Math.max(0, latest - randInt(rng, 1, 20)), pos: 0 };
            }
            const ep = episodeOf(seed, show, st.k);
            const remaining = ep.durationMs - st.pos;
            let ms: number;
            let re: string;
            if (rng() < 0.06) {
              ms = randInt(rng, 0, 25_000); // a quick check-in
              re = pick(rng, ['endplay', 'fwdbtn', 'clickrow', 'logout']);
            } else if (remaining <= budget) {
              ms = remaining;
              re = 'trackdone';
            } else {
              ms = budget;
              re = pick(rng, ['endplay', 'endplay', 'logout', 'unexpected-exit-while-paused', 'remote']);
            }
            const row = base(now, ms, rs, re);
            row.episodeName = ep.name;
            row.showName = show.name;
            row.episodeUri = ep.uri;
            row.skipped = ms < 30_000 && re !== 'trackdone';
            rows.push(row);
            budget -= ms;
            if (re === 'trackdone') inProgress.delete(show.id);
            else inProgress.set(show.id, { k: st.k, pos: Math.min(ep.durationMs - 1000, st.pos + ms) });
            now += ms + randInt(rng, 200, 2500);
            if (re === 'trackdone') {
              rs = 'trackdone'; // autoplay: next episode of the same show
              const next = inProgress.get(show.id);
              if (!next) inProgress.set(show.id, { k: Math.min(latestEpisode(show, now), st.k + 1), pos: 0 });
            } else {
              rs = pick(rng, ['clickrow', 'playbtn', 'clickrow']);
              show = cat.shows[pickWeighted(rng, showW)]!;
              now += randInt(rng, 5_000, 120_000);
            }
          }
        } else {
          const shuffle = kind === Kind.Shuffle || (kind === Kind.Radio && rng() < 0.3);
          const skipBase = kind === Kind.Shuffle ? 0.3 : kind === Kind.Radio ? 0.24 : kind === Kind.Album ? 0.1 : 0.03;
          let artist = sampleArtist();
          let albumCursor = -1;
          let albumEnd = -1;
          if (kind === Kind.Album) {
            const from = cat.artistAlbumStart[artist]!;
            const to = cat.artistAlbumStart[artist + 1]!;
            let b = from;
            for (let k = 0; k < 4; k++) {
              const c = randInt(rng, from, to - 1);
              if (cat.albumRelease[c]! <= now) b = Math.max(b, c);
            }
            albumCursor = cat.albumTrackStart[b]!;
            albumEnd = cat.albumTrackStart[b + 1]!;
            if (rng() < 0.3) albumCursor = randInt(rng, albumCursor, albumEnd - 1);
          }
          const repeatTrack = kind === Kind.Repeat ? sampleTrack(now) : -1;
          const repeats = randInt(rng, 2, 5); // then autoplay takes over
          let prev = -1;
          let replay = -1;
          for (let i = 0; i < plan.len; i++) {
            let track: number;
            if (replay >= 0) track = replay;
            else if (kind === Kind.Repeat && i < repeats) track = repeatTrack;
            else if (albumCursor >= 0 && albumCursor < albumEnd) track = albumCursor++;
            else if (kind === Kind.Radio && rng() < 0.6) track = sampleTrackOf(artist, now);
            else track = sampleTrack(now);
            if (track === prev && kind !== Kind.Repeat && replay < 0) track = sampleTrack(now);
            replay = -1;
            if (kind === Kind.Radio && rng() < 0.05) artist = sampleArtist();
            prev = track;

            const dur = cat.trackDuration[track]!;
            const last = i === plan.len - 1 || rows.length + 1 >= left;
            let ms: number;
            let re: string;
            let skipped = false;
            const r = rng();
            const pSkip = skipBase * (0.4 + 1.3 * cat.trackSkipiness[track]!);
            if (r < 0.007) {
              ms = 0;
              re = pick(rng, ['fwdbtn', 'fwdbtn', 'endplay', 'trackerror', 'clickrow']);
              skipped = re !== 'trackerror';
            } else if (last) {
              re = SESSION_END[pickWeighted(rng, SESSION_END_W)]!;
              if (re === 'trackdone') ms = dur;
              else if (re === 'trackerror') ms = randInt(rng, 0, 3000);
              else ms = Math.floor(dur * (0.03 + 0.94 * rng()));
              skipped = re === 'endplay' && ms < dur * 0.8;
            } else if (r < 0.007 + pSkip) {
              const q = rng();
              ms = q < 0.4 ? randInt(rng, 300, 5000) : q < 0.85 ? randInt(rng, 5000, 40_000) : randInt(rng, 40_000, 120_000);
              ms = Math.min(ms, dur - 1000);
              re = rng() < 0.9 ? 'fwdbtn' : 'backbtn';
              skipped = re === 'fwdbtn' ? rng() < 0.96 : rng() < 0.5;
              if (re === 'backbtn') replay = rng() < 0.6 || i === 0 ? track : prev;
            } else if (r < 0.007 + pSkip + 0.04) {
              ms = Math.floor(dur * (0.02 + 0.6 * rng()));
              re = 'endplay'; // another row was clicked
              skipped = true;
            } else {
              ms = rng() < 0.7 ? dur : Math.max(0, dur - randInt(rng, 1, 3000));
              re = 'trackdone';
            }
            const row = base(now, ms, rs, re);
            row.track = rng() < 0.0025 ? -1 : track; // unavailable content: every metadata key null
            row.shuffle = shuffle;
            row.skipped = skipped;
            rows.push(row);
            // Pauses make the wall-clock time longer than ms_played.
            let wall = ms;
            if (rng() < 0.04) wall += randInt(rng, 5_000, 1_800_000);
            row.ts = now + wall;
            now += wall + (re === 'trackdone' ? randInt(rng, 0, 400) : randInt(rng, 100, 1500));
            rs = re === 'endplay' ? 'clickrow' : re === 'trackdone' || re === 'fwdbtn' || re === 'backbtn' ? re : pick(rng, ['clickrow', 'playbtn']);
            if (rows.length >= left) break;
          }
        }

        // Post-processing: unexpected exits are logged when the app opens again; offline plays
        // synced later all get (nearly) the same ts.
        for (const row of rows) {
          if (row.re === 'unexpected-exit' || row.re === 'unexpected-exit-while-paused') {
            if (rng() < 0.6) row.ts += randInt(rng, 60_000, 14 * 3600_000);
          }
        }
        clock[dev] = Math.max(clock[dev]!, now);
        if (syncLater) {
          let sync = now + randInt(rng, 10 * 60_000, 8 * 3600_000);
          for (const row of rows) {
            if (rng() < 0.3) sync += 1000;
            row.ts = sync;
          }
        }

        for (const row of rows) {
          if (left <= 0) break;
          const str = serialize(row);
          await pushAudio(row.ts, str, false);
          left--;
          if (left > 0 && rng() < 0.002) {
            await pushAudio(row.ts, str, true); // Spotify logs some streams twice
            left--;
          }
        }
      }
    }
    // Anything still left over (very rare) is played late in the evening.
    while (left > 0) {
      const dev = Dev.Phone;
      let now = Math.max(berlinToUtc(dayStartLocal + 22 * 3600_000), clock[dev]! + 30_000);
      sessionBucket = 0;
      const platform = platforms.get(dev, now);
      let rs = 'clickrow';
      for (; left > 0; left--) {
        const track = sampleTrack(now);
        const ms = cat.trackDuration[track]!;
        await emitAudio({
          ts: now + ms, start: now, platform, dev, ms, cc, track, episodeName: NULL, showName: NULL, episodeUri: NULL,
          rs, re: 'trackdone', shuffle: true, skipped: false, offline: false, incognito: false,
        });
        rs = 'trackdone';
        now += ms + randInt(rng, 0, 400);
      }
      clock[dev] = now;
    }

    // Video podcasts: short previews and a few long watches on the phone.
    const nVideo = videoPerDay[d]!;
    if (nVideo > 0) {
      const videoShows = cat.shows.filter((s) => s.video && s.first <= dayStartLocal);
      const shows = videoShows.length > 0 ? videoShows : cat.shows;
      let now = berlinToUtc(dayStartLocal + pickWeighted(rng, profile) * 3600_000 + Math.floor(rng() * 3600_000));
      for (let i = 0; i < nVideo; i++) {
        const show = pick(rng, shows);
        const ep = episodeOf(seed, show, Math.max(0, latestEpisode(show, now) - randInt(rng, 0, 3)));
        const long = rng() < 0.2;
        const ms = long ? randInt(rng, 60_000, ep.durationMs) : rng() < 0.1 ? 0 : randInt(rng, 300, 12_000);
        const modern = now >= VIDEO_OFFLINE_FROM;
        const row: Row = {
          ts: now + ms, start: now, platform: platforms.get(Dev.Phone, now), dev: Dev.Phone, ms, cc,
          track: -1, episodeName: ep.name, showName: show.name, episodeUri: ep.uri,
          rs: rng() < 0.8 ? 'unknown' : pick(rng, ['trackdone', 'clickrow', 'appload']), re: 'endplay',
          shuffle: false, skipped: !long || rng() < 0.5, offline: false, incognito: false,
        };
        let str = serialize(row);
        if (!modern) str = str.replace(/"offline": false,\n {4}"offline_timestamp": [^\n]*,/, '"offline": null,\n    "offline_timestamp": null,');
        videoRows.push({ ts: row.ts, str });
        now += ms + randInt(rng, 1000, 20_000);
      }
    }
  }
  await flushFile();
  if (fileIndex === 0) {
    // An empty history still gets one (empty) audio file, as Spotify does for empty exports.
    const name = `${DEMO_FOLDER}/Streaming_History_Audio_${new Date(t1 - 1).getUTCFullYear()}_0.json`;
    files.push(name);
    await sink.add(name, Buffer.from('[]'));
  }

  if (videoRows.length > 0) {
    videoRows.sort((a, b) => a.ts - b.ts);
    const y0 = fmt.yearOf(Math.floor(videoRows[0]!.ts / 1000));
    const y1 = fmt.yearOf(Math.floor(videoRows[videoRows.length - 1]!.ts / 1000));
    const name = `${DEMO_FOLDER}/Streaming_History_Video_${y0 === y1 ? y0 : `${y0}-${y1}`}.json`;
    files.push(name);
    await sink.add(name, Buffer.from('[\n' + videoRows.map((v) => v.str).join(',\n') + '\n]', 'utf8'));
    written += videoRows.length;
  }

  return { streams: written, files };
}

/**
 * Order of rows in a file: by run (as given by runOf), then by ts, then by generation order.
 * Packs the keys into doubles so the sort is a native typed-array sort.
 */
function runOrderOf(n: number, runOf: (i: number) => number, tsOf: (i: number) => number): Int32Array | number[] {
  let bits = 1;
  while (1 << bits < n) bits++;
  if (bits > 18) {
    const idx = Array.from({ length: n }, (_, i) => i);
    return idx.sort((a, b) => runOf(a) - runOf(b) || tsOf(a) - tsOf(b) || a - b);
  }
  const M = 2 ** bits;
  // run < 16 (4 bits) and ts in seconds < 2^31 (until 2038) leave 53 - 35 = 18+ bits for the index.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = (runOf(i) * 2 ** 31 + Math.min(2 ** 31 - 1, Math.max(0, Math.floor(tsOf(i) / 1000)))) * M + i;
  keys.sort();
  const out = new Int32Array(n);
  for (let k = 0; k < n; k++) out[k] = keys[k]! % M;
  return out;
}

/** Integer allocation of `total` proportionally to weights (cumulative rounding; sums exactly). */
function roundToTotal(weights: Float64Array, total: number): Int32Array {
  const out = new Int32Array(weights.length);
  let sum = 0;
  for (const w of weights) sum += w;
  if (sum <= 0 || total <= 0) return out;
  let acc = 0;
  let given = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += (weights[i]! / sum) * total;
    const upto = Math.round(acc);
    out[i] = upto - given;
    given = upto;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ReadMeFirst PDF stub

function readMePdf(): Buffer {
  const lines = [
    'Read Me First - Extended Streaming History',
    '',
    'This is a synthetic demo export generated by Rewind. It is not real listening data.',
    'It follows the layout of the Spotify Extended Streaming History: one JSON array per file,',
    'one entry per stream; ts is the UTC time the stream stopped, ms_played how long it played.',
  ];
  const esc = (s: string): string => s.replace(/[\\()]/g, (c) => '\\' + c);
  const content =
    'BT\n/F1 11 Tf\n14 TL\n56 780 Td\n' + lines.map((l, i) => `${i === 0 ? '/F1 16 Tf ' : i === 1 ? '/F1 11 Tf ' : ''}(${esc(l)}) Tj T*`).join('\n') + '\nET';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
