/**
 * GET /api/v1/export/plays?from=&to=&format=csv|jsonl|parquet|arrow: the caller's plays (every stored
 * column), oldest first, streamed: CSV, JSON lines and Arrow IPC chunk by chunk from DuckDB, Parquet
 * from a temporary file DuckDB writes (removed once sent).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import { DATE, Obj, errorResponses } from '../../schemas/index.ts';
import { type ExportFormat } from '../../../warehouse/analytics.ts';
import { getUser } from '../../../warehouse/users.ts';
import { badRequest } from '../../errors.ts';
import { ARROW, arrowChunks, csvChunks, jsonlChunks } from '../../render.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
  parquet: 'application/vnd.apache.parquet',
  arrow: ARROW,
};

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  app.get(
    '/export/plays',
    {
      schema: {
        summary: 'Your plays (every stored column), oldest first, that started on local dates from..to (all when omitted), streamed',
        tags: ['plays'],
        querystring: Obj({
          from: Type.Optional(DATE),
          to: Type.Optional(DATE),
          format: Type.Union([Type.Literal('csv'), Type.Literal('jsonl'), Type.Literal('parquet'), Type.Literal('arrow')], { default: 'csv' }),
        }),
        response: {
          200: {
            content: Object.fromEntries(Object.values(TYPES).map((t) => [t.split(';')[0], { schema: Type.String({ format: 'binary' }) }])),
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const userId = req.auth!.userId;
      const { from, to, format } = req.query;
      if (from && to && from > to) throw badRequest('invalid_range', `from (${from}) is after to (${to})`);
      const tz = (await getUser(ctx.deps.layout, userId))?.timezone ?? ctx.deps.config.defaultTimezone;
      const source = await ctx.reader.exportPlays(userId, tz, { from, to });
      const names = source.columns.map(([n]) => n);
      reply.type(TYPES[format]).header('content-disposition', `attachment; filename="plays.${format}"`).header('cache-control', 'private, no-store');
      switch (format) {
        case 'csv':
          return reply.send(Readable.from(csvChunks(names, source.chunks())));
        case 'jsonl':
          return reply.send(Readable.from(jsonlChunks(source.chunks())));
        case 'arrow':
          return reply.send(Readable.from(arrowChunks(source.columns, source.chunks())));
        case 'parquet': {
          const { file, cleanup } = await source.parquetFile();
          const stream = createReadStream(file);
          stream.once('close', () => void cleanup());
          return reply.send(stream);
        }
      }
    },
  );
};
export default plugin;
