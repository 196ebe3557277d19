/**
 * The shared catalog: what Spotify says about the tracks and artists in anyone's plays. It holds no
 * user data (no user id, no play, no time of listening), so one copy serves every user.
 *
 *   warehouse/tracks/part-<gen>.parquet           one row per track URI (TRACK_COLUMNS)
 *   warehouse/artists/part-<gen>.parquet          one row per artist URI (ARTIST_COLUMNS)
 *   warehouse/catalog_misses/part-<gen>.parquet   lookups Spotify answered 404 (or 400): not asked again for a while
 *   sync/_enrich.json                             the enrichment's state: last run, audio features on/off
 *
 * Rows arrive two ways: `cacheTrackMetadata` keeps the track objects recently-played already returns
 * (the sync calls it; no extra request), and the enrichment workflow (workflows/enrich.ts) looks up
 * the rest one by one (`writeCatalog`). Every table is an immutable generation (warehouse/files.ts),
 * written under the `catalog` lock (one writer at a time, across processes); readers never wait.
 */
import { type Db, type DbOptions, type Params, literal, withDb } from './duckdb.ts';
import { liveFile, readJson, writeGeneration, writeJsonAtomic } from './files.ts';
import type { Layout } from './layout.ts';
import { withLock } from './lock.ts';
import { emptyRelation, playsSource } from './models.ts';

/** Audio features (GET /v1/audio-features/{id}): null where not fetched (403 for new and development-mode apps since Nov 2024). */
export const FEATURE_COLUMNS = [
  ['danceability', 'DOUBLE'],
  ['energy', 'DOUBLE'],
  ['key', 'INTEGER'],
  ['loudness', 'DOUBLE'],
  ['mode', 'INTEGER'],
  ['speechiness', 'DOUBLE'],
  ['acousticness', 'DOUBLE'],
  ['instrumentalness', 'DOUBLE'],
  ['liveness', 'DOUBLE'],
  ['valence', 'DOUBLE'],
  ['tempo', 'DOUBLE'],
  ['time_signature', 'INTEGER'],
] as const;

export const TRACK_COLUMNS = [
  ['track_uri', 'VARCHAR'], // spotify:track:<id>, the key (the URI plays carry)
  ['name', 'VARCHAR'],
  ['duration_ms', 'BIGINT'],
  ['album_uri', 'VARCHAR'],
  ['album_name', 'VARCHAR'],
  ['album_image_url', 'VARCHAR'], // the album's largest image
  ['album_release_date', 'VARCHAR'], // '2019', '2019-06' or '2019-06-21' (album.release_date_precision)
  ['artist_uris', 'VARCHAR[]'], // in credit order
  ['artist_names', 'VARCHAR[]'],
  ['explicit', 'BOOLEAN'],
  ...FEATURE_COLUMNS,
  ['features_status', 'VARCHAR'], // NULL = not asked, 'fetched', 'not_found'
  ['source', 'VARCHAR'], // 'recently_played' (cached by the sync) | 'lookup' (GET /v1/tracks/{id})
  ['fetched_at', 'TIMESTAMPTZ'],
] as const;

export const ARTIST_COLUMNS = [
  ['artist_uri', 'VARCHAR'],
  ['name', 'VARCHAR'],
  ['genres', 'VARCHAR[]'], // NULL until looked up
  ['image_url', 'VARCHAR'], // the largest image
  ['source', 'VARCHAR'], // 'recently_played' (name only, from a track's artists) | 'lookup' (GET /v1/artists/{id})
  ['fetched_at', 'TIMESTAMPTZ'],
] as const;

export const MISS_COLUMNS = [
  ['kind', 'VARCHAR'], // 'track' | 'artist'
  ['uri', 'VARCHAR'],
  ['status', 'INTEGER'], // 404 (no such id) or 400 (not a valid id)
  ['message', 'VARCHAR'],
  ['attempts', 'INTEGER'],
  ['first_tried_at', 'TIMESTAMPTZ'],
  ['last_tried_at', 'TIMESTAMPTZ'],
] as const;

/** A miss is asked again after this long, at most MISS_MAX_ATTEMPTS times in all: never forever. */
export const MISS_RETRY_DAYS = 30;
export const MISS_MAX_ATTEMPTS = 3;

type Columns = readonly (readonly [string, string])[];
type Value<T extends string> = T extends 'BOOLEAN' ? boolean : T extends 'INTEGER' | 'BIGINT' | 'DOUBLE' ? number : T extends 'VARCHAR[]' ? string[] : string;
type RowOf<C extends Columns> = { [K in C[number] as K[0]]: Value<K[1]> | null };

