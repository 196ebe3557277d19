/**
 * The dashboards' datasets (warehouse/dashboards.ts) on a real warehouse: real Parquet plays, the real
 * models, real DuckDB. Every figure is checked against the same figure computed with `rewind sql`
 * (queryWarehouse over the views), or against the plays themselves; one user's datasets never hold
 * another user's data; the Arrow encoding keeps values exactly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { tableFromIPC } from 'apache-arrow';
import yauzl from 'yauzl';
import { loadConfig, type Config } from '../../config.ts';
import { Layout } from '../../warehouse/layout.ts';
import { rebuildUserModels } from '../../warehouse/models.ts';
import { ensureUser, setTimezone } from '../../warehouse/users.ts';
import { writeManifest } from '../../warehouse/manifest.ts';
import { writeJsonAtomic } from '../../warehouse/files.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import {
  DATASETS,
  type Column,
  datasetOptions,
  encodeArrow,
  siteData,
  siteDatasets,
  siteYears,
  writeSiteArchive,
} from '../../warehouse/dashboards.ts';
import { artistRowFromApi, trackRowFromApi, writeCatalog } from '../../warehouse/catalog.ts';
import { withDb } from '../../warehouse/duckdb.ts';
import { writePlays, type PlayInput } from '../helpers/plays.ts';

let root: string;
let config: Config;
let layout: Layout;
const dbOptions = { threads: 1, memoryLimit: '256MB' };
let alice: Map<string, Record<string, unknown>[]>;

/** The rows of an Arrow IPC file, as plain objects. */
function rowsOf(bytes: Uint8Array): Record<string, unknown>[] {
  return tableFromIPC(bytes)
    .toArray()
    .map((r) => r.toJSON() as Record<string, unknown>);
}

