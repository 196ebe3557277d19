/** `rewind token create|list|revoke`: personal API tokens (stored hashed under <home>/secrets/). */
import Table from 'cli-table3';
import { createToken, listTokens, revokeToken } from '../api/auth/tokens.ts';
import { assertUserId } from '../warehouse/layout.ts';
import type { Context } from './context.ts';

export async function tokenCreateCommand(ctx: Context, userId: string, name: string | undefined, json: boolean): Promise<void> {
  const { token, record } = await createToken(ctx.layout, assertUserId(userId), name ?? '');
  if (json) {
    process.stdout.write(`${JSON.stringify({ token, id: record.id, userId: record.userId, name: record.name, createdAt: record.createdAt })}\n`);
    return;
  }
  process.stdout.write(`${token}\n`);
  ctx.log(`Token ${record.id} for "${record.userId}" created. It is shown only now: keep it somewhere safe.`);
  ctx.log(`Use it as "Authorization: Bearer <token>", or log in with it at the server's /login page.`);
}

export async function tokenListCommand(ctx: Context, userId: string | undefined, json: boolean): Promise<void> {
  const tokens = await listTokens(ctx.layout, userId);
  if (json) {
    process.stdout.write(`${JSON.stringify(tokens)}\n`);
    return;
  }
  if (tokens.length === 0) {
    process.stdout.write('No API tokens. Create one: rewind token create --user <id>\n');
    return;
  }
  const table = new Table({ head: ['id', 'user', 'name', 'created'], style: { head: [], border: [] } });
  for (const t of tokens) table.push([t.id, t.userId, t.name || '-', t.createdAt]);
  process.stdout.write(`${table.toString()}\n`);
}

export async function tokenRevokeCommand(ctx: Context, id: string): Promise<void> {
  if (!(await revokeToken(ctx.layout, id))) throw new Error(`no API token with id "${id}" (see rewind token list)`);
  process.stdout.write(`Token ${id} revoked.\n`);
}