export type TrackRow = RowOf<typeof TRACK_COLUMNS>;
export type ArtistRow = RowOf<typeof ARTIST_COLUMNS>;
export type MissRow = RowOf<typeof MISS_COLUMNS>;
export type FeatureRow = { track_uri: string; features_status: 'fetched' | 'not_found' } & RowOf<typeof FEATURE_COLUMNS>;
export type CatalogSource = 'recently_played' | 'lookup';

const TRACK_URI = /^spotify:track:[A-Za-z0-9]{22}$/;
const ARTIST_URI = /^spotify:artist:[A-Za-z0-9]{22}$/;

/** The id of a catalog URI (`spotify:track:<22 base62>`), or undefined when it is not one. */
export function catalogId(uri: string, kind: 'track' | 'artist'): string | undefined {
  return (kind === 'track' ? TRACK_URI : ARTIST_URI).test(uri) ? uri.slice(kind === 'track' ? 14 : 15) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Web API objects to rows (pure)

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The URL of the largest image of a Spotify `images` array (Spotify lists the widest first, but not always). */
export function largestImage(images: unknown): string | null {
  if (!Array.isArray(images)) return null;
  let best: { url: string; width: number } | undefined;
  for (const im of images) {
    if (!isObject(im) || !str(im.url)) continue;
    const width = num(im.width) ?? 0;
    if (!best || width > best.width) best = { url: im.url as string, width };
  }
  return best?.url ?? null;
}

/**
 * A TrackObject (GET /v1/tracks/{id}, or the `track` of a recently-played item) as a row; undefined
 * when it is no catalog track (a local file, an episode, no URI). `uri` keys the row under the URI
 * that was asked for (a relinked answer carries another id).
 */
export function trackRowFromApi(track: unknown, opts: { source: CatalogSource; fetchedAt: string; uri?: string }): TrackRow | undefined {
  if (!isObject(track) || (track.type !== undefined && track.type !== 'track') || track.is_local === true) return undefined;
  const uri = opts.uri ?? str(track.uri);
  if (!uri || !TRACK_URI.test(uri) || !str(track.name)) return undefined;
  const album = isObject(track.album) ? track.album : undefined;
  const artists = (Array.isArray(track.artists) ? track.artists : []).filter(isObject);
  const row = {
    track_uri: uri,
    name: str(track.name),
    duration_ms: num(track.duration_ms),
    album_uri: str(album?.uri),
    album_name: str(album?.name),
    album_image_url: largestImage(album?.images),
    album_release_date: str(album?.release_date),
    artist_uris: artists.map((a) => str(a.uri)).filter((u): u is string => u !== null),
    artist_names: artists.map((a) => str(a.name)).filter((n): n is string => n !== null),
    explicit: typeof track.explicit === 'boolean' ? track.explicit : null,
    features_status: null,
    source: opts.source,
    fetched_at: opts.fetchedAt,
  } as TrackRow;
  for (const [name] of FEATURE_COLUMNS) (row as Record<string, unknown>)[name] = null;
  return row;
}

/** An ArtistObject (GET /v1/artists/{id}) or a SimplifiedArtistObject (a track's `artists`) as a row. */
export function artistRowFromApi(artist: unknown, opts: { source: CatalogSource; fetchedAt: string; uri?: string }): ArtistRow | undefined {
  if (!isObject(artist) || (artist.type !== undefined && artist.type !== 'artist')) return undefined;
  const uri = opts.uri ?? str(artist.uri);
  if (!uri || !ARTIST_URI.test(uri) || !str(artist.name)) return undefined;
  const full = opts.source === 'lookup';
  return {
    artist_uri: uri,
    name: str(artist.name),
    genres: full ? (Array.isArray(artist.genres) ? artist.genres.filter((g): g is string => typeof g === 'string') : []) : null,
    image_url: full ? largestImage(artist.images) : null,
    source: opts.source,
    fetched_at: opts.fetchedAt,
  };
}

/** An AudioFeaturesObject as the feature columns of its track. */
export function featureRowFromApi(trackUri: string, body: unknown): FeatureRow {
  const b = isObject(body) ? body : {};
  const row: Record<string, unknown> = { track_uri: trackUri, features_status: 'fetched' };
  for (const [name] of FEATURE_COLUMNS) row[name] = num(b[name]);
  return row as FeatureRow;
}

/** A track Spotify has no audio features for (404): asked once. */
export function featuresNotFound(trackUri: string): FeatureRow {
  const row: Record<string, unknown> = { track_uri: trackUri, features_status: 'not_found' };
  for (const [name] of FEATURE_COLUMNS) row[name] = null;
  return row as FeatureRow;
}

// ---------------------------------------------------------------------------------------------
// SQL helpers

const names = (columns: Columns): string => columns.map(([n]) => `"${n}"`).join(', ');

/** SQL selecting `columns` from the JSON array bound as `param`, cast to their types. */
function fromJson(columns: Columns, param: string): string {
  const cols = columns.map(([name, type]) =>
    type.endsWith('[]') ? `cast(j -> ${literal(name)} as ${type}) as "${name}"` : `cast(j ->> ${literal(name)} as ${type}) as "${name}"`,
  );
  return `select ${cols.join(', ')} from (select unnest(cast(cast(${param} as json) as json[])) as j)`;
}

/** A SELECT over one catalog table's live file (typed, with its columns), or an empty relation. */
async function tableSource(dir: string, columns: Columns): Promise<string> {
  const file = await liveFile(dir);
  return file ? `select ${names(columns)} from read_parquet(${literal(file)})` : emptyRelation(columns);
}

/** SQL for the views `tracks` and `artists` (warehouse/query.ts). */
export async function catalogSource(layout: Layout, table: 'tracks' | 'artists'): Promise<string> {
  return table === 'tracks' ? tableSource(layout.tracksRoot, TRACK_COLUMNS) : tableSource(layout.artistsRoot, ARTIST_COLUMNS);
}

/** A writer replaced a file between our listing and our read: list again (files are never changed in place). */
async function retryVanished<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt < 5 && /No such file|No files found|cannot open file|Cannot open file/i.test(String(e))) continue;
      throw e;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

