/**
 * Every activity Rewind registers, built from its dependencies. Workflows import only the type.
 */
import { createImportActivities, type ActivityDeps } from './import.ts';
import { createSyncActivities } from './sync.ts';

export type { ActivityDeps } from './import.ts';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createImportActivities(deps),
    ...createSyncActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
