/**
 * `rewind build` end to end: a demo export imported through the real import workflow (a real Temporal
 * dev server), a second user written as Parquet plays, then the CLI rebuilds the models and builds
 * each user's Observable Framework site. Checks the output: every page, data as Arrow files, no
 * reference to anything outside the site (the build needs no network), no data of another user, the
 * source tree untouched, and rebuilds: after new plays only the data files are replaced (the same
 * site, byte for byte, as a Framework build makes), a new year makes Framework build again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { tableFromIPC } from 'apache-arrow';
import { loadConfig, PROJECT_ROOT, type Config } from '../../config.ts';
import { createContext } from '../../cli/context.ts';
import { runImport } from '../../cli/import.ts';
import { writeDemoExport } from '../../cli/demo/generate.ts';
import { Layout } from '../../warehouse/layout.ts';
import { buildSite, DATASETS, DASHBOARDS_ROOT } from '../../warehouse/dashboards.ts';
import { rebuildUserModels } from '../../warehouse/models.ts';
import { ensureUser } from '../../warehouse/users.ts';
import { queryWarehouse } from '../../warehouse/query.ts';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.ts';
import { writePlays } from '../helpers/plays.ts';

const exec = promisify(execFile);
let temporal: TestTemporal;
let root: string;
let config: Config;
let layout: Layout;
let sourceBefore: string[];
let buildOutput: string;

/** Every file under `dir`, relative, sorted (following no symlinks). */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() || e.isSymbolicLink()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

async function siteText(userId: string, exts = /\.(html|js|css)$/): Promise<Map<string, string>> {
  const site = layout.site(userId);
  const out = new Map<string, string>();
  for (const f of await files(site)) if (exts.test(f)) out.set(f, await fs.readFile(path.join(site, f), 'latin1'));
  return out;
}

/** The site's Arrow data files, decoded, by dataset name. */
async function siteData(userId: string): Promise<Map<string, Record<string, unknown>[]>> {
  const dir = path.join(layout.site(userId), '_file', 'data', 'warehouse');
  const out = new Map<string, Record<string, unknown>[]>();
  for (const f of await fs.readdir(dir)) {
    const name = f.replace(/\.[0-9a-f]{8}\.arrow$/, '');
    out.set(name, tableFromIPC(await fs.readFile(path.join(dir, f))).toArray().map((r) => r.toJSON() as Record<string, unknown>));
  }
  return out;
}

before(async () => {
  temporal = await startTestTemporal();
  root = mkdtempSync(path.join(os.tmpdir(), 'rewind-site-test-'));
  config = loadConfig({ REWIND_HOME: path.join(root, 'home'), TEMPORAL_ADDRESS: temporal.address, REWIND_DUCKDB_MEMORY: '512MB' });
  layout = new Layout(config.home);
  sourceBefore = await files(DASHBOARDS_ROOT);
  // "demo": a synthetic export in Spotify's format, through the import workflow.
  const zip = path.join(root, 'my_spotify_data.zip');
  await writeDemoExport(zip, { streams: 4000, seed: 3, years: 2, endDate: new Date(Date.UTC(2025, 5, 30)) });
  await runImport(createContext(config, () => undefined), { paths: [zip], userId: 'demo' });
  // "other": a few plays of an artist only they have.
  await ensureUser(layout, 'other', 'UTC');
  await writePlays(layout, 'other', [0, 1, 2, 3].map((i) => ({ artist_name: 'Zebra Secret', track_name: `Hidden ${i}`, album_name: 'Private', started_at: `2021-04-0${i + 1}T12:00:00Z`, ms_played: 185_000 })));
  // `rewind build` as a person runs it: models, then the site of every user.
  const env = { ...process.env, REWIND_HOME: config.home, TEMPORAL_ADDRESS: temporal.address, REWIND_DUCKDB_MEMORY: '512MB' };
  buildOutput = (await exec(process.execPath, [path.join(PROJECT_ROOT, 'bin/rewind.js'), 'build'], { env, maxBuffer: 1 << 24 })).stdout;
});

after(async () => {
  await temporal?.stop();
  await fs.rm(root, { recursive: true, force: true });
});