export interface CatalogChanges {
  tracks?: TrackRow[];
  artists?: ArtistRow[];
  /** Audio features (or their absence) of tracks that have a row. */
  features?: FeatureRow[];
  /** Lookups Spotify answered 404/400 (one attempt each). */
  misses?: { kind: 'track' | 'artist'; uri: string; status: number; message: string; triedAt: string }[];
}

export interface CatalogWriteResult {
  /** Rows added or changed. */
  tracks: number;
  artists: number;
  features: number;
  misses: number;
}

/**
 * Merge changes into the catalog, each table as its next generation (only the tables that change):
 * - tracks: a row for a URI replaces the stored one (newer metadata), keeping its audio features;
 *   features update the feature columns of stored rows;
 * - artists: a looked-up row replaces anything; a row from a track's artists (name only) is added
 *   only where the artist has no row yet;
 * - misses: one more attempt per (kind, uri); a URI that now has a row is no miss any more.
 * Takes the `catalog` lock.
 */
export async function writeCatalog(db: Db, layout: Layout, changes: CatalogChanges): Promise<CatalogWriteResult> {
  const tracks = changes.tracks ?? [];
  const artists = changes.artists ?? [];
  const features = changes.features ?? [];
  const misses = changes.misses ?? [];
  const result: CatalogWriteResult = { tracks: 0, artists: 0, features: 0, misses: 0 };
  if (tracks.length + artists.length + features.length + misses.length === 0) return result;
  return withLock(layout, 'catalog', async () => {
    if (tracks.length + features.length > 0) Object.assign(result, await mergeTracks(db, layout, tracks, features));
    if (artists.length > 0) result.artists = await mergeArtists(db, layout, artists);
    const resolved = [...tracks.map((t) => ['track', t.track_uri]), ...artists.filter((a) => a.source === 'lookup').map((a) => ['artist', a.artist_uri])];
    if (misses.length > 0 || resolved.length > 0) result.misses = await mergeMisses(db, layout, misses, resolved as [string, string][]);
    return result;
  });
}

const TRACK_META = ['name', 'duration_ms', 'album_uri', 'album_name', 'album_image_url', 'album_release_date', 'artist_uris', 'artist_names', 'explicit'];

