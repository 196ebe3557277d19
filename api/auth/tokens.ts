/**
 * Personal API tokens. A token is `rwd_` + 256 random bits (base64url); only its SHA-256 is stored,
 * in `<home>/secrets/api-tokens.json` (mode 0600, folder 0700), so the file alone cannot be used to
 * call the API. `rewind token create --user <id>` prints a token once; `list` and `revoke` manage them.
 *
 * The API process keeps the file in memory and reloads it when it changes on disk (a `rewind token
 * revoke` in another process takes effect on the next request).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fs, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { type Layout, assertUserId } from '../../warehouse/layout.ts';
import { withLock } from '../../warehouse/lock.ts';

export interface TokenRecord {
  /** Public id (shown by `token list`, used by `token revoke`). */
  id: string;
  userId: string;
  name: string;
  /** SHA-256 (hex) of the token. */
  hash: string;
  createdAt: string;
}

interface TokenFile {
  tokens: TokenRecord[];
}

export const TOKEN_PREFIX = 'rwd_';
const TOKEN_SHAPE = /^rwd_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Does this look like a Rewind token at all (cheap check before hashing)? */
export function isTokenShaped(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

export function tokensFile(layout: Layout): string {
  return path.join(layout.secrets, 'api-tokens.json');
}

/** Create the secrets folder (0700). */
export async function ensureSecretsDir(layout: Layout): Promise<void> {
  await fs.mkdir(layout.secrets, { recursive: true, mode: 0o700 });
  await fs.chmod(layout.secrets, 0o700);
}

/** Write a secrets file atomically with mode 0600. */
export async function writeSecretFile(file: string, content: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.tmp-${randomUUID()}`);
  await fs.writeFile(tmp, content, { mode: 0o600 });
  await fs.rename(tmp, file);
}

async function readTokens(layout: Layout): Promise<TokenFile> {
  try {
    return JSON.parse(await fs.readFile(tokensFile(layout), 'utf8')) as TokenFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { tokens: [] };
    throw e;
  }
}

/** Token-file writes by this process: a TokenStore sees them at once, without waiting to re-check. */
let tokenWrites = 0;

async function updateTokens<T>(layout: Layout, fn: (file: TokenFile) => T): Promise<T> {
  await ensureSecretsDir(layout);
  return withLock(layout, 'api-tokens', async () => {
    const file = await readTokens(layout);
    const out = fn(file);
    await writeSecretFile(tokensFile(layout), JSON.stringify(file, null, 2) + '\n');
    tokenWrites++;
    return out;
  });
}

/** Create a token for a user; the token itself is returned once and never stored. */
export async function createToken(layout: Layout, userId: string, name = ''): Promise<{ token: string; record: TokenRecord }> {
  assertUserId(userId);
  if (name.length > 100) throw new Error('token name: at most 100 characters');
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id: randomBytes(6).toString('hex'),
    userId,
    name,
    hash: hashToken(token),
    createdAt: new Date().toISOString(),
  };
  await updateTokens(layout, (f) => f.tokens.push(record));
  return { token, record };
}

/** Tokens (without their hashes), of one user or all. */
export async function listTokens(layout: Layout, userId?: string): Promise<Omit<TokenRecord, 'hash'>[]> {
  const { tokens } = await readTokens(layout);
  return tokens.filter((t) => userId === undefined || t.userId === userId).map(({ hash: _hash, ...rest }) => rest);
}

/** Revoke a token by its id; false when there is no such token. */
export async function revokeToken(layout: Layout, id: string): Promise<boolean> {
  return updateTokens(layout, (f) => {
    const before = f.tokens.length;
    f.tokens = f.tokens.filter((t) => t.id !== id);
    return f.tokens.length < before;
  });
}

/** In-memory view of the token file for the API, reloaded when the file changes. */
export class TokenStore {
  static readonly RECHECK_MS = 100;
  private byHash = new Map<string, TokenRecord>();
  private byId = new Map<string, TokenRecord>();
  private stamp = '';
  private checkedAt = -Infinity;
  private writesSeen = -1;

  constructor(private readonly layout: Layout) {}

  /**
   * Re-read the file when it changed. It is checked (a stat) at most every RECHECK_MS: a token
   * another process creates or revokes (`rewind token revoke`) takes effect up to that much later,
   * one this process writes at once.
   */
  private refresh(): void {
    const now = performance.now();
    if (now - this.checkedAt < TokenStore.RECHECK_MS && this.writesSeen === tokenWrites) return;
    this.checkedAt = now;
    this.writesSeen = tokenWrites;
    const file = tokensFile(this.layout);
    let stamp = 'none';
    try {
      const s = statSync(file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      // no tokens yet
    }
    if (stamp === this.stamp) return;
    let tokens: TokenRecord[] = [];
    if (stamp !== 'none') {
      try {
        tokens = (JSON.parse(readFileSync(file, 'utf8')) as TokenFile).tokens;
      } catch {
        tokens = [];
      }
    }
    this.byHash = new Map(tokens.map((t) => [t.hash, t]));
    this.byId = new Map(tokens.map((t) => [t.id, t]));
    this.stamp = stamp;
  }

  /** The record of a presented token, or undefined. */
  verify(token: string): TokenRecord | undefined {
    if (!isTokenShaped(token)) return undefined;
    this.refresh();
    return this.byHash.get(hashToken(token));
  }

  /** The record of a token id (a session remembers the token it came from). */
  byTokenId(id: string): TokenRecord | undefined {
    this.refresh();
    return this.byId.get(id);
  }
}

/** The cookie-signing secret: 32 random bytes in `<home>/secrets/cookie-secret` (0600), made on first run. */
export async function cookieSecret(layout: Layout): Promise<string> {
  await ensureSecretsDir(layout);
  const file = path.join(layout.secrets, 'cookie-secret');
  try {
    const fd = openSync(file, 'wx', 0o600);
    closeSync(fd);
    await fs.writeFile(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  for (let i = 0; i < 50; i++) {
    const secret = (await fs.readFile(file, 'utf8')).trim();
    if (secret.length >= 64) return secret;
    // Another process created it a moment ago and is still writing.
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file}: the cookie secret is empty or too short; remove the file to make a new one`);
}
