/**
 * Where the real export files and recorded API responses are: `shared/real-data` beside the
 * project checkout (as CI lays it out), or REWIND_REAL_DATA. They are read in place, never copied.
 * Missing data fails the tests that need it: they are never skipped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../config.ts';

function locate(): string {
  const candidates = [
    process.env.REWIND_REAL_DATA,
    path.resolve(PROJECT_ROOT, '../shared/real-data'),
    '/work/shared/real-data',
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(path.join(c, 'README.md')));
  if (!found) throw new Error(`the real data (shared/real-data) was not found; looked in: ${candidates.join(', ')}`);
  return found;
}

export const REAL_DATA = locate();
