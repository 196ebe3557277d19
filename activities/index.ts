/**
 * Every activity Rewind registers, built from its dependencies. Workflows import only the type.
 */
import { createImportActivities, type ActivityDeps } from './import.ts';
import { createSyncActivities } from './sync.ts';
import { createRealtimeActivities } from './realtime.ts';
import { createPlaylistActivities } from './playlists.ts';
import { createEnrichActivities } from './enrich.ts';

export type { ActivityDeps } from './import.ts';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createImportActivities(deps),
    ...createSyncActivities(deps),
    ...createRealtimeActivities(deps),
    ...createPlaylistActivities(deps),
    ...createEnrichActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
