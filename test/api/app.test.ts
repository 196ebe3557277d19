/**
 * The API end to end through `app.inject()` on a real warehouse (two users with known plays, their
 * marts built by the real models): every route's answer, auth (tokens, sessions, revocation), errors
 * as JSON, headers, strict schemas, other users' data invisible, injection attempts on every parameter.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { liveFiles } from '../../warehouse/files.ts';
import { withDb, literal } from '../../warehouse/duckdb.ts';
import { revokeToken, listTokens, createToken } from '../../api/auth/tokens.ts';
import { bearer, makeFixture, type Fixture } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await makeFixture();
});
after(async () => {
  await f?.close();
});

const get = (url: string, token?: string, headers: Record<string, string> = {}) =>
  f.app.inject({ method: 'GET', url, headers: { ...(token ? bearer(token) : {}), ...headers } });

/** Every authenticated GET route with valid parameters. */
const ROUTES = [
  '/api/v1/analytics/overview?period=all_time',
  '/api/v1/top/artists?period=all_time',
  '/api/v1/top/tracks?period=all_time',
  '/api/v1/top/albums?period=all_time',
  '/api/v1/history',
  '/api/v1/rollups/daily?from=2020-01-01&to=2025-12-31',
  '/api/v1/heatmap?period=all_time',
  '/api/v1/streaks',
  '/api/v1/sessions?from=2020-01-01&to=2025-12-31',
  '/api/v1/discovery?period=all_time',
  '/api/v1/me',
  '/api/v1/status',
  '/api/v1/export/plays?format=csv',
  '/api/v1/export/plays?format=jsonl',
];