async function mergeTracks(db: Db, layout: Layout, tracks: TrackRow[], features: FeatureRow[]): Promise<{ tracks: number; features: number }> {
  const dir = layout.tracksRoot;
  const existing = await tableSource(dir, TRACK_COLUMNS);
  const keep = (expr: string) => FEATURE_COLUMNS.map(([n]) => `${expr.replaceAll('$c', `"${n}"`)} as "${n}"`).join(', ');
  const featureCols: Columns = [['track_uri', 'VARCHAR'], ...FEATURE_COLUMNS, ['features_status', 'VARCHAR']];
  const ctes = `
    existing as (${existing}),
    incoming as (select * from (${fromJson(TRACK_COLUMNS, '$1')}) qualify row_number() over (partition by track_uri order by fetched_at desc) = 1),
    upserted as (
      select e.* from existing e anti join incoming i using (track_uri)
      union all
      select i.* replace (${keep('coalesce(i.$c, e.$c)')}, coalesce(i.features_status, e.features_status) as features_status)
      from incoming i left join existing e using (track_uri)
    ),
    features as (select * from (${fromJson(featureCols, '$2')}) qualify row_number() over (partition by track_uri) = 1),
    final as (
      select u.* replace (${keep('case when f.track_uri is null then u.$c else f.$c end')}, coalesce(f.features_status, u.features_status) as features_status)
      from upserted u left join features f using (track_uri)
    )`;
  const params: Params = [JSON.stringify(tracks), JSON.stringify(features)];
  // Rows that differ from what is stored (new URIs, changed metadata, new features): nothing to write when none do.
  const same = [...TRACK_META, ...FEATURE_COLUMNS.map(([n]) => n), 'features_status'].map((c) => `f."${c}" is not distinct from e."${c}"`).join(' and ');
  const changed = await db.one<{ tracks: number; features: number }>(
    `with ${ctes}
     select count(*) filter (where e.track_uri is null or not (${same}))::INTEGER as tracks,
            count(*) filter (where e.track_uri is not null and f.features_status is distinct from e.features_status)::INTEGER as features
     from final f left join existing e using (track_uri)`,
    params,
  );
  if (!changed || changed.tracks === 0) return { tracks: 0, features: 0 };
  await writeGeneration(db, dir, `with ${ctes} select ${names(TRACK_COLUMNS)} from final order by track_uri`, params);
  return { tracks: changed.tracks - changed.features, features: changed.features };
}

async function mergeArtists(db: Db, layout: Layout, artists: ArtistRow[]): Promise<number> {
  const dir = layout.artistsRoot;
  const ctes = `
    existing as (${await tableSource(dir, ARTIST_COLUMNS)}),
    incoming as (${fromJson(ARTIST_COLUMNS, '$1')}),
    final as (
      select * from (select *, 1 as stored from existing union all select *, 0 as stored from incoming)
      -- a looked-up row beats a name-only one, the newest lookup wins; between name-only rows the stored one stays
      qualify row_number() over (
        partition by artist_uri order by (source = 'lookup') desc, case when source = 'lookup' then fetched_at end desc nulls last, stored desc
      ) = 1
    )`;
  const params: Params = [JSON.stringify(artists)];
  const changed = await db.one<{ n: number }>(`with ${ctes} select count(*) filter (where stored = 0)::INTEGER as n from final`, params);
  if (!changed || changed.n === 0) return 0;
  await writeGeneration(db, dir, `with ${ctes} select ${names(ARTIST_COLUMNS)} from final order by artist_uri`, params);
  return changed.n;
}

async function mergeMisses(db: Db, layout: Layout, misses: NonNullable<CatalogChanges['misses']>, resolved: [string, string][]): Promise<number> {
  const dir = layout.catalogMissesRoot;
  const file = await liveFile(dir);
  if (!file && misses.length === 0) return 0;
  const incoming = misses.map((m) => ({ kind: m.kind, uri: m.uri, status: m.status, message: m.message, tried_at: m.triedAt }));
  const ctes = `
    existing as (${await tableSource(dir, MISS_COLUMNS)}),
    incoming as (
      select kind, uri, arg_max(status, tried_at) as status, arg_max(message, tried_at) as message, count(*)::INTEGER as n,
             min(tried_at) as first_at, max(tried_at) as last_at
      from (${fromJson([['kind', 'VARCHAR'], ['uri', 'VARCHAR'], ['status', 'INTEGER'], ['message', 'VARCHAR'], ['tried_at', 'TIMESTAMPTZ']], '$1')})
      group by kind, uri
    ),
    resolved as (select j ->> 0 as kind, j ->> 1 as uri from (select unnest(cast(cast($2 as json) as json[])) as j)),
    final as (
      select kind, uri, coalesce(i.status, e.status) as status, coalesce(i.message, e.message) as message,
             (coalesce(e.attempts, 0) + coalesce(i.n, 0))::INTEGER as attempts,
             coalesce(e.first_tried_at, i.first_at) as first_tried_at, greatest(e.last_tried_at, i.last_at) as last_tried_at
      from existing e full outer join incoming i using (kind, uri)
      anti join resolved r using (kind, uri)
    )`;
  const params: Params = [JSON.stringify(incoming), JSON.stringify(resolved)];
  const counts = await db.one<{ before: number; after: number }>(`with ${ctes} select (select count(*) from existing)::INTEGER as before, (select count(*) from final)::INTEGER as after`, params);
  if (misses.length === 0 && counts?.before === counts?.after) return 0;
  await writeGeneration(db, dir, `with ${ctes} select ${names(MISS_COLUMNS)} from final order by kind, uri`, params);
  return misses.length;
}

