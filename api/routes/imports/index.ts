/**
 * POST /api/v1/imports: multipart upload of an export ZIP (one file field), streamed to
 * `<home>/uploads/<user>/<sha256>.zip` within the upload limit, then the import workflow is started.
 * GET /api/v1/imports and GET /api/v1/imports/:id (live progress while the workflow runs).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Type } from 'typebox';
import { Nullable, Obj, errorResponses } from '../../schemas/index.ts';
import { badRequest, notFound } from '../../errors.ts';
import { type RoutePlugin, typed } from '../plugin.ts';

const Progress = Obj({
  phase: Type.String({ description: 'inspecting, staging, merging, modelling, done or failed' }),
  filesDone: Type.Integer(),
  filesTotal: Type.Integer(),
  rows: Type.Integer(),
  currentFiles: Type.Array(Type.String()),
});

export const ImportBody = Obj({
  importId: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('imported'), Type.Literal('failed')]),
  startedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
  progress: Nullable(Progress),
  result: Nullable(
    Obj({
      filesRead: Type.Integer(),
      rowsRead: Type.Integer(),
      playsAdded: Type.Integer(),
      duplicatesSkipped: Type.Integer(),
      accountRowsSuperseded: Type.Integer(),
      rowsRejected: Type.Integer(),
    }),
  ),
  error: Nullable(Type.String()),
});

const ZIP_MAGIC = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1')];

const plugin: RoutePlugin = async (instance, { ctx }) => {
  const app = typed(instance);
  const { layout, config } = ctx.deps;

  app.post(
    '/imports',
    {
      schema: {
        summary: `Upload a Spotify export ZIP (multipart/form-data, one file, at most ${config.api.uploadLimitBytes} bytes) and import it`,
        tags: ['imports'],
        consumes: ['multipart/form-data'],
        response: { 200: Obj({ ...ImportBody.properties, alreadyImported: Type.Boolean() }), 202: Obj({ ...ImportBody.properties, alreadyImported: Type.Boolean() }), ...errorResponses, 413: errorResponses[400] },
      },
    },
    async (req, reply) => {
      const userId = req.auth!.userId;
      if (!req.isMultipart()) throw badRequest('not_multipart', 'send the export as multipart/form-data with one file field');
      const part = await req.file();
      if (!part) throw badRequest('no_file', 'the upload holds no file: send the export ZIP as a file field');
      const dir = path.join(layout.uploads, userId);
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = path.join(dir, `.tmp-${randomUUID()}.zip`);
      const hash = createHash('sha256');
      let head = Buffer.alloc(0);
      try {
        await pipeline(
          part.file,
          new Transform({
            transform(chunk: Buffer, _enc, cb) {
              hash.update(chunk);
              if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
              cb(null, chunk);
            },
          }),
          createWriteStream(tmp, { mode: 0o600 }),
        );
        if (part.file.truncated) throw Object.assign(new Error(`the upload is larger than the limit of ${config.api.uploadLimitBytes} bytes`), { statusCode: 413, code: 'FST_REQ_FILE_TOO_LARGE' });
        if (!ZIP_MAGIC.some((m) => head.equals(m))) throw badRequest('not_a_zip', `${part.filename || 'the upload'}: not a ZIP archive (export the data from Spotify and upload the ZIP as it came)`);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        throw e;
      }
      const sha256 = hash.digest('hex');
      const file = path.join(dir, `${sha256}.zip`);
      await fs.rename(tmp, file);
      const info = await ctx.deps.imports.start(userId, { path: file, sha256 });
      reply.header('location', `/api/v1/imports/${encodeURIComponent(info.importId)}`);
      return reply.code(info.alreadyImported ? 200 : 202).send(info);
    },
  );

  app.get(
    '/imports',
    {
      schema: {
        summary: 'Your imports, newest first (running, imported, failed)',
        tags: ['imports'],
        response: { 200: Obj({ imports: Type.Array(ImportBody) }), ...errorResponses },
      },
    },
    async (req) => ({ imports: await ctx.deps.imports.list(req.auth!.userId) }),
  );

  app.get(
    '/imports/:id',
    {
      schema: {
        summary: "One import, with the workflow's live progress while it runs",
        tags: ['imports'],
        params: Obj({ id: Type.String({ pattern: '^import:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[0-9a-f]{64}$', maxLength: 200 }) }),
        response: { 200: ImportBody, ...errorResponses },
      },
    },
    async (req) => {
      const info = await ctx.deps.imports.get(req.auth!.userId, req.params.id);
      if (!info) throw notFound('import_not_found', `no import ${req.params.id}`);
      return info;
    },
  );
};
export default plugin;