describe('analytics routes answer from the marts and plays', () => {
  test('overview of a calendar year, a month, all time and a rolling period', async () => {
    const y = (await get('/api/v1/analytics/overview?period=2023', f.tokens.alice)).json();
    assert.equal(y.period_type, 'calendar_year');
    assert.equal(y.streams, 8);
    assert.equal(y.listens, 7);
    assert.equal(y.skips, 1);
    assert.equal(y.unique_artists, 2);
    assert.equal(y.longest_streak_days, 3);
    assert.equal(y.longest_streak_start, '2023-07-01');
    assert.deepEqual(y.top_artists.map((a: { artist_name: string }) => a.artist_name), ['A1', 'A2']);
    assert.equal(y.hourly.length, 24);
    const one = (await get('/api/v1/analytics/overview?period=2023&top=1', f.tokens.alice)).json();
    assert.deepEqual([one.top_artists.length, one.top_tracks.length, one.top_albums.length], [1, 1, 1]);
    assert.equal(one.streams, y.streams);
    assert.equal(y.weekday.length, 7);
    const m = (await get('/api/v1/analytics/overview?period=2023-07', f.tokens.alice)).json();
    assert.equal(m.period_type, 'calendar_month');
    assert.equal(m.listens, 7);
    const all = (await get('/api/v1/analytics/overview', f.tokens.alice)).json();
    assert.equal(all.period_type, 'all_time');
    assert.equal(all.streams, 10);
    const week = await get('/api/v1/analytics/overview?period=week', f.tokens.alice);
    assert.equal(week.statusCode, 200);
    assert.equal(week.json().period_type, 'week');
    assert.equal(week.json().streams, 0, 'no plays in the last 7 days');
  });

  test('top lists page through the period top list', async () => {
    const r = (await get('/api/v1/top/artists?period=all_time&limit=2&offset=1', f.tokens.alice)).json();
    assert.equal(r.total, 3);
    assert.deepEqual(r.items.map((a: { rank: number }) => a.rank), [2, 3]);
    const t = (await get('/api/v1/top/tracks?period=2023&limit=1', f.tokens.alice)).json();
    assert.equal(t.items[0].track_name, 'T1-0');
    assert.equal(t.items[0].plays, 3);
    const a = (await get('/api/v1/top/albums?period=2024', f.tokens.alice)).json();
    assert.deepEqual(a.items.map((x: { album_name: string }) => x.album_name), ['Al3']);
  });

  test('history pages newest first with a cursor, and accepts a date-time', async () => {
    const seen: string[] = [];
    let url = '/api/v1/history?limit=3';
    for (;;) {
      const page = (await get(url, f.tokens.alice)).json();
      seen.push(...page.plays.map((p: { id: string }) => p.id));
      if (!page.next) break;
      url = `/api/v1/history?limit=3&before=${page.next}`;
    }
    assert.equal(seen.length, 10, 'every play once');
    assert.equal(new Set(seen).size, 10);
    const ends = seen.map((id) => id.split(':').slice(1, 4).join(':'));
    assert.deepEqual(ends, [...ends].sort().reverse(), 'newest first');
    const older = (await get('/api/v1/history?before=2023-07-02T00:00:00Z', f.tokens.alice)).json();
    assert.equal(older.plays.length, 6);
    assert.ok(older.plays.every((p: { ended_at: string }) => p.ended_at < '2023-07-02'));
  });

  test('daily rollups, heatmap, streaks, sessions, discovery', async () => {
    const days = (await get('/api/v1/rollups/daily?from=2023-07-01&to=2023-07-02', f.tokens.alice)).json();
    assert.deepEqual(days.days.map((d: { date: string; listens: number }) => [d.date, d.listens]), [['2023-07-01', 5], ['2023-07-02', 1]]);

    const heat = (await get('/api/v1/heatmap?period=2023', f.tokens.alice)).json();
    assert.equal(heat.cells.length, 168);
    // 2023-07-01 was a Saturday (ISO 6): three listens at 10:00 UTC, two at 12:00.
    const cell = (w: number, h: number) => heat.cells.find((c: { iso_weekday: number; hour: number }) => c.iso_weekday === w && c.hour === h);
    assert.equal(cell(6, 10).listens, 3);
    assert.equal(cell(6, 12).listens, 2);
    assert.equal(heat.cells.reduce((n: number, c: { listens: number }) => n + c.listens, 0), 7);

    const streaks = (await get('/api/v1/streaks', f.tokens.alice)).json();
    assert.deepEqual(streaks.longest, { start: '2023-07-01', end: '2023-07-03', days: 3 });
    assert.equal(streaks.current, null, 'no listen today or yesterday');

    const sessions = (await get('/api/v1/sessions?from=2023-07-01&to=2023-07-01', f.tokens.alice)).json();
    assert.equal(sessions.gap_minutes, 30);
    // 10:00-10:10 (3 plays), 12:00-12:06 (2 plays), 13:00 (a skip): three sessions, newest first.
    assert.deepEqual(sessions.sessions.map((s: { streams: number }) => s.streams), [1, 2, 3]);
    assert.equal(sessions.sessions[2].top_artist, 'A1');
    assert.equal(sessions.sessions[2].start, '2023-07-01T10:00:00.000Z');

    const disc = (await get('/api/v1/discovery?period=2024', f.tokens.alice)).json();
    assert.deepEqual(disc.artists.map((a: { artist_name: string }) => a.artist_name), ['A3']);
    assert.equal(disc.artists[0].first_heard, '2024-01-15');
    const disc23 = (await get('/api/v1/discovery?period=2023', f.tokens.alice)).json();
    assert.deepEqual(disc23.artists.map((a: { artist_name: string }) => a.artist_name).sort(), ['A1', 'A2']);
  });

  test('status: plays per source, gaps', async () => {
    const s = (await get('/api/v1/status', f.tokens.alice)).json();
    assert.deepEqual(s.plays.map((p: { source: string; plays: number }) => [p.source, p.plays]), [['account_export', 1], ['extended_export', 9]]);
    assert.equal(s.totalPlays, 10);
    assert.equal(s.syncAvailable, false);
    assert.deepEqual(s.gaps, [{ from: '2023-07-04', to: '2024-01-14', days: 195 }]);
  });

  test('Accept: text/csv and Arrow on the analytics routes', async () => {
    const csv = await get('/api/v1/top/artists?period=all_time', f.tokens.alice, { accept: 'text/csv' });
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    assert.equal(csv.body.split('\n')[0], 'rank,artist_name,plays,ms');
    assert.equal(csv.body.trim().split('\n').length, 4);
    const heat = await get('/api/v1/heatmap?period=2023', f.tokens.alice, { accept: 'text/csv;q=0.9, application/json;q=0.1' });
    assert.equal(heat.body.trim().split('\n').length, 169);
    const arrow = await get('/api/v1/rollups/daily?from=2023-07-01&to=2023-07-31', f.tokens.alice, { accept: 'application/vnd.apache.arrow.stream' });
    assert.equal(arrow.headers['content-type'], 'application/vnd.apache.arrow.stream');
    const table = tableFromIPC(arrow.rawPayload);
    assert.equal(table.numRows, 3);
    assert.equal(String(table.getChild('date')!.get(0)), '2023-07-01');
    for (const url of ['/api/v1/history', '/api/v1/sessions?from=2020-01-01&to=2025-01-01', '/api/v1/streaks']) {
      const r = await get(url, f.tokens.alice, { accept: 'text/csv' });
      assert.equal(r.statusCode, 200, url);
      assert.match(String(r.headers['content-type']), /^text\/csv/, url);
    }
  });

  test('export of plays in four formats, filtered by local dates', async () => {
    const csv = await get('/api/v1/export/plays?format=csv', f.tokens.alice);
    assert.equal(csv.statusCode, 200);
    const lines = csv.body.trim().split('\n');
    assert.ok(lines[0]!.startsWith('ended_at,started_at,ms_played,kind'));
    assert.equal(lines.length, 11);
    const jsonl = await get('/api/v1/export/plays?format=jsonl&from=2024-01-01', f.tokens.alice);
    const rows = jsonl.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.ended_at >= '2024-01-01'));
    const arrow = await get('/api/v1/export/plays?format=arrow&to=2023-07-01', f.tokens.alice);
    const table = tableFromIPC(arrow.rawPayload);
    assert.equal(table.numRows, 6);
    assert.equal(new Date(Number(table.getChild('ended_at')!.get(0))).toISOString(), '2023-07-01T10:03:00.000Z');
    const parquet = await get('/api/v1/export/plays?format=parquet', f.tokens.alice);
    assert.equal(parquet.headers['content-type'], 'application/vnd.apache.parquet');
    const file = path.join(f.root, 'export.parquet');
    await fs.writeFile(file, parquet.rawPayload);
    const n = await withDb({}, (db) => db.one<{ n: number; artists: number }>(`select count(*) as n, count(distinct artist_name) as artists from read_parquet(${literal(file)})`));
    assert.deepEqual(n, { n: 10, artists: 3 });
    const tmpLeft = (await fs.readdir(f.layout.tmp).catch(() => [])).filter((x) => x.startsWith('.export-'));
    assert.deepEqual(tmpLeft, [], 'the temporary Parquet file is removed');
    const empty = await get('/api/v1/export/plays?format=csv', f.tokens.carol);
    assert.equal(empty.statusCode, 200);
    assert.equal(empty.body.trim().split('\n').length, 1, 'header only');
  });
});

