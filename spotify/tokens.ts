/**
 * The encrypted token store: one file per user under `<home>/secrets/spotify/<user>.json` (0600, in a
 * 0700 folder). The refresh token (and the current access token, so that syncs do not refresh every
 * time) are encrypted with AES-256-GCM; the user id is the additional authenticated data, so a file
 * copied onto another user does not decrypt. What is not secret (Spotify account id, scopes, when
 * connected, whether a reconnect is needed) stays readable for `rewind status`.
 *
 * The key comes from REWIND_SECRET_KEY (64 hex characters or base64 of 32 bytes are used as they are,
 * any other text is stretched with scrypt), or is generated on first use into `<home>/secrets/secret.key`.
 * Tokens never leave this module except to the Spotify client that sends them.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readJson } from '../warehouse/files.ts';
import { type Layout, assertUserId } from '../warehouse/layout.ts';

export interface SecretTokens {
  refreshToken: string;
  accessToken?: string;
  /** Epoch ms when the access token expires. */
  accessTokenExpiresAt?: number;
}

/** The readable part of a user's connection. */
export interface Connection {
  userId: string;
  /** The Spotify account id (from /v1/me). */
  accountId: string;
  displayName: string | null;
  scope: string;
  connectedAt: string;
  updatedAt: string;
  /** Set when Spotify refused the refresh token: the user must log in again. */
  reconnectNeeded?: { at: string; reason: string };
}

interface TokenFile extends Connection {
  version: 1;
  cipher: 'aes-256-gcm';
  iv: string;
  tag: string;
  data: string;
}

export class TokenStoreError extends Error {}

/** The readable part of a token file. */
function toConnection(f: Connection): Connection {
  const c: Connection = { userId: f.userId, accountId: f.accountId, displayName: f.displayName, scope: f.scope, connectedAt: f.connectedAt, updatedAt: f.updatedAt };
  if (f.reconnectNeeded) c.reconnectNeeded = f.reconnectNeeded;
  return c;
}

const keyCache = new Map<string, Buffer>();

/** Create `dir` (and parents) and make it 0700. */
async function privateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(dir, 0o700);
}

/** The 32-byte key: from REWIND_SECRET_KEY when given, else generated once into the secrets folder. */
export async function loadSecretKey(layout: Layout, secretKey: string | undefined): Promise<Buffer> {
  if (secretKey) {
    const cached = keyCache.get(`env:${secretKey}`);
    if (cached) return cached;
    let key: Buffer;
    if (/^[0-9a-f]{64}$/i.test(secretKey)) key = Buffer.from(secretKey, 'hex');
    else if (/^[A-Za-z0-9+/]{43}=?$/.test(secretKey) && Buffer.from(secretKey, 'base64').length === 32) key = Buffer.from(secretKey, 'base64');
    else key = scryptSync(secretKey, 'rewind-token-store-v1', 32);
    keyCache.set(`env:${secretKey}`, key);
    return key;
  }
  const file = layout.secretKeyFile;
  const cached = keyCache.get(`file:${file}`);
  if (cached) return cached;
  await privateDir(layout.secrets);
  let text: string;
  try {
    await fs.writeFile(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  try {
    text = (await fs.readFile(file, 'utf8')).trim();
  } catch (e) {
    throw new TokenStoreError(`cannot read the token encryption key ${file}: ${(e as Error).message}`);
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32) throw new TokenStoreError(`${file} is not a 32-byte base64 key`);
  keyCache.set(`file:${file}`, key);
  return key;
}

export class TokenStore {
  constructor(
    private readonly layout: Layout,
    private readonly secretKey: string | undefined,
  ) {}

  private aad(userId: string): Buffer {
    return Buffer.from(`rewind:spotify-tokens:${userId}`);
  }

  private async readFile(userId: string): Promise<TokenFile | undefined> {
    return readJson<TokenFile>(this.layout.spotifyTokens(assertUserId(userId)));
  }

  private async writeFile(file: TokenFile): Promise<void> {
    const target = this.layout.spotifyTokens(file.userId);
    await privateDir(path.dirname(target));
    const tmp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    await fs.writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await fs.rename(tmp, target);
  }

  /** The readable part of a user's connection, or undefined when the user never connected. */
  async connection(userId: string): Promise<Connection | undefined> {
    const f = await this.readFile(userId);
    if (!f) return undefined;
    return toConnection(f);
  }

  /** Every connected user (readable parts only). */
  async connections(): Promise<Connection[]> {
    let names: string[] = [];
    try {
      names = await fs.readdir(path.join(this.layout.secrets, 'spotify'));
    } catch {
      return [];
    }
    const all = await Promise.all(names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => this.connection(n.slice(0, -5)).catch(() => undefined)));
    return all.filter((c): c is Connection => c !== undefined).sort((a, b) => a.userId.localeCompare(b.userId));
  }

  /** Decrypt a user's tokens (undefined when not connected). */
  async secrets(userId: string): Promise<SecretTokens | undefined> {
    const f = await this.readFile(userId);
    if (!f) return undefined;
    const key = await loadSecretKey(this.layout, this.secretKey);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(f.iv, 'base64'));
      decipher.setAAD(this.aad(f.userId));
      decipher.setAuthTag(Buffer.from(f.tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(f.data, 'base64')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as SecretTokens;
    } catch {
      throw new TokenStoreError(
        `the stored Spotify tokens of "${userId}" cannot be decrypted (wrong REWIND_SECRET_KEY or a damaged file); connect the account again`,
      );
    }
  }

  /** Store a new connection (login/connect): replaces any earlier one and clears "reconnect needed". */
  async save(userId: string, meta: { accountId: string; displayName: string | null; scope: string }, tokens: SecretTokens): Promise<Connection> {
    assertUserId(userId);
    const now = new Date().toISOString();
    const connection: Connection = { userId, accountId: meta.accountId, displayName: meta.displayName, scope: meta.scope, connectedAt: now, updatedAt: now };
    await this.writeFile(await this.seal(connection, tokens));
    return connection;
  }

  /** Replace the tokens of an existing connection (after a refresh); keeps the readable part. */
  async updateTokens(userId: string, tokens: SecretTokens): Promise<void> {
    const current = await this.connection(userId);
    if (!current) throw new TokenStoreError(`user "${userId}" has no Spotify connection`);
    await this.writeFile(await this.seal({ ...current, reconnectNeeded: undefined, updatedAt: new Date().toISOString() }, tokens));
  }

  /** Record that Spotify refused the refresh token: syncs fail fast until the user connects again. */
  async markReconnectNeeded(userId: string, reason: string): Promise<void> {
    const f = await this.readFile(userId);
    if (!f) return;
    await this.writeFile({ ...f, reconnectNeeded: { at: new Date().toISOString(), reason }, updatedAt: new Date().toISOString() });
  }

  /** Forget a user's tokens. */
  async remove(userId: string): Promise<void> {
    await fs.rm(this.layout.spotifyTokens(userId), { force: true });
  }

  private async seal(connection: Connection, tokens: SecretTokens): Promise<TokenFile> {
    const key = await loadSecretKey(this.layout, this.secretKey);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(this.aad(connection.userId));
    const data = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
    return { version: 1, ...toConnection(connection), cipher: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }
}
