/**
 * Names Temporal knows Rewind by, built in one place: task queues and workflow IDs (business keys).
 * Pure and deterministic, so workflows, activities, the CLI and tests can all import it.
 */

/** The task queue every Rewind workflow and activity runs on. */
export const TASK_QUEUE = 'rewind';

/** One import per user and archive content: importing the same archive twice is the same workflow. */
export function importWorkflowId(userId: string, sha256: string): string {
  return `import:${userId}:${sha256}`;
}

/**
 * The per-user sync: the ID of its Temporal Schedule, and of a sync started by hand (`rewind sync`).
 * Runs started by the schedule get this ID with the schedule's timestamp appended (`sync:<u>-<time>`).
 */
export function syncWorkflowId(userId: string): string {
  return `sync:${userId}`;
}

/** The sync workflow's type name (what the schedule and `rewind sync` start). */
export const SYNC_WORKFLOW_TYPE = 'syncUser';

/**
 * The realtime mode of one user: a long-running workflow (continue-as-new every N polls) that
 * polls currently-playing. One per user: starting it again while it runs is a no-op.
 */
export function realtimeWorkflowId(userId: string): string {
  return `realtime:${userId}`;
}

/** The realtime workflow's type name. */
export const REALTIME_WORKFLOW_TYPE = 'realtimeUser';

/** The daily playlist snapshot of one user: its Temporal Schedule, and a snapshot started by hand. */
export function playlistsWorkflowId(userId: string): string {
  return `playlists:${userId}`;
}

/** The playlist snapshot workflow's type name. */
export const PLAYLISTS_WORKFLOW_TYPE = 'snapshotPlaylists';

/**
 * The enrichment of the shared catalog (one for all users): the ID of its Temporal Schedule, and of
 * a run started by hand. Runs started by the schedule get the schedule's timestamp appended.
 */
export function enrichWorkflowId(): string {
  return 'enrich';
}

/** The enrichment workflow's type name. */
export const ENRICH_WORKFLOW_TYPE = 'enrichCatalog';