describe('auth', () => {
  test('no credential, a wrong token, a malformed header: 401 JSON', async () => {
    for (const headers of [{}, bearer('rwd_' + 'A'.repeat(43)), bearer('nope'), { authorization: 'Basic YTpi' }]) {
      const r = await f.app.inject({ url: '/api/v1/me', headers });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().code, 'unauthorized');
    }
  });

  test('tokens are stored hashed in a 0600 file; revoking one takes effect at once', async () => {
    const file = path.join(f.layout.secrets, 'api-tokens.json');
    const text = await fs.readFile(file, 'utf8');
    assert.ok(!text.includes(f.tokens.alice), 'the token itself is not stored');
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal((await fs.stat(f.layout.secrets)).mode & 0o777, 0o700);
    const { token, record } = await createToken(f.layout, 'alice', 'temp');
    assert.equal((await get('/api/v1/me', token)).statusCode, 200);
    assert.ok((await listTokens(f.layout, 'alice')).some((t) => t.id === record.id));
    assert.equal(await revokeToken(f.layout, record.id), true);
    assert.equal((await get('/api/v1/me', token)).statusCode, 401);
  });

  test('a session cookie from a token: signed, httpOnly, SameSite=Lax, Secure behind https; logout; revocation ends it', async () => {
    const { token, record } = await createToken(f.layout, 'alice', 'browser');
    const login = await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token } });
    assert.equal(login.statusCode, 200);
    assert.equal(login.json().userId, 'alice');
    const setCookie = String(login.headers['set-cookie']);
    assert.match(setCookie, /rewind_session=/);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.doesNotMatch(setCookie, /Secure/);
    const cookie = setCookie.split(';')[0]!;
    const me = await f.app.inject({ url: '/api/v1/me', headers: { cookie } });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().via, 'session');
    // Tampered: the signature no longer matches.
    const forged = cookie.replace('alice', 'bob__');
    assert.equal((await f.app.inject({ url: '/api/v1/me', headers: { cookie: forged } })).statusCode, 401);
    // Behind an https proxy the cookie is Secure.
    const https = await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token }, headers: { 'x-forwarded-proto': 'https' } });
    assert.match(String(https.headers['set-cookie']), /Secure/);
    // A cross-site write with the cookie is refused.
    const cross = await f.app.inject({ method: 'PATCH', url: '/api/v1/me', payload: { realtime: true }, headers: { cookie, origin: 'https://evil.example' } });
    assert.equal(cross.statusCode, 403);
    assert.equal(cross.json().code, 'cross_site_request');
    // Logout clears the cookie.
    const out = await f.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie } });
    assert.equal(out.statusCode, 204);
    assert.match(String(out.headers['set-cookie']), /rewind_session=;/);
    // Revoking the token ends its sessions.
    await revokeToken(f.layout, record.id);
    assert.equal((await f.app.inject({ url: '/api/v1/me', headers: { cookie } })).statusCode, 401);
  });

  test('the login form posts a token and is redirected', async () => {
    const { token } = await createToken(f.layout, 'alice', 'form');
    const ok = await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: `token=${encodeURIComponent(token)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/');
    assert.match(String(ok.headers['set-cookie']), /rewind_session=/);
    const bad = await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: 'token=rwd_nope', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(bad.statusCode, 303);
    assert.equal(bad.headers.location, '/login?failed=1');
    assert.equal(bad.headers['set-cookie'], undefined);
    const badJson = await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token: 'rwd_nope' } });
    assert.equal(badJson.statusCode, 401);
  });
});

describe('errors, headers, schemas, docs', () => {
  test('errors are JSON { code, message } without a stack', async () => {
    const cases = [
      await f.app.inject({ url: '/api/v1/nothing-here', headers: bearer(f.tokens.alice) }),
      await f.app.inject({ method: 'POST', url: '/api/v1/nothing-here' }),
      await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: { ...bearer(f.tokens.alice), 'content-type': 'application/json' }, payload: '{"timezone": ' }),
      await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(f.tokens.alice), payload: { timezone: 'UTC', admin: true } }),
      await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(f.tokens.alice), payload: { timezone: 'x'.repeat(100_000) } }),
      await get('/api/v1/top/artists?limit=0', f.tokens.alice),
    ];
    assert.deepEqual(cases.map((r) => r.statusCode), [404, 404, 400, 400, 413, 400]);
    for (const r of cases) {
      const body = r.json();
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message']);
      assert.doesNotMatch(r.body, /at .*\.ts:\d+|node_modules|stack/i);
    }
    assert.equal(cases[3]!.json().code, 'invalid_request');
    assert.match(cases[3]!.json().message, /additional properties/);
    assert.match(cases[5]!.json().message, /querystring\/limit/);
  });

  test('security headers on API answers', async () => {
    const r = await get('/api/v1/me', f.tokens.alice);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    assert.ok(r.headers['x-frame-options']);
    assert.equal(r.headers['x-powered-by'], undefined);
  });

  test('GET /health and /ready (Temporal not reachable here: 503 naming it)', async () => {
    assert.deepEqual((await get('/health')).json(), { status: 'ok' });
    const ready = await get('/ready');
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json(), { ready: false, temporal: false, warehouse: true });
  });

  test('OpenAPI 3 at /api/docs/json lists every route; every object schema refuses unknown properties', async () => {
    const doc = (await get('/api/docs/json')).json();
    assert.match(doc.openapi, /^3\./);
    for (const p of ['/api/v1/analytics/overview', '/api/v1/top/artists', '/api/v1/history', '/api/v1/rollups/daily', '/api/v1/heatmap', '/api/v1/streaks', '/api/v1/sessions', '/api/v1/discovery', '/api/v1/me', '/api/v1/status', '/api/v1/imports', '/api/v1/imports/{id}', '/api/v1/sync', '/api/v1/export/plays', '/api/v1/session', '/health', '/ready']) {
      assert.ok(doc.paths[p], `documented: ${p}`);
    }
    const loose: string[] = [];
    const walk = (node: unknown, where: string) => {
      if (!node || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      if (o.type === 'object' && o.properties && o.additionalProperties !== false) loose.push(where);
      for (const [k, v] of Object.entries(o)) walk(v, `${where}/${k}`);
    };
    walk(doc.paths, 'paths');
    walk(doc.components, 'components');
    assert.deepEqual(loose, []);
    const ui = await get('/api/docs/');
    assert.equal(ui.statusCode, 200);
    assert.match(ui.body, /swagger/i);
    assert.doesNotMatch(ui.body, /https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^"']*\.(js|css)/i, 'no CDN');
    const script = ui.body.match(/src="\.?\/?([^"]+\.js)"/)?.[1];
    assert.ok(script, 'the UI loads its scripts from this server');
    assert.equal((await get(`/api/docs/${script!.replace(/^\.\//, '')}`)).statusCode, 200);
  });
});

