/** Listening: the only thing this file does (the application is built in app.ts). */
import type { FastifyInstance } from 'fastify';

/** Listen on host:port (port 0 = any free port); resolves with the base URL. */
export async function listen(app: FastifyInstance, opts: { host: string; port: number }): Promise<string> {
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return `http://${host}:${port}`;
}