describe('rewind build', () => {
  test('builds the models, then the site of each user', () => {
    assert.match(buildOutput, /demo: \d+ daily rollups, \d+ period snapshots/);
    assert.match(buildOutput, /demo: dashboards \(\d+ pages\) built in [\d.]+ s: .*site[/\\]demo/);
    assert.match(buildOutput, /other: dashboards \(\d+ pages\) built in/);
  });

  test('every page of the issue is there, one Year in review page per year with data', async () => {
    const pages = (await files(layout.site('demo'))).filter((f) => f.endsWith('.html'));
    const years = (await queryWarehouse(layout, {}, `select period_key from period_snapshots where user_id = 'demo' and period_type = 'calendar_year' order by 1`)).rows.map((r) => r.period_key);
    assert.ok(years.length >= 2);
    const expected = ['index.html', 'top.html', 'clock.html', 'habits.html', 'discovery.html', 'podcasts.html', 'health.html', 'years/index.html', ...years.map((y) => `years/${y}.html`)];
    assert.deepEqual(pages.sort(), expected.sort());
    const index = await fs.readFile(path.join(layout.site('demo'), 'index.html'), 'utf8');
    for (const label of ['Overview', 'Top', 'Listening clock', 'Habits', 'Discovery', 'Year in review', 'Podcasts', 'Data health']) {
      assert.ok(index.includes(`>${label}<`), `sidebar link ${label}`);
    }
    assert.deepEqual((await files(layout.site('other'))).filter((f) => f.startsWith('years/')).sort(), ['years/2021.html', 'years/index.html']);
  });

  test('the data are Arrow files (no JSON data), each page fetching only its own', async () => {
    const all = await files(layout.site('demo'));
    const data = all.filter((f) => f.startsWith(`_file${path.sep}`));
    assert.ok(data.length >= Object.keys(DATASETS).length - 2, data.join(', '));
    for (const f of data) {
      assert.match(f, /\.arrow$/);
      const table = tableFromIPC(await fs.readFile(path.join(layout.site('demo'), f)));
      assert.ok(table.schema.fields.length > 0, f);
    }
    assert.ok(!all.some((f) => f.endsWith('.zip')), 'the loader archive stays in the build cache');
    const overview = await fs.readFile(path.join(layout.site('demo'), 'index.html'), 'utf8');
    const registered = [...overview.matchAll(/registerFile\("([^"]+)"/g)].map((m) => path.basename(m[1]!));
    assert.deepEqual(registered.sort(), ['meta.arrow', 'periods.arrow', 'weeks.arrow']);
  });

  test('figures in the data equal rewind sql', async () => {
    const data = await siteData('demo');
    const sql = (await queryWarehouse(layout, {}, `select listens, track_ms from period_snapshots where user_id = 'demo' and period_type = 'all_time'`)).rows[0]!;
    const allTime = data.get('periods')!.find((p) => p.period_type === 'all_time')!;
    assert.equal(allTime.listens, sql.listens);
    assert.equal(allTime.track_ms, sql.track_ms);
    const plays = (await queryWarehouse(layout, {}, `select count(*) as n from plays where user_id = 'demo'`)).rows[0]!.n;
    assert.equal(data.get('meta')![0]!.plays, plays);
    assert.equal(data.get('meta')![0]!.user_id, 'demo');
  });

  test('nothing in the site is fetched from outside it (no CDN, no web font)', async () => {
    for (const [file, text] of await siteText('demo')) {
      // Namespace names (http://www.w3.org/2000/svg ...) in libraries are identifiers, never fetched.
      const urls = [...text.matchAll(/https?:\/\/[^\s"'`)<>]+/g)].map((m) => m[0]).filter((u) => !u.startsWith('http://www.w3.org/'));
      assert.deepEqual(urls, [], `${file} references ${urls.join(', ')}`);
      assert.doesNotMatch(text, /jsdelivr|unpkg|googleapis|esm\.sh|\/\/cdn\./i, file);
      if (file.endsWith('.html')) {
        // What the page loads (links to pages and to the Temporal UI are anchors, not loads).
        for (const m of text.matchAll(/<(?:link|script|img|iframe|source|video|audio)\b[^>]*\s(?:src|href)="([^"]*)"/g)) {
          assert.match(m[1]!, /^(\.{1,2}\/|#|data:,$)/, `${file}: ${m[1]}`);
        }
      }
    }
  });

  test("no user's site holds another user's data", async () => {
    const demoTop = (await queryWarehouse(layout, {}, `select a.artist_name from period_snapshots, unnest(top_artists) as t(a) where user_id = 'demo' and period_type = 'all_time' and a.rank <= 3`)).rows.map((r) => String(r.artist_name));
    const all = /\.(html|js|css|arrow)$/;
    const demoFiles = [...(await siteText('demo', all)).values()].join('\n');
    const otherFiles = [...(await siteText('other', all)).values()].join('\n');
    assert.ok(otherFiles.includes('Zebra Secret'));
    assert.ok(!demoFiles.includes('Zebra Secret'), "other's artist in demo's site");
    for (const name of demoTop) {
      assert.ok(demoFiles.includes(Buffer.from(name, 'utf8').toString('latin1')), `demo's ${name} in demo's site`);
      assert.ok(!otherFiles.includes(Buffer.from(name, 'utf8').toString('latin1')), `demo's ${name} in other's site`);
    }
  });

  test('the source tree holds no build output, cache or user data', async () => {
    assert.deepEqual(await files(DASHBOARDS_ROOT), sourceBefore);
    for (const f of sourceBefore) assert.ok(!f.includes('.observablehq') && !f.startsWith('dist'), f);
  });

  test('a rebuild after new plays replaces only the data (no Framework run) and shows them', async () => {
    await writePlays(layout, 'other', [{ artist_name: 'Late Arrival', track_name: 'New', album_name: 'Fresh', started_at: '2021-04-09T12:00:00Z', ms_played: 200_000 }]);
    await rebuildUserModels(layout, { threads: 2 }, 'other', { days: ['2021-04-09'] });
    const before = (await siteData('other')).get('meta')![0]!.plays;
    const result = await buildSite(config, 'other');
    assert.equal(result.site, layout.site('other'));
    assert.equal(result.mode, 'data', 'same pages, same project: only the data files change');
    assert.ok(result.datasets.computed.includes('meta') && result.datasets.reused.includes('imports'), JSON.stringify(result.datasets));
    const data = await siteData('other');
    assert.equal(data.get('meta')![0]!.plays, Number(before) + 1);
    assert.ok(data.get('top')!.some((r) => r.name === 'Late Arrival'));
    // One generation of the site at a time: the previous one was swapped out and removed.
    const siblings = await fs.readdir(path.dirname(layout.site('other')));
    assert.deepEqual(siblings.sort(), ['demo', 'other']);
  });

  test('the site the data path makes is the one Framework makes, byte for byte (but the files\' times)', async () => {
    const snapshot = async () => {
      const site = layout.site('other');
      const out = new Map<string, string>();
      for (const f of await files(site)) out.set(f, (await fs.readFile(path.join(site, f), 'latin1')).replace(/"lastModified":\d+/g, '"lastModified":0'));
      return out;
    };
    const fast = await snapshot();
    const full = await buildSite(config, 'other', undefined, { full: true });
    assert.equal(full.mode, 'framework');
    const framework = await snapshot();
    assert.deepEqual([...fast.keys()], [...framework.keys()]);
    for (const [f, text] of framework) assert.ok(fast.get(f) === text, `${f} differs`);
  });

  test('a new year (a new page) makes Framework build the site again; the source tree stays clean', async () => {
    await writePlays(layout, 'other', [{ artist_name: 'Zebra Secret', track_name: 'Later', album_name: 'Private', started_at: '2022-01-03T12:00:00Z', ms_played: 200_000 }]);
    await rebuildUserModels(layout, { threads: 2 }, 'other');
    const result = await buildSite(config, 'other');
    assert.equal(result.mode, 'framework');
    assert.deepEqual(result.years, ['2021', '2022']);
    assert.ok((await files(layout.site('other'))).includes(path.join('years', '2022.html')));
    assert.deepEqual(await files(DASHBOARDS_ROOT), sourceBefore);
  });
});