describe("other users' data is a 404 or invisible, on every route", () => {
  test("bob's periods do not exist for alice; carol has none", async () => {
    for (const url of ['/api/v1/analytics/overview?period=2022', '/api/v1/top/artists?period=2022', '/api/v1/top/tracks?period=2022-03', '/api/v1/heatmap?period=2022', '/api/v1/discovery?period=2022']) {
      const r = await get(url, f.tokens.alice);
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json().code, 'period_not_found');
      assert.equal((await get(url, f.tokens.bob)).statusCode, 200, `${url} is bob's`);
    }
    for (const url of ['/api/v1/analytics/overview?period=2023', '/api/v1/top/artists?period=2023']) {
      assert.equal((await get(url, f.tokens.carol)).statusCode, 404, url);
    }
  });

  test("no answer to alice ever holds bob's plays", async () => {
    for (const url of ROUTES) {
      for (const accept of ['application/json', 'text/csv']) {
        const r = await get(url, f.tokens.alice, { accept });
        assert.equal(r.statusCode, 200, `${url} ${accept}: ${r.body.slice(0, 200)}`);
        assert.doesNotMatch(r.body, /\bB1\b|\bB2\b|Secret|\bBT\d/, `${url} (${accept}) leaks bob's data`);
      }
      const bob = await get(url, f.tokens.bob);
      assert.doesNotMatch(bob.body, /\bA1\b|\bA3\b|T1-0/, `${url} leaks alice's data to bob`);
    }
    const everything = (await get('/api/v1/history?limit=1000', f.tokens.bob)).json();
    assert.equal(everything.plays.length, 5);
  });

  test('a history cursor made from bob\'s plays only pages through alice\'s', async () => {
    const bobPage = (await get('/api/v1/history?limit=2', f.tokens.bob)).json();
    const r = (await get(`/api/v1/history?limit=100&before=${bobPage.next}`, f.tokens.alice)).json();
    assert.ok(r.plays.every((p: { artist_name: string | null }) => !String(p.artist_name).startsWith('B')));
  });

  test("another user's import id is a 404 (checked before Temporal is asked)", async () => {
    const id = `import:bob:${'a'.repeat(64)}`;
    const r = await get(`/api/v1/imports/${encodeURIComponent(id)}`, f.tokens.alice);
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().code, 'import_not_found');
  });

  test('the site of another user is never served', async () => {
    for (const [user, marker] of [['alice', 'ALICE-SITE'], ['bob', 'BOB-SITE']] as const) {
      await fs.mkdir(f.layout.site(user), { recursive: true });
      await fs.writeFile(path.join(f.layout.site(user), 'index.html'), `<html><body>${marker}</body></html>`);
    }
    assert.match((await get('/', f.tokens.alice)).body, /ALICE-SITE/);
    assert.match((await get('/', f.tokens.bob)).body, /BOB-SITE/);
    for (const url of ['/../bob/index.html', '/%2e%2e/bob/index.html', '/..%2fbob%2findex.html', '/%2e%2e%2f%2e%2e%2fsecrets%2fapi-tokens.json', '/../../secrets/api-tokens.json']) {
      const r = await get(url, f.tokens.alice);
      assert.doesNotMatch(r.body, /BOB-SITE|"hash"/, url);
      assert.notEqual(r.statusCode, 500, url);
    }
  });
});

