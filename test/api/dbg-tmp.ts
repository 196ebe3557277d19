import { makeFixture, bearer } from './helpers.ts';
import { Db } from '../../warehouse/duckdb.ts';
const f = await makeFixture();
const h = bearer(f.tokens.alice);
const urls = ['/health', '/api/v1/analytics/overview?period=2023', '/api/v1/history?limit=50', '/api/v1/heatmap?period=2023', '/api/v1/top/artists?period=2023'];
for (const url of urls) await f.app.inject({ url, headers: h });
for (const url of urls) {
  const t = performance.now();
  const N = 3000;
  for (let i = 0; i < N; i++) await f.app.inject({ url, headers: h });
  console.log(url, ((performance.now() - t) / N * 1000).toFixed(0), 'µs/req');
}
await f.close();
