/**
 * Inputs on the file system: deciding what the given paths are, walking a folder without ever
 * leaving it, and opening files inside it safely.
 *
 * A folder is walked without following symbolic links (they are listed as ignored and never read);
 * sockets, FIFOs and devices are ignored too. A file inside the folder is opened with O_NOFOLLOW,
 * must be a regular file, and its real path must lie inside the real path of the folder.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ExportInputError } from './errors.ts';
import { nameProblem } from './zip.ts';

export type Input =
  | { kind: 'zip'; paths: string[]; file: string }
  | { kind: 'dir'; paths: string[]; root: string; rootReal: string }
  | { kind: 'files'; paths: string[]; files: LooseFile[] };

export interface LooseFile {
  /** Inventory name: the file's base name. */
  name: string;
  /** Absolute path. */
  file: string;
}

/** An ExportInputError for a failed file-system call on an input. */
export function fsError(err: unknown, input: string, entry: string | undefined): ExportInputError {
  if (err instanceof ExportInputError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const reason =
    code === 'ENOENT'
      ? 'no such file or folder'
      : code === 'EACCES' || code === 'EPERM'
        ? 'cannot read (permission denied)'
        : code === 'ELOOP'
          ? 'symbolic link, not followed'
          : `cannot read (${code ?? String(err)})`;
  return new ExportInputError(input, entry, reason, { cause: err });
}

const ZIP_MAGIC = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1'), Buffer.from('PK\x07\x08', 'latin1')];

async function startsLikeZip(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && ZIP_MAGIC.some((m) => m.equals(buf));
  } finally {
    await fh.close();
  }
}

const USAGE = 'give one ZIP, one folder, or one or more .json files';

/** Decides what `paths` are: one ZIP (by content or .zip name), one folder, or .json files. */
export async function resolveInput(paths: string[]): Promise<Input> {
  if (paths.length === 0) throw new ExportInputError('(no input)', undefined, `nothing given: ${USAGE}`);
  const abs = paths.map((p) => path.resolve(p));
  const kinds: Array<'dir' | 'zip' | 'json'> = [];
  for (const p of abs) {
    let st;
    try {
      st = await fs.stat(p); // the user named it: following a link they gave is fine
    } catch (err) {
      throw fsError(err, p, undefined);
    }
    if (st.isDirectory()) {
      kinds.push('dir');
      continue;
    }
    if (!st.isFile()) throw new ExportInputError(p, undefined, `not a regular file or folder: ${USAGE}`);
    let zipLike: boolean;
    try {
      zipLike = (await startsLikeZip(p)) || /\.zip$/i.test(p);
    } catch (err) {
      throw fsError(err, p, undefined);
    }
    if (zipLike) kinds.push('zip');
    else if (/\.json$/i.test(p)) kinds.push('json');
    else throw new ExportInputError(p, undefined, `not a ZIP archive, a folder or a .json file: ${USAGE}`);
  }
  const [first] = abs;
  if (abs.length === 1 && first !== undefined) {
    if (kinds[0] === 'dir') {
      let rootReal: string;
      try {
        rootReal = await fs.realpath(first);
      } catch (err) {
        throw fsError(err, first, undefined);
      }
      return { kind: 'dir', paths: abs, root: first, rootReal };
    }
    if (kinds[0] === 'zip') return { kind: 'zip', paths: abs, file: first };
  }
  const odd = abs.findIndex((_, i) => kinds[i] !== 'json');
  if (odd >= 0) {
    throw new ExportInputError(abs[odd] ?? '', undefined, `cannot mix a ${kinds[odd] === 'dir' ? 'folder' : 'ZIP'} with other inputs: ${USAGE}`);
  }
  const files: LooseFile[] = [];
  const byName = new Map<string, string>();
  for (const file of abs) {
    const name = path.basename(file);
    const other = byName.get(name);
    if (other !== undefined) {
      if (other === file) continue; // the same file given twice
      throw new ExportInputError(file, name, `two files are named "${name}" (the other is ${other}); give them one at a time`);
    }
    byName.set(name, file);
    files.push({ name, file });
  }
  return { kind: 'files', paths: abs, files };
}

export interface FolderFile {
  /** Path relative to the folder, with forward slashes. */
  name: string;
  size: number;
}

/**
 * Lists the regular files below `rootReal` (any depth), without following symbolic links.
 * `skipped` lists links and special files by name. Fails past `maxEntries` files and folders.
 */
export async function walkFolder(
  input: string,
  rootReal: string,
  maxEntries: number = Infinity,
): Promise<{ files: FolderFile[]; skipped: string[] }> {
  const files: FolderFile[] = [];
  const skipped: string[] = [];
  const pending: string[] = [''];
  let seen = 0;
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    const dir = rel === '' ? rootReal : path.join(rootReal, ...rel.split('/'));
    let dirents;
    try {
      dirents = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw fsError(err, input, rel === '' ? undefined : rel);
    }
    for (const d of dirents) {
      seen += 1;
      if (seen > maxEntries) throw new ExportInputError(input, undefined, `too many files: more than ${maxEntries}`);
      const name = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isSymbolicLink()) skipped.push(name);
      else if (d.isDirectory()) pending.push(name);
      else if (d.isFile()) {
        let st;
        try {
          st = await fs.lstat(path.join(dir, d.name));
        } catch (err) {
          throw fsError(err, input, name);
        }
        if (st.isFile()) files.push({ name, size: st.size });
        else skipped.push(name);
      } else skipped.push(name);
    }
  }
  // Sorted, so that files are judged, and limits crossed, in the same order on every machine.
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, skipped };
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * Opens `name` (relative, forward slashes) inside the folder for reading: never through a symbolic
 * link, only a regular file, only inside the folder.
 */
export async function openInFolder(input: string, rootReal: string, name: string): Promise<{ fh: FileHandle; size: number }> {
  const problem = nameProblem(name);
  if (problem || name.includes('\\') || name.endsWith('/')) {
    throw new ExportInputError(input, name, problem ?? 'not a file name inside the folder');
  }
  const file = path.join(rootReal, ...name.split('/'));
  if (!isInside(rootReal, file)) throw new ExportInputError(input, name, 'outside the folder');
  let fh: FileHandle;
  try {
    fh = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
  } catch (err) {
    throw fsError(err, input, name);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ExportInputError(input, name, 'not a regular file');
    const real = await fs.realpath(file);
    if (!isInside(rootReal, real)) throw new ExportInputError(input, name, 'outside the folder (reached through a link)');
    return { fh, size: st.size };
  } catch (err) {
    await fh.close().catch(() => {});
    throw fsError(err, input, name);
  }
}

/** Opens a loose input file for reading; it must be a regular file. */
export async function openLoose(f: LooseFile): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await fs.open(f.file, 'r');
  } catch (err) {
    throw fsError(err, f.file, f.name);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ExportInputError(f.file, f.name, 'not a regular file');
    return { fh, size: st.size };
  } catch (err) {
    await fh.close().catch(() => {});
    throw fsError(err, f.file, f.name);
  }
}
