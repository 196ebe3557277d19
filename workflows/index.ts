/** Every workflow the Rewind worker runs. Loaded by the worker's workflow bundle. */
export { importExport, progressQuery } from './import.ts';
export { syncUser, syncProgressQuery } from './sync.ts';
export { realtimeUser, realtimeProgressQuery } from './realtime.ts';
export { snapshotPlaylists } from './playlists.ts';
export { enrichCatalog, enrichProgressQuery } from './enrich.ts';