/**
 * Keep the metadata of the tracks recently-played returned (its raw items: `{ track, played_at,
 * context }`), with their artists' names: no extra request. Tracks already stored with the same
 * metadata write nothing. Called by the sync (activities/sync.ts) with the DuckDB it stages with.
 */
export async function cacheTrackMetadata(db: Db, layout: Layout, items: readonly unknown[], fetchedAt = new Date().toISOString()): Promise<CatalogWriteResult> {
  const tracks = new Map<string, TrackRow>();
  const artists = new Map<string, ArtistRow>();
  for (const item of items) {
    const track = isObject(item) ? item.track : undefined;
    const row = trackRowFromApi(track, { source: 'recently_played', fetchedAt });
    if (!row) continue;
    tracks.set(row.track_uri!, row);
    for (const a of (track as Json).artists as unknown[]) {
      const ar = artistRowFromApi(a, { source: 'recently_played', fetchedAt });
      if (ar) artists.set(ar.artist_uri!, ar);
    }
  }
  return writeCatalog(db, layout, { tracks: [...tracks.values()], artists: [...artists.values()] });
}

// ---------------------------------------------------------------------------------------------
// What still needs enrichment

export interface PendingWork {
  /** The next URIs to look up, most played first. */
  tracks: string[];
  artists: string[];
  /** Tracks whose audio features were never asked for (only when asked: `features > 0`). */
  features: string[];
  totals: { tracks: number; artists: number; features: number };
}

/**
 * What still needs enrichment, deduplicated across users:
 * - track URIs in anyone's plays (or one user's) without a `tracks` row: an exported play carries
 *   neither duration nor art;
 * - artist URIs of stored tracks without a looked-up `artists` row (no genres, no image yet);
 * - tracks whose audio features were never asked for.
 * A URI Spotify answered 404 for is left out for MISS_RETRY_DAYS after each attempt, and for good
 * after MISS_MAX_ATTEMPTS. `limit` caps each list (the totals count everything).
 */
