/**
 * The fake Spotify, for tests and the demo: start it, point a Config at it, and connect a Rewind user
 * to one of its accounts without a browser (the same path as `rewind connect`).
 */
import type { Config } from '../../config.ts';
import type { Layout } from '../../warehouse/layout.ts';
import { connectWithRefreshToken } from '../connect.ts';
import type { Connection } from '../tokens.ts';
import type { FakeSpotify } from './server.ts';

export { startFakeSpotify, FAKE_CLIENT_ID, REACHABLE_PLAYS, RECENTLY_PLAYED_MIN_MS } from './server.ts';
export type { FakeSpotify, FakeSpotifyOptions, FakeFault, FakePlay, FakeRequest, FakeStream, FakePlaylist, FakePlaylistItem } from './server.ts';

/** `config` with every Spotify URL and the client id pointed at the fake. */
export function configForFake(config: Config, fake: Pick<FakeSpotify, 'url' | 'clientId'>): Config {
  return { ...config, spotify: { ...config.spotify, clientId: fake.clientId, clientSecret: undefined, accountsUrl: fake.url, apiUrl: fake.url } };
}

/**
 * Connect Rewind user `userId` to the fake's account `accountId` (created when missing), as
 * `rewind connect --refresh-token-file` does. `config` must point at the fake (see configForFake).
 */
export async function connectFakeAccount(
  config: Config,
  layout: Layout,
  fake: FakeSpotify,
  opts: { userId: string; accountId: string; displayName?: string },
): Promise<Connection> {
  fake.addAccount({ id: opts.accountId, displayName: opts.displayName });
  const refreshToken = fake.issueRefreshToken(opts.accountId);
  return connectWithRefreshToken(config, layout, opts.userId, refreshToken);
}
