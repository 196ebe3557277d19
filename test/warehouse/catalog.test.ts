/**
 * The shared catalog (warehouse/catalog.ts) with real DuckDB and Parquet, fed with recorded real
 * Spotify answers (shared/real-data/api): rows from track and artist objects, the sync's cache of
 * recently-played metadata (nothing written when nothing changed), what is pending (deduplicated
 * across users, most played first, scoped to one user on request), misses asked again after 30
 * days and never after 3 attempts, audio features kept across updates, the backlog and the views.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  artistRowFromApi,
  cacheTrackMetadata,
  enrichmentBacklog,
  featureRowFromApi,
  largestImage,
  MISS_MAX_ATTEMPTS,
  pendingWork,
  readEnrichState,
  trackRowFromApi,
  updateEnrichState,
  writeCatalog,
  type TrackRow,
} from '../../warehouse/catalog.ts';
import { Db } from '../../warehouse/duckdb.ts';
import { generations } from '../../warehouse/files.ts';
import { Layout } from '../../warehouse/layout.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { REAL_DATA } from '../helpers/real-data.ts';
import { writePlays } from '../helpers/plays.ts';

const recording = (file: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(REAL_DATA, 'api', file), 'utf8'));
const recent = recording('jack-werner_spotify-history/recently_played.json') as { items: { track: { uri: string; name: string; duration_ms: number; artists: { uri: string; name: string }[]; album: { images: { url: string }[] } } }[] };
const realTrack = recording('spotify-web-api-java/GetTrackRequest.json');
const realArtist = recording('spotify-web-api-java/GetArtistRequest.json');

let root: string;
let layout: Layout;
let db: Db;
before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-catalog-'));
  layout = new Layout(root);
  db = await Db.open();
});
after(async () => {
  db.close();
  await fs.rm(root, { recursive: true, force: true });
});

const AT = '2026-03-01T10:00:00.000Z';
const LIMIT = { tracks: 100, artists: 100, features: 100 };
const uri = (n: number) => `spotify:track:${String(n).padStart(22, '0')}`;

test('rows from recorded real track and artist objects', () => {
  const row = trackRowFromApi(realTrack, { source: 'lookup', fetchedAt: AT })!;
  assert.deepEqual(
    { ...row, danceability: undefined },
    {
      track_uri: 'spotify:track:3n3Ppam7vgaVa1iaRUc9Lp',
      name: 'Mr. Brightside',
      duration_ms: (realTrack as { duration_ms: number }).duration_ms,
      album_uri: (realTrack as { album: { uri: string } }).album.uri,
      album_name: 'Hot Fuss (Deluxe Version)',
      album_image_url: 'https://i.scdn.co/image/ac68a9e4a867ec3ce8249cd90a2d7c73755fb487',
      album_release_date: null,
      artist_uris: ['spotify:artist:0C0XlULifJtAgn6ZNCW2eu'],
      artist_names: ['The Killers'],
      explicit: false,
      danceability: undefined,
      energy: null,
      key: null,
      loudness: null,
      mode: null,
      speechiness: null,
      acousticness: null,
      instrumentalness: null,
      liveness: null,
      valence: null,
      tempo: null,
      time_signature: null,
      features_status: null,
      source: 'lookup',
      fetched_at: AT,
    },
  );
  // Keyed under the URI asked for (a relinked answer carries another id).
  assert.equal(trackRowFromApi(realTrack, { source: 'lookup', fetchedAt: AT, uri: uri(5) })!.track_uri, uri(5));
  // A local file, an episode, garbage: no catalog row.
  const local = recording('zmb3_spotify/find_track.json');
  assert.equal(trackRowFromApi({ ...local, is_local: true, uri: 'spotify:local:a:b:c:200' }, { source: 'lookup', fetchedAt: AT }), undefined);
  assert.equal(trackRowFromApi({ ...local, type: 'episode' }, { source: 'lookup', fetchedAt: AT }), undefined);
  assert.equal(trackRowFromApi('nope', { source: 'lookup', fetchedAt: AT }), undefined);

  assert.deepEqual(artistRowFromApi(realArtist, { source: 'lookup', fetchedAt: AT }), {
    artist_uri: 'spotify:artist:0OdUWJ0sBjDrqHygGUXeCF',
    name: 'Band of Horses',
    genres: ['indie folk', 'indie pop'],
    image_url: 'https://i.scdn.co/image/eb266625dab075341e8c4378a177a27370f91903',
    source: 'lookup',
    fetched_at: AT,
  });
  // A track's simplified artist: the name only; genres stay NULL (unknown), not [] (none).
  assert.deepEqual(artistRowFromApi(recent.items[0]!.track.artists[0], { source: 'recently_played', fetchedAt: AT })?.genres, null);
  assert.equal(largestImage([{ url: 'a', width: 64 }, { url: 'b', width: 640 }, { url: 'c', width: null }]), 'b');
  assert.equal(largestImage(undefined), null);
  const features = featureRowFromApi(uri(1), { danceability: 0.5, key: 7, tempo: 120.5, mode: 1, energy: 'x' });
  assert.deepEqual([features.danceability, features.key, features.tempo, features.mode, features.energy, features.features_status], [0.5, 7, 120.5, 1, null, 'fetched']);
});

test('recently-played metadata is cached as it arrives; the same metadata again writes nothing', async () => {
  const first = await cacheTrackMetadata(db, layout, recent.items, AT);
  const tracks = new Set(recent.items.map((i) => i.track.uri));
  assert.equal(first.tracks, tracks.size);
  assert.equal(first.artists, 1);
  const gens = await generations(layout.tracksRoot);
  const again = await cacheTrackMetadata(db, layout, recent.items, '2026-03-01T11:00:00.000Z');
  assert.deepEqual(again, { tracks: 0, artists: 0, features: 0, misses: 0 });
  assert.deepEqual(await generations(layout.tracksRoot), gens, 'no new generation');

  const rows = (await queryWarehouse(layout, {}, `SELECT track_uri, name, duration_ms, album_image_url, artist_names, source, fetched_at::VARCHAR AS f FROM tracks ORDER BY track_uri`)).rows;
  assert.equal(rows.length, tracks.size);
  const item = recent.items[0]!.track;
  const row = rows.find((r) => r.track_uri === item.uri)!;
  assert.deepEqual([row.name, row.duration_ms, row.artist_names, row.source], [item.name, item.duration_ms, item.artists.map((a) => a.name), 'recently_played']);
  assert.equal(row.album_image_url, item.album.images[0]!.url);
  assert.match(String(row.f), /^2026-03-01 10:00:00/, 'fetched_at is the first time it was seen');
  const artists = (await queryWarehouse(layout, {}, `SELECT artist_uri, name, genres, source FROM artists`)).rows;
  assert.deepEqual(artists, [{ artist_uri: item.artists[0]!.uri, name: item.artists[0]!.name, genres: null, source: 'recently_played' }]);
  // Unreadable items are skipped, not fatal.
  assert.equal((await cacheTrackMetadata(db, layout, [null, { track: { type: 'episode' } }, 7], AT)).tracks, 0);
});

test('pending work: deduplicated across users, most played first, misses held back, scoped on request', async () => {
  const cached = recent.items[0]!.track.uri;
  await writePlays(layout, 'ann', [
    ...[1, 1, 1, 2, 2, 3].map((n, i) => ({ track_uri: uri(n), ended_at: `2024-01-0${1 + (i % 5)}T10:00:00Z` })),
    { track_uri: cached, ended_at: '2024-02-01T10:00:00Z' },
    { track_uri: 'spotify:local:Artist:Album:Title:200', ended_at: '2024-02-02T10:00:00Z' },
    { track_uri: 'spotify:track:short', ended_at: '2024-02-03T10:00:00Z' },
    { kind: 'episode', track_uri: null, episode_uri: 'spotify:episode:0000000000000000000001', ended_at: '2024-02-04T10:00:00Z' },
  ]);
  await writePlays(layout, 'bob', [2, 2, 2, 4].map((n, i) => ({ track_uri: uri(n), ended_at: `2025-01-0${1 + i}T10:00:00Z` })));

  const all = await pendingWork(db, layout, { limit: LIMIT, now: AT });
  assert.deepEqual(all.tracks, [uri(2), uri(1), uri(3), uri(4)], 'each URI once, the most played first; cached, local and malformed ones left out');
  assert.deepEqual(all.totals.tracks, 4);
  assert.deepEqual(all.artists, [recent.items[0]!.track.artists[0]!.uri], 'the cached artist has no genres yet');
  assert.equal(all.totals.features, new Set(recent.items.map((i) => i.track.uri)).size, 'no track has audio features yet');
  assert.deepEqual((await pendingWork(db, layout, { limit: { tracks: 2, artists: 0, features: 0 }, now: AT })).tracks, [uri(2), uri(1)]);

  const bob = await pendingWork(db, layout, { limit: LIMIT, now: AT, userId: 'bob' });
  assert.deepEqual([bob.tracks, bob.artists, bob.totals.features], [[uri(2), uri(4)], [], 0], "only bob's tracks");
  const ann = await pendingWork(db, layout, { limit: LIMIT, now: AT, userId: 'ann' });
  assert.deepEqual([ann.tracks, ann.totals.artists, ann.totals.features], [[uri(1), uri(2), uri(3)], 1, 1]);

  // Lookups arrive: track 1 found (with a second artist), track 3 unknown (404).
  const found = { ...trackRowFromApi(realTrack, { source: 'lookup', fetchedAt: AT, uri: uri(1) })!, artist_uris: ['spotify:artist:0OdUWJ0sBjDrqHygGUXeCF'] } as TrackRow;
  const w = await writeCatalog(db, layout, { tracks: [found], misses: [{ kind: 'track', uri: uri(3), status: 404, message: 'non existing id', triedAt: AT }] });
  assert.deepEqual([w.tracks, w.misses], [1, 1]);
  const next = await pendingWork(db, layout, { limit: LIMIT, now: AT });
  assert.deepEqual(next.tracks, [uri(2), uri(4)], 'found and missed tracks are no longer pending');
  assert.deepEqual(next.artists.sort(), [recent.items[0]!.track.artists[0]!.uri, 'spotify:artist:0OdUWJ0sBjDrqHygGUXeCF'].sort());

  // A miss is asked again after 30 days, at most MISS_MAX_ATTEMPTS times.
  const in31Days = '2026-04-01T10:00:01.000Z';
  assert.ok((await pendingWork(db, layout, { limit: LIMIT, now: in31Days })).tracks.includes(uri(3)));
  for (let k = 2; k <= MISS_MAX_ATTEMPTS; k++) await writeCatalog(db, layout, { misses: [{ kind: 'track', uri: uri(3), status: 404, message: 'non existing id', triedAt: `2026-0${k + 2}-01T10:00:00.000Z` }] });
  const misses = (await db.all<{ attempts: number; f: string; l: string }>(`SELECT attempts, first_tried_at::VARCHAR AS f, last_tried_at::VARCHAR AS l FROM read_parquet('${layout.catalogMissesRoot}/*.parquet')`))[0]!;
  assert.deepEqual([misses.attempts, misses.f.slice(0, 10), misses.l.slice(0, 10)], [MISS_MAX_ATTEMPTS, '2026-03-01', '2026-05-01']);
  assert.ok(!(await pendingWork(db, layout, { limit: LIMIT, now: '2030-01-01T00:00:00.000Z' })).tracks.includes(uri(3)), 'never after the last attempt');

  // A miss that is found after all stops being a miss.
  await writeCatalog(db, layout, { tracks: [{ ...found, track_uri: uri(3) }] });
  assert.equal((await db.all(`SELECT * FROM read_parquet('${layout.catalogMissesRoot}/*.parquet')`).catch(() => [])).length, 0);
});

test('audio features are kept when metadata is refreshed; artists: a lookup beats a name-only row', async () => {
  const t = recent.items[1]!.track.uri;
  await writeCatalog(db, layout, { features: [featureRowFromApi(t, { danceability: 0.61, tempo: 98.2, key: 4 })] });
  await cacheTrackMetadata(db, layout, [{ track: { ...recent.items[1]!.track, name: 'Renamed' } }], '2026-03-02T00:00:00.000Z');
  const row = (await queryWarehouse(layout, {}, `SELECT name, danceability, tempo, key, features_status FROM tracks WHERE track_uri = '${t}'`)).rows[0];
  assert.deepEqual(row, { name: 'Renamed', danceability: 0.61, tempo: 98.2, key: 4, features_status: 'fetched' });

  const killers = recent.items[0]!.track.artists[0]!;
  const looked = artistRowFromApi({ ...realArtist, id: killers.uri.slice(15), uri: killers.uri, name: killers.name }, { source: 'lookup', fetchedAt: AT })!;
  assert.equal((await writeCatalog(db, layout, { artists: [looked] })).artists, 1);
  assert.equal((await cacheTrackMetadata(db, layout, recent.items, '2026-03-03T00:00:00.000Z')).artists, 0, 'a name-only row does not replace a looked-up one');
  const artist = (await queryWarehouse(layout, {}, `SELECT name, genres, image_url, source FROM artists WHERE artist_uri = '${killers.uri}'`)).rows[0];
  assert.deepEqual(artist, { name: killers.name, genres: ['indie folk', 'indie pop'], image_url: looked.image_url, source: 'lookup' });
  for (const dir of [layout.tracksRoot, layout.artistsRoot]) {
    assert.equal((await fs.readdir(dir)).filter((f) => f.endsWith('.parquet')).length, 1, 'one live generation, no temporary left');
  }
});

test('the backlog: everyone or one user; the state persists audio features off', async () => {
  const all = await enrichmentBacklog(layout);
  assert.deepEqual(all, { tracksPending: 2, artistsPending: 1, lastRunAt: null, audioFeatures: 'on' });
  assert.deepEqual(await enrichmentBacklog(layout, { userId: 'bob' }), { tracksPending: 2, artistsPending: 0, lastRunAt: null, audioFeatures: 'on' });
  assert.deepEqual(await enrichmentBacklog(layout, { userId: 'ann' }), { tracksPending: 1, artistsPending: 1, lastRunAt: null, audioFeatures: 'on' });
  await updateEnrichState(layout, (s) => ({ ...s, audioFeatures: 'off', lastRunAt: AT }));
  assert.deepEqual(await readEnrichState(layout).then((s) => [s.audioFeatures, s.lastRunAt]), ['off', AT]);
  assert.deepEqual(await enrichmentBacklog(new Layout(path.join(root, 'empty'))), { tracksPending: 0, artistsPending: 0, lastRunAt: null, audioFeatures: 'on' });
});