describe('injection attempts on every parameter', () => {
  const HOSTILE = [
    "' OR '1'='1",
    "2023'; DROP TABLE plays; --",
    '2023-07-01\' UNION SELECT * FROM read_parquet(\'/etc/passwd\') --',
    '../../../etc/passwd',
    '%00',
    '\u0000',
    '${7*7}',
    '{"$gt": ""}',
    'x'.repeat(5000),
    '-1',
    '1e309',
    '2023-13',
    '9999-99-99',
    "bob'--",
    '"; SELECT 1; --',
  ];
  const PARAMS: [string, string][] = [
    ['/api/v1/analytics/overview', 'period'],
    ['/api/v1/analytics/overview', 'top'],
    ['/api/v1/top/artists', 'period'],
    ['/api/v1/top/tracks', 'limit'],
    ['/api/v1/top/albums', 'offset'],
    ['/api/v1/history', 'before'],
    ['/api/v1/history', 'limit'],
    ['/api/v1/rollups/daily', 'from'],
    ['/api/v1/rollups/daily', 'to'],
    ['/api/v1/heatmap', 'period'],
    ['/api/v1/sessions', 'from'],
    ['/api/v1/sessions', 'to'],
    ['/api/v1/sessions', 'limit'],
    ['/api/v1/discovery', 'period'],
    ['/api/v1/discovery', 'limit'],
    ['/api/v1/export/plays', 'from'],
    ['/api/v1/export/plays', 'to'],
    ['/api/v1/export/plays', 'format'],
  ];

  test('query parameters: refused (400) or not found, never an error, never another user, the warehouse unchanged', async () => {
    const before = await liveFiles(f.layout.warehouse);
    for (const [route, param] of PARAMS) {
      for (const value of HOSTILE) {
        const r = await get(`${route}?${param}=${encodeURIComponent(value)}`, f.tokens.alice);
        assert.ok([400, 404].includes(r.statusCode), `${route}?${param}=${value.slice(0, 40)} -> ${r.statusCode} ${r.body.slice(0, 200)}`);
        assert.deepEqual(Object.keys(r.json()).sort(), ['code', 'message']);
        assert.doesNotMatch(r.body, /B1|Secret|root:x:0/);
      }
    }
    // Path parameters and bodies.
    for (const value of HOSTILE) {
      const imp = await get(`/api/v1/imports/${encodeURIComponent(value)}`, f.tokens.alice);
      assert.ok([400, 404].includes(imp.statusCode), `imports/:id ${value.slice(0, 40)} -> ${imp.statusCode}`);
      const me = await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(f.tokens.alice), payload: { timezone: value } });
      assert.ok([400, 413].includes(me.statusCode), `PATCH /me timezone ${value.slice(0, 40)} -> ${me.statusCode}`);
      const login = await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token: value } });
      assert.ok([400, 401].includes(login.statusCode), `session token ${value.slice(0, 40)} -> ${login.statusCode}`);
    }
    assert.deepEqual(await liveFiles(f.layout.warehouse), before, 'no file written or removed');
    assert.equal((await get('/api/v1/me', f.tokens.alice)).json().timezone, 'UTC');
  });
});

