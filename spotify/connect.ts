/**
 * Connecting a Rewind user to a Spotify account: from a token grant (the end of a login) or from a
 * refresh token (`rewind connect`, headless servers). Stores the tokens encrypted, and the Spotify
 * account id in the user's record (`users/<u>.json`, field `spotify`).
 */
import type { Config } from '../config.ts';
import { writeJsonAtomic } from '../warehouse/files.ts';
import { withLock } from '../warehouse/lock.ts';
import type { Layout } from '../warehouse/layout.ts';
import { ensureUser, type UserSettings } from '../warehouse/users.ts';
import { fetchMe, refreshAccessToken, spotifyApp, type TokenGrant } from './auth.ts';
import { RateBudget } from './budget.ts';
import { TokenStore, type Connection } from './tokens.ts';

/** The user's record with its Spotify link. */
export interface UserWithSpotify extends UserSettings {
  spotify?: { accountId: string; displayName: string | null; connectedAt: string };
}

export function tokenStore(config: Pick<Config, 'secretKey'>, layout: Layout): TokenStore {
  return new TokenStore(layout, config.secretKey);
}

export function rateBudget(config: Pick<Config, 'spotify'>, layout: Layout): RateBudget {
  return new RateBudget(layout, { requestsPerWindow: config.spotify.requestsPerWindow });
}

/** Store a grant for `userId` after asking Spotify whose account it is. */
export async function connectWithGrant(config: Config, layout: Layout, userId: string, grant: TokenGrant): Promise<Connection> {
  if (!grant.refreshToken) throw new Error('Spotify returned no refresh token: cannot keep the account connected');
  const app = spotifyApp(config);
  await rateBudget(config, layout).acquire('GET /v1/me');
  const me = await fetchMe(app, grant.accessToken);
  await ensureUser(layout, userId, config.defaultTimezone);
  const connection = await tokenStore(config, layout).save(
    userId,
    { accountId: me.id, displayName: me.displayName, scope: grant.scope },
    { refreshToken: grant.refreshToken, accessToken: grant.accessToken, accessTokenExpiresAt: Date.now() + grant.expiresInSeconds * 1000 },
  );
  await withLock(layout, `user-record-${userId}`, async () => {
    const user = await ensureUser(layout, userId, config.defaultTimezone);
    const updated: UserWithSpotify = { ...user, spotify: { accountId: me.id, displayName: me.displayName, connectedAt: connection.connectedAt } };
    await writeJsonAtomic(layout.userSettings(userId), updated);
  });
  return connection;
}

/** `rewind connect`: a refresh token obtained elsewhere; checked by refreshing it once. */
export async function connectWithRefreshToken(config: Config, layout: Layout, userId: string, refreshToken: string): Promise<Connection> {
  const token = refreshToken.trim();
  if (!/^[A-Za-z0-9._~+/=-]{16,}$/.test(token)) throw new Error('the refresh token file does not hold a refresh token (expected one line of at least 16 token characters)');
  const grant = await refreshAccessToken(spotifyApp(config), token);
  return connectWithGrant(config, layout, userId, { ...grant, refreshToken: grant.refreshToken ?? token });
}