async function sql(q: string): Promise<Record<string, unknown>[]> {
  return (await queryWarehouse(layout, dbOptions, q)).rows;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Alice (Europe/Berlin): 2023 and 2024. On 2023-12-31 a listen at 23:30 UTC, which is 00:30 on
 * 2024-01-01 in Berlin (the first song of 2024 there), and one on 2024-01-20. Two sessions on 2024-03-02 (three plays, then
 * two hours of silence, then two plays and a skip). A favourite artist, "Old Flame", played only in
 * 2023 (more than 180 days before the build). An episode of a show.
 */
function alicePlays(): PlayInput[] {
  const rows: PlayInput[] = [];
  for (let d = 0; d < 12; d++) {
    rows.push({ artist_name: 'Old Flame', track_name: `Ember ${d % 3}`, album_name: 'Ashes', started_at: `2023-05-${String(d + 1).padStart(2, '0')}T18:00:00Z`, ms_played: 200_000, platform: 'ios' });
  }
  rows.push({ artist_name: 'Midnight', track_name: 'Turn', album_name: 'Clock', started_at: '2023-12-31T22:30:00Z', ms_played: 120_000, platform: 'windows' });
  rows.push({ artist_name: 'Midnight', track_name: 'New Year', album_name: 'Clock', started_at: '2023-12-31T23:30:00Z', ms_played: 120_000, platform: 'windows' });
  rows.push({ artist_name: 'Midnight', track_name: 'Turn', album_name: 'Clock', started_at: '2024-01-20T12:00:00Z', ms_played: 150_000, platform: 'ios' });
  const t0 = Date.parse('2024-03-02T09:00:00Z');
  for (let i = 0; i < 3; i++) rows.push({ artist_name: 'Fresh', track_name: `F${i}`, album_name: 'Now', started_at: new Date(t0 + i * 200_000), ms_played: 180_000, shuffle: true, platform: 'android' });
  for (let i = 0; i < 2; i++) rows.push({ artist_name: 'Fresh', track_name: 'F0', album_name: 'Now', started_at: new Date(t0 + 3 * 3600_000 + i * 200_000), ms_played: 180_000, platform: 'web_player windows 10;chrome 120.0.0.0;desktop' });
  rows.push({ artist_name: 'Fresh', track_name: 'F1', album_name: 'Now', started_at: new Date(t0 + 3 * 3600_000 + 400_000), ms_played: 4_000, shuffle: true, platform: 'android' });
  rows.push({ kind: 'episode', show_name: 'The Show', episode_name: 'One', started_at: '2024-03-03T07:00:00Z', ms_played: 1_800_000 });
  rows.push({ artist_name: 'Fresh', track_name: 'F2', album_name: 'Now', started_at: '2024-03-04T12:00:00Z', ms_played: 190_000, source: 'account_export', time_precision: 'minute' });
  return rows;
}

/** Bob: a few plays of an artist nobody else has. */
function bobPlays(): PlayInput[] {
  return [0, 1, 2].map((i) => ({ artist_name: 'Zebra Secret', track_name: `Hidden ${i}`, album_name: 'Private', started_at: `2022-06-0${i + 1}T12:00:00Z`, ms_played: 185_000 }));
}

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-dashboards-test-'));
  config = loadConfig({ REWIND_HOME: path.join(root, 'home'), REWIND_DUCKDB_THREADS: '1', REWIND_DUCKDB_MEMORY: '256MB' });
  layout = new Layout(config.home);
  await ensureUser(layout, 'alice', 'UTC');
  await setTimezone(layout, 'alice', 'Europe/Berlin');
  await ensureUser(layout, 'bob', 'UTC');
  await writePlays(layout, 'alice', alicePlays());
  await writePlays(layout, 'bob', bobPlays());
  const now = new Date('2024-03-05T12:00:00Z');
  const { buildModels } = await import('../../warehouse/models.ts');
  const { withDb } = await import('../../warehouse/duckdb.ts');
  // Built "on 2024-03-05" so that the rolling periods and "not heard for 180 days" are fixed.
  await withDb(dbOptions, (db) => buildModels(db, layout, { userId: 'alice', timezone: 'Europe/Berlin', now }));
  await rebuildUserModels(layout, dbOptions, 'bob');
  await writeManifest(layout, {
    importId: 'import:alice:abc',
    userId: 'alice',
    sha256: 'abc',
    inputs: ['/somewhere/my_spotify_data.zip'],
    committedAt: '2024-03-05T10:00:00.000Z',
    files: [{ entry: 'a.json', format: 'extended', rowsRead: 21, rowsStaged: 21, rejected: [] }],
    ignored: ['ReadMe.pdf'],
    rowsRead: 21,
    playsAdded: 20,
    duplicatesSkipped: 1,
    accountRowsSuperseded: 0,
    rowsRejected: 0,
  });
  const datasets = await siteDatasets(layout, datasetOptions(config, layout), 'alice');
  alice = new Map([...datasets].map(([name, bytes]) => [name, rowsOf(bytes)]));
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('datasets', () => {
  test('every dataset is produced, as Arrow', () => {
    assert.deepEqual([...alice.keys()].sort(), Object.keys(DATASETS).sort());
    assert.equal(alice.get('meta')![0]!.user_id, 'alice');
    assert.equal(alice.get('meta')![0]!.timezone, 'Europe/Berlin');
  });

  test('the periods and their previous windows equal period_snapshots and daily_rollups', async () => {
    const snapshots = await sql(
      `select period_type, listens, track_ms, episode_ms, period_start::varchar as s, period_end::varchar as e
       from period_snapshots where user_id = 'alice' and period_type in ('week', 'month', 'quarter', 'year', 'all_time')`,
    );
    const periods = alice.get('periods')!;
    assert.equal(periods.length, 5);
    for (const s of snapshots) {
      const p = periods.find((r) => r.period_type === s.period_type)!;
      assert.equal(p.listens, s.listens, `${s.period_type} listens`);
      assert.equal(p.track_ms, s.track_ms, `${s.period_type} track_ms`);
      assert.equal(p.episode_ms, s.episode_ms);
      assert.equal(day(p.period_start as number), s.s);
    }
    // The 30 days before the last 30 (2024-02-05..03-05) hold the play of 2024-01-20.
    const prevMonth = await sql(
      `select sum(listens) as l, sum(track_ms) as ms from daily_rollups
       where user_id = 'alice' and local_date between DATE '2024-03-05' - 59 and DATE '2024-03-05' - 30`,
    );
    const month = periods.find((r) => r.period_type === 'month')!;
    assert.deepEqual([month.prev_listens, month.prev_track_ms], [1, 150_000]);
    assert.deepEqual([month.prev_listens, month.prev_track_ms], [prevMonth[0]!.l, prevMonth[0]!.ms]);
    assert.equal(periods.find((r) => r.period_type === 'week')!.prev_listens, 0);
    assert.equal(periods.find((r) => r.period_type === 'all_time')!.prev_listens, null);
  });

  test('weeks, days and months add up to the marts', async () => {
    const total = (await sql(`select sum(track_ms) as ms, sum(listens) as l from daily_rollups where user_id = 'alice'`))[0]!;
    const sum = (name: string, key: string) => alice.get(name)!.reduce((s, r) => s + Number(r[key]), 0);
    assert.equal(sum('weeks', 'track_ms'), total.ms);
    assert.equal(sum('days', 'track_ms'), total.ms);
    assert.equal(sum('months', 'listens'), total.l);
  });

  test('local time: the 23:30 UTC play of 31 Dec is the first song of 2024 in Berlin, at 00:30', () => {
    const y2024 = alice.get('years')!.find((r) => r.year === '2024')!;
    assert.equal(y2024.first_track, 'New Year');
    assert.equal(new Date(y2024.first_at as number).toISOString(), '2024-01-01T00:30:00.000Z'); // wall clock
    const y2023 = alice.get('years')!.find((r) => r.year === '2023')!;
    assert.equal(y2023.last_track, 'Turn');
    assert.equal(y2023.top_month, '2023-05');
    const clock = alice.get('clock')!.filter((r) => r.period === '2024' && r.hour === 0);
    assert.equal(clock.reduce((s, r) => s + Number(r.listens), 0), 1);
  });

  test('the clock (weekday x hour) adds up to the all-time snapshot', async () => {
    const weekday = await sql(
      `select w.iso_weekday, w.listens from period_snapshots, unnest(weekday) as t(w) where user_id = 'alice' and period_type = 'all_time'`,
    );
    for (const w of weekday) {
      const cells = alice.get('clock')!.filter((r) => r.period === 'all' && r.iso_weekday === w.iso_weekday);
      assert.equal(cells.reduce((s, r) => s + Number(r.listens), 0), w.listens);
    }
  });

  test('top lists are those of period_snapshots, with the rank in the previous period', async () => {
    const allTime = await sql(
      `select a.rank, a.artist_name, a.plays from period_snapshots, unnest(top_artists) as t(a)
       where user_id = 'alice' and period_type = 'all_time' order by a.rank`,
    );
    const top = alice.get('top')!.filter((r) => r.period === 'all_time' && r.entity === 'artist');
    assert.deepEqual(
      top.map((r) => [r.rank, r.name, r.plays]),
      allTime.map((r) => [r.rank, r.artist_name, r.plays]),
    );
    // 2024: Fresh is new, Midnight (the New Year play) was #2 in 2023 (after Old Flame).
    const y2024 = alice.get('top')!.filter((r) => r.period === '2024' && r.entity === 'artist');
    assert.deepEqual(y2024.map((r) => [r.name, r.prev_rank]), [['Fresh', null], ['Midnight', 2]]);
    const months = alice.get('top_months')!.filter((r) => r.period === '2023-05');
    assert.ok(months.some((r) => r.entity === 'track' && r.name === 'Ember 0' && r.artist === 'Old Flame' && r.album === 'Ashes'));
  });

  test('skips by hour, platform family and shuffle; most skipped tracks', () => {
    const skips = alice.get('skips')!;
    const platform = Object.fromEntries(skips.filter((r) => r.dimension === 'platform').map((r) => [r.key, [r.track_streams, r.skips]]));
    assert.deepEqual(platform, { Android: [4, 1], iOS: [13, 0], 'Web player': [2, 0], Windows: [2, 0], Other: [1, 0] });
    const shuffle = Object.fromEntries(skips.filter((r) => r.dimension === 'shuffle').map((r) => [r.key, r.skips]));
    assert.equal(shuffle['Shuffle on'], 1);
    assert.deepEqual(alice.get('skipped_tracks')!.map((r) => [r.track_name, r.skips, r.track_streams]), [['F1', 1, 2]]);
  });

  test('sessions: a gap of more than 30 minutes ends a session', () => {
    const sessions = alice.get('sessions')!;
    const y2024 = sessions.filter((r) => r.year === '2024');
    // 2024: New Year (1), 20 January (1), 2 March morning (3 plays) and noon (3 streams), the episode, 4 March.
    assert.equal(y2024.reduce((s, r) => s + Number(r.sessions), 0), 6);
    assert.equal(y2024.reduce((s, r) => s + Number(r.streams), 0), 10);
    assert.equal(y2024.find((r) => r.bucket === '5-15 min')!.sessions, 2);
  });

  test('discovery: first heard per month, new share; favourites not heard for 180 days', () => {
    const discovery = alice.get('discovery')!;
    const may = discovery.find((r) => day(r.month as number) === '2023-05-01')!;
    assert.equal(may.new_artists, 1);
    assert.equal(may.new_tracks, 3);
    assert.equal(may.new_track_ms, may.named_track_ms);
    const march = discovery.find((r) => day(r.month as number) === '2024-03-01')!;
    assert.equal(march.new_artists, 1);
    const forgotten = alice.get('forgotten')!;
    assert.deepEqual(forgotten.filter((r) => r.entity === 'artist').map((r) => r.name), ['Old Flame']);
  });

  test('podcasts, sources and imports', async () => {
    assert.deepEqual(alice.get('shows')!.map((r) => [r.show_name, r.streams, r.ms]), [['The Show', 1, 1_800_000]]);
    const sources = await sql(`select source, count(*) as n from plays where user_id = 'alice' group by all order by 1`);
    const fromDataset = new Map<string, number>();
    for (const r of alice.get('sources')!) fromDataset.set(r.source as string, (fromDataset.get(r.source as string) ?? 0) + Number(r.plays));
    assert.deepEqual(Object.fromEntries(fromDataset), Object.fromEntries(sources.map((r) => [r.source, r.n])));
    const imports = alice.get('imports')!;
    assert.equal(imports.length, 1);
    assert.equal(imports[0]!.inputs, 'my_spotify_data.zip');
    assert.equal(imports[0]!.plays_added, 20);
  });

  test('the sync state shows up when there is one, with its gaps', async () => {
    assert.equal(alice.get('sync')!.length, 0, 'no sync ran: no row');
    await writeJsonAtomic(layout.syncState('alice'), {
      userId: 'alice',
      cursor: Date.parse('2024-03-04T12:03:10Z'),
      lastRun: { workflowId: 'sync:alice-2024', startedAt: '2024-03-05T11:00:00Z', status: 'failed', error: 'Spotify said 503' },
      gaps: [{ userId: 'alice', from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z', detectedAt: '2024-03-05T11:00:00Z', suggestion: 'import an export' }],
    });
    const data = await siteDatasets(layout, datasetOptions(config, layout), 'alice', ['sync', 'sync_gaps']);
    const sync = rowsOf(data.get('sync')!);
    assert.equal(sync[0]!.last_status, 'failed');
    assert.equal(sync[0]!.last_error, 'Spotify said 503');
    assert.equal(sync[0]!.last_workflow_id, 'sync:alice-2024');
    assert.equal(rowsOf(data.get('sync_gaps')!).length, 1);
    await fs.rm(layout.syncState('alice'));
  });

  test("a user's datasets hold nothing of another user", async () => {
    const bob = await siteDatasets(layout, datasetOptions(config, layout), 'bob');
    const text = (m: Map<string, Uint8Array>) => [...m.values()].map((b) => Buffer.from(b).toString('latin1')).join('\n');
    const aliceText = text(await siteDatasets(layout, datasetOptions(config, layout), 'alice'));
    assert.ok(!aliceText.includes('Zebra Secret') && !aliceText.includes('Hidden'), 'bob in alice');
    assert.ok(text(bob).includes('Zebra Secret'));
    for (const name of ['Old Flame', 'Fresh', 'Midnight', 'The Show']) assert.ok(!text(bob).includes(name), `${name} in bob`);
    assert.deepEqual(await siteYears(layout, datasetOptions(config, layout), 'bob'), ['2022']);
    assert.deepEqual(await siteYears(layout, datasetOptions(config, layout), 'alice'), ['2023', '2024']);
  });

  test('each dataset alone (its own session) equals the same dataset in the whole archive', async () => {
    for (const name of Object.keys(DATASETS)) {
      const alone = await siteDatasets(layout, datasetOptions(config, layout), 'alice', [name]);
      assert.deepEqual(rowsOf(alone.get(name)!), alice.get(name), name);
    }
  });

  test('a user without plays gets empty datasets, not errors', async () => {
    const carol = await siteDatasets(layout, datasetOptions(config, layout), 'carol');
    assert.equal(rowsOf(carol.get('days')!).length, 0);
    assert.equal(rowsOf(carol.get('meta')!)[0]!.plays, 0);
    assert.equal(rowsOf(carol.get('top')!).length, 0);
  });
});

describe('Arrow encoding', () => {
  test('values round-trip exactly, in compact types', () => {
    const columns: Column[] = [
      { name: 'small', kind: 'int', values: [1, -3, null] },
      { name: 'medium', kind: 'int', values: [1000n, 2n, 3n] },
      { name: 'big', kind: 'int', values: [2n ** 40n, 1n, null] },
      { name: 'name', kind: 'string', values: ['a', null, 'a'] },
      { name: 'day', kind: 'date', values: [new Date('2024-02-29T00:00:00Z'), null, '2020-01-01'] },
      { name: 'at', kind: 'timestamp', values: ['2024-01-01T10:00:00.123Z', null, new Date(0)] },
      { name: 'f', kind: 'float', values: [0.5, null, 2] },
      { name: 'b', kind: 'bool', values: [true, false, null] },
    ];
    const table = tableFromIPC(encodeArrow(columns));
    const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
    assert.equal(types.small, 'Int8');
    assert.equal(types.medium, 'Int16');
    assert.equal(types.big, 'Float64');
    assert.equal(types.name, 'Dictionary<Int8, Utf8>');
    assert.deepEqual(table.getChild('big')!.toArray().slice(0, 2), Float64Array.from([2 ** 40, 1]));
    assert.deepEqual([...table.getChild('name')!], ['a', null, 'a']);
    assert.equal(new Date(table.getChild('day')!.get(0) as number).toISOString(), '2024-02-29T00:00:00.000Z');
    assert.equal(new Date(table.getChild('at')!.get(0) as number).toISOString(), '2024-01-01T10:00:00.123Z');
    assert.equal(table.getChild('b')!.get(2), null);
  });

  test('the same values give the same bytes (dictionary ids are fixed), whatever was encoded before', () => {
    const columns: Column[] = [
      { name: 'name', kind: 'string', values: ['a', 'b'] },
      { name: 'other', kind: 'string', values: ['x', null] },
    ];
    const first = encodeArrow(columns);
    encodeArrow([{ name: 'z', kind: 'string', values: ['q'] }]);
    assert.deepEqual(encodeArrow(columns), first);
  });

  test('an integer beyond 2^53 is refused rather than rounded', () => {
    assert.throws(() => encodeArrow([{ name: 'x', kind: 'int', values: [2n ** 60n + 1n] }]), /does not fit/);
  });
});

describe('the site archive (the data loader)', () => {
  test('refuses outside a site build', async () => {
    await assert.rejects(writeSiteArchive(config), /only inside a site build/);
  });

  test('is a ZIP of one Arrow file per dataset of the site user', async () => {
    const chunks: Buffer[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
    await writeSiteArchive({ ...config, site: { userId: 'bob', outputDir: undefined } }, sink);
    const zip = Buffer.concat(chunks);
    const names = await new Promise<string[]>((resolve, reject) =>
      yauzl.fromBuffer(zip, { lazyEntries: false }, (err, file) => {
        if (err) return reject(err);
        const out: string[] = [];
        file.on('entry', (e: yauzl.Entry) => out.push(e.fileName));
        file.on('end', () => resolve(out));
        file.on('error', reject);
      }),
    );
    assert.deepEqual(names.sort(), Object.keys(DATASETS).map((n) => `${n}.arrow`).sort());
    assert.ok(zip.includes(Buffer.from('Zebra Secret')));
  });
});

const uri = (kind: 'track' | 'artist', n: number) => `spotify:${kind}:${String(n).padStart(22, 'A')}`;
const image = (id: string) => `https://i.scdn.co/image/ab67616d0000b273${id.padEnd(24, '0')}`;

/**
 * Dora: "Song A" (a URI the catalog knows under another spelling), "Song B" (no URI; the catalog has
 * it by name), "Song D" (unknown, but its album is known), "Nobody" (not in the catalog). The catalog also holds two artists called "Artist One"
 * (one credited on Song A), an unrelated track and Bob's artist, all with images.
 */
describe('art: images of the top lists from the shared catalog', () => {
  let dora: Record<string, unknown>[];
  before(async () => {
    await ensureUser(layout, 'dora', 'UTC');
    await writePlays(layout, 'dora', [
      ...[1, 2, 3].map((d) => ({ artist_name: 'Artist One', track_name: 'Song A', album_name: 'Album X', track_uri: uri('track', 1), started_at: `2024-02-0${d}T10:00:00Z` })),
      ...[1, 2].map((d) => ({ artist_name: 'Artist Two', track_name: 'Song B', album_name: 'Album Y', track_uri: null, started_at: `2024-02-0${d}T11:00:00Z` })),
      { artist_name: 'Artist Two', track_name: 'Song D', album_name: 'Album Y', started_at: '2024-02-03T11:00:00Z' },
      { artist_name: 'Nobody', track_name: 'Unknown', album_name: 'Nowhere', started_at: '2024-02-04T10:00:00Z' },
    ]);
    await rebuildUserModels(layout, dbOptions, 'dora');
    const at = '2024-03-01T00:00:00Z';
    const track = (n: number, name: string, album: string, img: string, artists: [number, string][]) =>
      trackRowFromApi(
        { uri: uri('track', n), name, album: { uri: `spotify:album:${String(n).padStart(22, 'B')}`, name: album, images: [{ url: image(img), width: 640, height: 640 }] }, artists: artists.map(([a, nm]) => ({ uri: uri('artist', a), name: nm })) },
        { source: 'lookup', fetchedAt: at },
      )!;
    const artist = (n: number, name: string, img: string, fetchedAt = at) =>
      artistRowFromApi({ uri: uri('artist', n), name, genres: [], images: [{ url: `https://i.scdn.co/image/${img.padEnd(40, '0')}`, width: 640 }] }, { source: 'lookup', fetchedAt })!;
    await withDb(dbOptions, (db) =>
      writeCatalog(db, layout, {
        tracks: [
          track(1, 'Song A (Remastered)', 'Album X', 'a', [[1, 'Artist One']]),
          track(2, 'Song B', 'Album Y', 'b', [[2, 'Artist Two']]),
          track(3, 'Elsewhere', 'Other Album', 'z', [[3, 'Zebra Secret']]),
        ],
        artists: [artist(1, 'Artist One', 'art1'), artist(9, 'Artist One', 'art9', '2024-03-02T00:00:00Z'), artist(2, 'artist two ', 'art2'), artist(3, 'Zebra Secret', 'zebra')],
      }),
    );
    dora = rowsOf((await siteDatasets(layout, datasetOptions(config, layout), 'dora', ['art'])).get('art')!);
  });

  test('tracks by URI, else by name, else by album; albums by name; artists by name, the credited one first', () => {
    assert.deepEqual(
      dora.map((r) => [r.entity, r.name, r.artist, r.image]),
      [
        ['album', 'Album X', 'Artist One', image('a')],
        ['album', 'Album Y', 'Artist Two', image('b')],
        ['artist', 'Artist One', null, `https://i.scdn.co/image/${'art1'.padEnd(40, '0')}`],
        ['artist', 'Artist Two', null, `https://i.scdn.co/image/${'art2'.padEnd(40, '0')}`],
        ['track', 'Song A', 'Artist One', image('a')],
        ['track', 'Song B', 'Artist Two', image('b')],
        ['track', 'Song D', 'Artist Two', image('b')],
      ],
    );
  });

  test("only the user's top entries: never the rest of the catalog, never another user's", async () => {
    const text = dora.map((r) => JSON.stringify(r)).join('\n');
    assert.doesNotMatch(text, /Zebra|zebra|Elsewhere|Nobody/);
    const bob = rowsOf((await siteDatasets(layout, datasetOptions(config, layout), 'bob', ['art'])).get('art')!);
    assert.deepEqual(bob.map((r) => [r.entity, r.name]), [['artist', 'Zebra Secret']]);
    // Every entry with art is in the user's top lists (period_snapshots), as `rewind sql` has them.
    const names = new Set((await sql(`select a.artist_name as n from period_snapshots, unnest(top_artists) as t(a) where user_id = 'dora'`)).map((r) => r.n));
    for (const r of dora.filter((r) => r.entity === 'artist')) assert.ok(names.has(r.name), String(r.name));
  });

  test("the year's top fives carry the same images", async () => {
    const tops = rowsOf((await siteDatasets(layout, datasetOptions(config, layout), 'dora', ['year_tops'])).get('year_tops')!);
    const art = new Map(dora.map((r) => [`${r.entity}/${r.name}`, r.image]));
    assert.equal(tops.length, 10); // 3 artists, 4 tracks, 3 albums
    for (const t of tops) assert.equal(t.image, art.get(`${t.entity}/${t.name}`) ?? null, `${t.entity} ${t.name}`);
    assert.equal(tops.find((t) => t.name === 'Nobody')!.image, null);
  });

  test('the image is the one `rewind sql` joins: tracks.album_image_url of the track the plays carry', async () => {
    const [row] = await sql(`select t.album_image_url from plays p join tracks t using (track_uri) where p.user_id = 'dora' and p.track_name = 'Song A' limit 1`);
    assert.equal(dora.find((r) => r.entity === 'track' && r.name === 'Song A')!.image, row!.album_image_url);
  });
});

describe('the dataset cache of the site build', () => {
  test('a dataset is computed again only when a file it reads changed; cached bytes equal fresh ones', async () => {
    const cacheDir = path.join(root, 'cache-dora');
    const opts = datasetOptions(config, layout);
    const first = await siteData(layout, opts, 'dora', { cacheDir });
    assert.deepEqual(first.computed, Object.keys(DATASETS));
    assert.deepEqual(first.years, ['2024']);
    const second = await siteData(layout, opts, 'dora', { cacheDir });
    assert.deepEqual(second.computed, ['enrichment'], 'the backlog depends on the clock: always computed');
    assert.equal(second.reused.length, Object.keys(DATASETS).length - 1);
    for (const [name, bytes] of first.datasets) assert.deepEqual(second.datasets.get(name), bytes, name);

    // The sync state changes: the two datasets that read it.
    await writeJsonAtomic(layout.syncState('dora'), { userId: 'dora', cursor: null, gaps: [] });
    assert.deepEqual((await siteData(layout, opts, 'dora', { cacheDir })).computed, ['sync', 'enrichment', 'sync_gaps']);

    // New plays (a new generation of one year's file), marts not rebuilt yet: what reads the plays.
    await writePlays(layout, 'dora', [{ artist_name: 'Artist Two', track_name: 'Song C', album_name: 'Album Y', started_at: '2024-02-05T10:00:00Z' }]);
    const afterPlays = await siteData(layout, opts, 'dora', { cacheDir });
    assert.deepEqual(afterPlays.computed, ['meta', 'skips', 'sessions', 'skipped_tracks', 'years', 'sources', 'enrichment']);
    // The marts rebuilt: what reads them too (and the figures equal a computation without cache).
    await rebuildUserModels(layout, dbOptions, 'dora');
    const afterMarts = await siteData(layout, opts, 'dora', { cacheDir });
    assert.ok(afterMarts.computed.includes('top') && afterMarts.computed.includes('art') && !afterMarts.computed.includes('imports'));
    const fresh = await siteDatasets(layout, opts, 'dora');
    for (const [name, bytes] of fresh) assert.deepEqual(rowsOf(afterMarts.datasets.get(name)!), rowsOf(bytes), name);
    assert.equal(rowsOf(afterMarts.datasets.get('meta')!)[0]!.plays, 8);

    // The catalog changes (an enrichment run): only what joins it.
    await withDb(dbOptions, (db) =>
      writeCatalog(db, layout, { artists: [artistRowFromApi({ uri: uri('artist', 5), name: 'Nobody', genres: [], images: [{ url: 'https://i.scdn.co/image/nobody', width: 64 }] }, { source: 'lookup', fetchedAt: '2024-03-03T00:00:00Z' })!] }),
    );
    const afterCatalog = await siteData(layout, opts, 'dora', { cacheDir });
    assert.deepEqual(afterCatalog.computed, ['year_tops', 'art', 'enrichment']);
    assert.ok(rowsOf(afterCatalog.datasets.get('art')!).some((r) => r.name === 'Nobody'));
    // One entry per dataset stays in the cache.
    const entries = (await fs.readdir(cacheDir)).filter((f) => f.startsWith('art.'));
    assert.equal(entries.length, 1);
  });

  test("another user's cache (or settings) never answers: the key holds the user and the time zone", async () => {
    const cacheDir = path.join(root, 'cache-shared');
    const opts = datasetOptions(config, layout);
    await siteData(layout, opts, 'dora', { cacheDir });
    const bob = await siteData(layout, opts, 'bob', { cacheDir });
    assert.deepEqual(bob.reused, []);
    await setTimezone(layout, 'dora', 'Asia/Tokyo');
    await rebuildUserModels(layout, dbOptions, 'dora');
    const tokyo = await siteData(layout, opts, 'dora', { cacheDir });
    assert.ok(tokyo.computed.includes('sessions') && tokyo.computed.includes('sync'), tokyo.computed.join(', '));
  });
});