describe('PATCH /me', () => {
  test('a new timezone rebuilds the marts in it; realtime is stored; bad values refused', async () => {
    const bad = await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(f.tokens.bob), payload: { timezone: 'Mars/Olympus' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'invalid_timezone');
    const empty = await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(f.tokens.bob), payload: {} });
    assert.equal(empty.statusCode, 400);
    const before = (await get('/api/v1/heatmap?period=2022', f.tokens.bob)).json();
    const at = (c: { hour: number }[], h: number) => c.filter((x) => x.hour === h).reduce((n, x) => n + (x as unknown as { listens: number }).listens, 0);
    assert.equal(at(before.cells, 12), 5);
    const r = await f.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(f.tokens.bob), payload: { timezone: 'Asia/Tokyo', realtime: true } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().timezone, 'Asia/Tokyo');
    assert.equal(r.json().realtime, true);
    assert.ok(r.json().rebuilt.dailyRows > 0);
    const after = (await get('/api/v1/heatmap?period=2022', f.tokens.bob)).json();
    assert.equal(at(after.cells, 21), 5, '12:00 UTC is 21:00 in Tokyo');
    assert.equal((await get('/api/v1/me', f.tokens.bob)).json().realtime, true);
  });
});

describe('the site', () => {
  test('unauthenticated browsers get the login page; API clients a 401; a built site is served with its assets', async () => {
    const page = await get('/', undefined, { accept: 'text/html' });
    assert.equal(page.statusCode, 401);
    assert.match(page.body, /<form method="post" action="\/api\/v1\/session">/);
    const login = await get('/login');
    assert.equal(login.statusCode, 200);
    const api = await get('/');
    assert.equal(api.statusCode, 401);
    assert.equal(api.json().code, 'unauthorized');

    const site = f.layout.site('carol');
    const notBuilt = await get('/', f.tokens.carol, { accept: 'text/html' });
    assert.equal(notBuilt.statusCode, 404);
    assert.match(notBuilt.body, /not built yet/);
    await fs.mkdir(path.join(site, '_observablehq'), { recursive: true });
    await fs.mkdir(path.join(site, '_file', 'data'), { recursive: true });
    await fs.writeFile(path.join(site, 'index.html'), '<html><script type="module">import "./_observablehq/client.js"</script>HOME</html>');
    await fs.writeFile(path.join(site, 'artists.html'), '<html>ARTISTS</html>');
    await fs.writeFile(path.join(site, '_observablehq', 'client.js'), 'export const x = 1;');
    await fs.writeFile(path.join(site, '_file', 'data', 'top.json'), '{"a":1}');
    const home = await get('/', f.tokens.carol);
    assert.equal(home.statusCode, 200);
    assert.match(home.body, /HOME/);
    assert.match(String(home.headers['content-security-policy']), /script-src 'self' 'unsafe-inline'/);
    assert.equal((await get('/artists', f.tokens.carol)).body, '<html>ARTISTS</html>');
    const js = await get('/_observablehq/client.js', f.tokens.carol);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.equal((await get('/_file/data/top.json', f.tokens.carol)).json().a, 1);
    assert.equal((await get('/nope', f.tokens.carol)).statusCode, 404);
    // With a session cookie, as a browser does.
    const { token } = await createToken(f.layout, 'carol', 'browser');
    const cookie = String((await f.app.inject({ method: 'POST', url: '/api/v1/session', payload: { token } })).headers['set-cookie']).split(';')[0]!;
    assert.match((await f.app.inject({ url: '/artists', headers: { cookie } })).body, /ARTISTS/);
  });
});

