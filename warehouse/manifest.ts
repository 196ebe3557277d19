/**
 * The manifest of import batches: one JSON file per committed import under
 * `<home>/warehouse/imports/user_id=<u>/`, so every stored row (its `import_id`, `source_file`,
 * `source_row`) traces back to the archive and the file it came from.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type Layout } from './layout.ts';
import { readJson, writeJsonAtomic } from './files.ts';

export interface ImportFileRecord {
  entry: string;
  format: string;
  rowsRead: number;
  rowsStaged: number;
  rejected: { reason: string; rows: number; firstRow: number }[];
}

export interface ImportManifest {
  importId: string;
  userId: string;
  sha256: string;
  inputs: string[];
  committedAt: string;
  files: ImportFileRecord[];
  ignored: string[];
  rowsRead: number;
  playsAdded: number;
  duplicatesSkipped: number;
  accountRowsSuperseded: number;
  rowsRejected: number;
}

export async function writeManifest(layout: Layout, manifest: ImportManifest): Promise<void> {
  await writeJsonAtomic(layout.importManifest(manifest.userId, manifest.importId), manifest);
}

export async function readManifest(layout: Layout, userId: string, importId: string): Promise<ImportManifest | undefined> {
  return readJson<ImportManifest>(layout.importManifest(userId, importId));
}

export async function listManifests(layout: Layout, userId: string): Promise<ImportManifest[]> {
  const dir = layout.userImports(userId);
  let names: string[] = [];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const all = await Promise.all(
    names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => readJson<ImportManifest>(path.join(dir, n))),
  );
  return all.filter((m): m is ImportManifest => m !== undefined).sort((a, b) => a.committedAt.localeCompare(b.committedAt));
}