export async function pendingWork(
  db: Db,
  layout: Layout,
  opts: { limit: { tracks: number; artists: number; features: number }; now?: string; userId?: string },
): Promise<PendingWork> {
  return retryVanished(async () => {
    const now = opts.now ?? new Date().toISOString();
    const ctes = `
      plays as (${await playsSource(layout, opts.userId)}),
      tracks as (${await tableSource(layout.tracksRoot, TRACK_COLUMNS)}),
      artists as (${await tableSource(layout.artistsRoot, ARTIST_COLUMNS)}),
      misses as (${await tableSource(layout.catalogMissesRoot, MISS_COLUMNS)}),
      blocked as (
        select kind, uri from misses
        where attempts >= ${MISS_MAX_ATTEMPTS} or last_tried_at > cast($now as timestamptz) - interval ${MISS_RETRY_DAYS} day
      ),
      played as (
        select track_uri as uri, count(*) as n from plays where track_uri like 'spotify:track:%' group by track_uri
      ),
      tracks_pending as (
        select uri, n from played p
        where regexp_full_match(uri, 'spotify:track:[A-Za-z0-9]{22}')
          and not exists (select 1 from tracks t where t.track_uri = p.uri)
          and not exists (select 1 from blocked b where b.kind = 'track' and b.uri = p.uri)
      ),
      scoped_tracks as (${opts.userId === undefined ? 'select * from tracks' : 'select t.* from tracks t semi join played p on t.track_uri = p.uri'}),
      artist_refs as (
        select uri, count(*) as n from (select unnest(artist_uris) as uri from scoped_tracks)
        where regexp_full_match(uri, 'spotify:artist:[A-Za-z0-9]{22}')
        group by uri
      ),
      artists_pending as (
        select uri, n from artist_refs r
        where not exists (select 1 from artists a where a.artist_uri = r.uri and a.source = 'lookup')
          and not exists (select 1 from blocked b where b.kind = 'artist' and b.uri = r.uri)
      ),
      features_pending as (select track_uri as uri, fetched_at from scoped_tracks where features_status is null)`;
    const params = { now, lt: opts.limit.tracks, la: opts.limit.artists, lf: opts.limit.features };
    const rows = await db.all<{ what: string; uri: string | null; total: number }>(
      `with ${ctes}
       select 'tracks' as what, null as uri, (select count(*) from tracks_pending)::INTEGER as total
       union all select 'artists', null, (select count(*) from artists_pending)::INTEGER
       union all select 'features', null, (select count(*) from features_pending)::INTEGER
       union all (select 'track', uri, 0 from tracks_pending order by n desc, uri limit $lt)
       union all (select 'artist', uri, 0 from artists_pending order by n desc, uri limit $la)
       union all (select 'feature', uri, 0 from features_pending order by fetched_at, uri limit $lf)`,
      params,
    );
    const total = (what: string) => rows.find((r) => r.what === what && r.uri === null)?.total ?? 0;
    const list = (what: string) => rows.filter((r) => r.what === what).map((r) => r.uri!);
    return {
      tracks: list('track'),
      artists: list('artist'),
      features: list('feature'),
      totals: { tracks: total('tracks'), artists: total('artists'), features: total('features') },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The enrichment's state, and its backlog

export interface EnrichRun {
  workflowId: string;
  startedAt: string;
  finishedAt?: string;
  status: 'running' | 'ok' | 'no_account' | 'failed';
  tracks?: number;
  artists?: number;
  features?: number;
  notFound?: number;
  error?: string;
}

export interface EnrichState {
  /** 'off' after the first 403 from audio-features (persisted: never asked again until turned on). */
  audioFeatures: 'on' | 'off';
  audioFeaturesOffAt?: string;
  audioFeaturesReason?: string;
  /** When the last run ended (or the last batch, while one runs). */
  lastRunAt: string | null;
  lastRun?: EnrichRun;
  /** Set while a 429's Retry-After is being waited out. */
  rateLimitedUntil?: string | null;
  /** Lookups merged by a batch attempt that then failed, for the next attempt to report. */
  uncounted?: { tracks: number; artists: number; features: number; notFound: number };
}

export async function readEnrichState(layout: Layout): Promise<EnrichState> {
  const s = await readJson<Partial<EnrichState>>(layout.enrichState);
  return { ...s, audioFeatures: s?.audioFeatures === 'off' ? 'off' : 'on', lastRunAt: s?.lastRunAt ?? null };
}

/** Change the state under its lock (read, change, write atomically). */
export async function updateEnrichState(layout: Layout, fn: (s: EnrichState) => EnrichState): Promise<EnrichState> {
  return withLock(layout, 'enrich-state', async () => {
    const next = fn(await readEnrichState(layout));
    await writeJsonAtomic(layout.enrichState, next);
    return next;
  });
}

export interface EnrichmentBacklog {
  /** Track URIs in the plays (everyone's, or the user's) with no catalog row yet. */
  tracksPending: number;
  /** Artists of those tracks not looked up yet (no genres, no image). */
  artistsPending: number;
  /** When the enrichment last ran (null: never). */
  lastRunAt: string | null;
  /** 'off' once audio-features answered 403 (development-mode apps since Nov 2024). */
  audioFeatures: 'on' | 'off';
}

/** What the enrichment still has to do (for `rewind status`, GET /status and the Data health page). */
export async function enrichmentBacklog(layout: Layout, opts: { userId?: string; db?: DbOptions } = {}): Promise<EnrichmentBacklog> {
  return withDb({ memoryLimit: '256MB', threads: 1, tempDirectory: layout.tmp, ...opts.db }, (db) => enrichmentBacklogIn(db, layout, { userId: opts.userId }));
}

/** The same, with a DuckDB the caller has open. */
export async function enrichmentBacklogIn(db: Db, layout: Layout, opts: { userId?: string } = {}): Promise<EnrichmentBacklog> {
  const state = await readEnrichState(layout);
  const work = await pendingWork(db, layout, { limit: { tracks: 0, artists: 0, features: 0 }, userId: opts.userId });
  return { tracksPending: work.totals.tracks, artistsPending: work.totals.artists, lastRunAt: state.lastRunAt, audioFeatures: state.audioFeatures };
}
