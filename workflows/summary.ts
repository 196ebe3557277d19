/**
 * What an import reports (`rewind import --json` prints it): pure data and a pure function, shared by
 * the workflow and the CLI.
 */
import type { ImportManifest } from '../warehouse/manifest.ts';

export interface ImportSummary {
  importId: string;
  userId: string;
  status: 'imported' | 'already_imported';
  filesRead: number;
  rowsRead: number;
  playsAdded: number;
  duplicatesSkipped: number;
  accountRowsSuperseded: number;
  rowsRejected: number;
  rejected: { file: string; reason: string; rows: number; firstRow: number }[];
  ignoredFiles: string[];
  daysRebuilt: number;
  elapsedSeconds: number;
}

/** The summary of an import from its manifest (also used by the CLI for an archive imported before). */
export function summarize(input: { importId: string; userId: string }, manifest: ImportManifest, status: ImportSummary['status'], daysRebuilt: number, elapsedSeconds: number): ImportSummary {
  return {
    importId: input.importId,
    userId: input.userId,
    status,
    filesRead: manifest.files.length,
    rowsRead: manifest.rowsRead,
    playsAdded: status === 'imported' ? manifest.playsAdded : 0,
    duplicatesSkipped: status === 'imported' ? manifest.duplicatesSkipped : manifest.rowsRead - manifest.rowsRejected,
    accountRowsSuperseded: status === 'imported' ? manifest.accountRowsSuperseded : 0,
    rowsRejected: manifest.rowsRejected,
    rejected: manifest.files.flatMap((f) => f.rejected.map((r) => ({ file: f.entry, ...r }))),
    ignoredFiles: manifest.ignored,
    daysRebuilt,
    elapsedSeconds,
  };
}

