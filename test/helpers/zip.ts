/** Building export ZIPs for tests (with yazl), from real files or from strings. */
import { createWriteStream } from 'node:fs';
import yazl from 'yazl';

export async function writeZip(file: string, entries: { name: string; path?: string; content?: string | Buffer }[]): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.path) zip.addFile(e.path, e.name);
    else zip.addBuffer(Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content ?? ''), e.name);
  }
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(createWriteStream(file)).on('close', resolve).on('error', reject);
  });
}