describe('sync routes without the sync', () => {
  test('503 sync_unavailable', async () => {
    for (const method of ['GET', 'POST'] as const) {
      const r = await f.app.inject({ method, url: '/api/v1/sync', headers: bearer(f.tokens.alice) });
      assert.equal(r.statusCode, 503);
      assert.equal(r.json().code, 'sync_unavailable');
    }
  });
});

describe('rate limits', () => {
  test('per token and per IP, answered as JSON 429', async () => {
    const g = await makeFixture({ env: { REWIND_API_RATE_LIMIT: '5', REWIND_API_RATE_LIMIT_IP: '3' } });
    try {
      const codes = [];
      for (let i = 0; i < 7; i++) codes.push((await g.app.inject({ url: '/api/v1/me', headers: bearer(g.tokens.alice) })).statusCode);
      assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
      const limited = await g.app.inject({ url: '/api/v1/me', headers: bearer(g.tokens.alice) });
      assert.equal(limited.json().code, 'rate_limited');
      // Another token has its own budget.
      assert.equal((await g.app.inject({ url: '/api/v1/me', headers: bearer(g.tokens.bob) })).statusCode, 200);
      // Anonymous callers: per IP.
      const anon = [];
      for (let i = 0; i < 5; i++) anon.push((await g.app.inject({ url: '/health' })).statusCode);
      assert.deepEqual(anon, [200, 200, 200, 429, 429]);
      assert.equal((await g.app.inject({ url: '/health', remoteAddress: '10.0.0.2' })).statusCode, 200);
    } finally {
      await g.close();
    }
  });
});
