/**
 * The realtime mode's activity (workflows/realtime.ts): one poll of currently-playing, and the plays
 * recently-played never shows written to the warehouse.
 *
 * What is recorded: a play that ended before 30 s (a skip) and any play of a local file
 * (`is_local`), as its own row (source 'api', source_file 'currently-playing') with an estimated
 * `ms_played`. A non-local play of 30 s or more is not recorded here: recently-played lists it and
 * the sync brings it.
 *
 * The estimate (see `finishPlay`), from what the polls saw of one play: its progress at the last poll
 * that saw it (`p`, at time `t`), and the next poll (time `t'`, Δ = t' - t) that saw something else.
 * While it was playing, it ended somewhere in (t, t'], so ms_played lies in [p, min(duration, p + Δ)].
 *   - `next_track`: the next poll sees another track playing at progress p' ≤ Δ: that track started
 *     at t' - p', and the play ended then (tracks follow each other without a gap, a skip starts the
 *     next at 0): ms_played = p + (t' - p' - t). Error: the two polls' own timing (each observation is
 *     placed at the middle of its request: ± half its round trip) plus 1 s for a gap or crossfade.
 *   - `midpoint`: nothing plays at t' (204, an episode or an ad), or the next track's progress is
 *     longer than Δ (it did not start right after): ms_played = p + Δ/2, error ± Δ/2 (+ round trips);
 *     Δ is the poll interval (15 s) plus a request, so at most about ±8 s.
 *   - `paused`: it was paused at t: ms_played = p (± a round trip).
 * A skip is recorded only when it certainly is one: the estimate plus its error (or the upper bound)
 * is under 30 s; an undecidable play (say 25 s ± 8 s, or 29.5 s ± 1.2 s) might be listed by
 * recently-played, so it is left to it and counted as `ambiguous` (recording it too could store the
 * play twice). Skips shorter than the poll
 * interval can fall between two polls and are then never seen (a 5 s skip is seen by one poll in
 * three at 15 s). Seeking inside a track is not seen and counts as listening.
 *
 * Durability: the state (the play being watched, and finished plays not yet written) is in
 * `<home>/sync/realtime/<u>.json`, updated under a lock. Finished plays are put there before they are
 * written, and written through the sync's commit path under the user's lock; a retry after a crash
 * writes the very same rows again, which the matching rule stores once (rule 4: the same track
 * within 2 s). No token and no track is ever an input or result: only counts reach the history.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../config.ts';
import { stageApiPlays, type ApiPlay } from '../warehouse/api-plays.ts';
import { Db, type DbOptions } from '../warehouse/duckdb.ts';
import { readJson, writeJsonAtomic } from '../warehouse/files.ts';
import type { Layout } from '../warehouse/layout.ts';
import { withLock } from '../warehouse/lock.ts';
import { ensureUser, getUser } from '../warehouse/users.ts';
import { hasScope, spotifyApp } from '../spotify/auth.ts';
import { SpotifyClient } from '../spotify/client.ts';
import { rateBudget, tokenStore } from '../spotify/connect.ts';
import { RateLimited } from '../spotify/errors.ts';
import type { CurrentlyPlaying } from '../spotify/types.ts';
import { commitStagedPlays } from './import.ts';
import { syncFailure } from './sync.ts';

/** recently-played lists a track after about this much listening: shorter plays are skips. */
export const SKIP_THRESHOLD_MS = 30_000;
/** A gap or crossfade between two tracks, allowed for in the `next_track` error bound. */
export const TRACK_GAP_MS = 1_000;
/** Progress that goes back by more than this on the same track is a new play (repeat, restart). */
const RESTART_MS = 2_000;

/** What a poll saw of the track, enough to write a play (no ids for local files). */
export interface ObservedTrack {
  uri: string;
  name: string;
  artistName: string;
  artistUris: string[];
  albumName: string | null;
  albumUri: string | null;
  durationMs: number;
  isLocal: boolean;
  contextUri: string | null;
  contextType: string | null;
}

/** One poll: when (the middle of the request), how precisely (its round trip), and what played. */
export interface Observation {
  at: number;
  rttMs: number;
  /** null: nothing plays (204), or an episode or an ad. */
  track: ObservedTrack | null;
  progressMs: number;
  isPlaying: boolean;
}

/** The play being watched. */
export interface OpenPlay {
  track: ObservedTrack;
  firstAt: number;
  firstProgressMs: number;
  lastAt: number;
  lastProgressMs: number;
  lastPlaying: boolean;
  lastRttMs: number;
}

export type EstimateMethod = 'next_track' | 'midpoint' | 'paused';

/** A play that has ended, with its estimate. */
export interface FinishedPlay {
  track: ObservedTrack;
  msPlayed: number;
  /** Epoch ms: the estimated end. */
  endedAt: number;
  /** The true ms_played lies in [lowerMs, upperMs] (no seeks); the estimate is within ± errorMs of it. */
  lowerMs: number;
  upperMs: number;
  errorMs: number;
  method: EstimateMethod;
}

/** The end of `open`, seen by the observation `next` (another track, or nothing). */
export function finishPlay(open: OpenPlay, next: Observation): FinishedPlay {
  const delta = Math.max(0, next.at - open.lastAt);
  const lower = open.lastProgressMs;
  const upper = open.lastPlaying ? Math.max(lower, Math.min(open.track.durationMs, lower + delta)) : lower;
  const rtts = (open.lastRttMs + next.rttMs) / 2;
  let ms: number;
  let method: EstimateMethod;
  let errorMs: number;
  if (!open.lastPlaying) {
    ms = lower;
    method = 'paused';
    errorMs = Math.round(open.lastRttMs / 2);
  } else if (next.track && next.isPlaying && next.progressMs <= delta + next.rttMs) {
    const extra = Math.min(delta, Math.max(0, next.at - next.progressMs - open.lastAt));
    ms = Math.min(upper, lower + extra);
    method = 'next_track';
    errorMs = Math.round(rtts + TRACK_GAP_MS);
  } else {
    ms = (lower + upper) / 2;
    method = 'midpoint';
    errorMs = Math.round((upper - lower) / 2 + rtts);
  }
  ms = Math.round(ms);
  return { track: open.track, msPlayed: ms, endedAt: Math.round(open.lastAt + (ms - lower)), lowerMs: lower, upperMs: upper, errorMs, method };
}

/** Should a finished play be written by the realtime mode (and not left to recently-played)? */
export function classify(p: FinishedPlay): 'local' | 'skip' | 'listen' | 'ambiguous' {
  if (p.track.isLocal) return 'local';
  if (p.msPlayed >= SKIP_THRESHOLD_MS) return 'listen';
  if (Math.min(p.upperMs, p.msPlayed + p.errorMs) < SKIP_THRESHOLD_MS) return 'skip';
  return 'ambiguous';
}

/** Fold one observation into the watched play: the play it ends (if any) and the play now watched. */
export function advance(open: OpenPlay | null, obs: Observation): { open: OpenPlay | null; finished: FinishedPlay | null } {
  const same = open && obs.track && obs.track.uri === open.track.uri && obs.progressMs + RESTART_MS >= open.lastProgressMs;
  if (open && same) {
    return { open: { ...open, lastAt: obs.at, lastProgressMs: obs.progressMs, lastPlaying: obs.isPlaying, lastRttMs: obs.rttMs }, finished: null };
  }
  const finished = open ? finishPlay(open, obs) : null;
  const next: OpenPlay | null = obs.track
    ? { track: obs.track, firstAt: obs.at, firstProgressMs: obs.progressMs, lastAt: obs.at, lastProgressMs: obs.progressMs, lastPlaying: obs.isPlaying, lastRttMs: obs.rttMs }
    : null;
  return { open: next, finished };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The track of a currently-playing answer (null for nothing, an episode, an ad, or an item without a URI). */
export function observedTrack(body: CurrentlyPlaying | null): ObservedTrack | null {
  if (!body || body.currently_playing_type !== 'track' || !isObject(body.item)) return null;
  const item = body.item as unknown as Json;
  const uri = str(item.uri);
  const duration = item.duration_ms;
  if (!uri || typeof duration !== 'number' || !Number.isFinite(duration) || duration < 0) return null;
  const artists = Array.isArray(item.artists) ? item.artists.filter(isObject) : [];
  const album = isObject(item.album) ? item.album : undefined;
  const context = isObject(body.context) ? body.context : undefined;
  return {
    uri,
    name: str(item.name) ?? '',
    artistName: str(artists[0]?.name) ?? '',
    artistUris: artists.map((a) => str(a.uri)).filter((u): u is string => u !== null),
    albumName: str(album?.name),
    albumUri: str(album?.uri),
    durationMs: Math.round(duration),
    isLocal: item.is_local === true || uri.startsWith('spotify:local:'),
    contextUri: str(context?.uri),
    contextType: str(context?.type),
  };
}

/** A finished play as a row for the staging path (source 'api', origin currently_playing). */
export function realtimeApiPlay(p: FinishedPlay): ApiPlay {
  return {
    playedAt: new Date(p.endedAt).toISOString(),
    trackUri: p.track.uri,
    trackName: p.track.name,
    durationMs: p.track.durationMs,
    artistName: p.track.artistName,
    artistUris: p.track.artistUris,
    albumName: p.track.albumName,
    albumUri: p.track.albumUri,
    contextUri: p.track.contextUri,
    contextType: p.track.contextType,
    msPlayed: p.msPlayed,
    isLocal: p.track.isLocal,
    origin: 'currently_playing',
  };
}

/** `<home>/sync/realtime/<u>.json`. */
export interface RealtimeState {
  userId: string;
  open: OpenPlay | null;
  /** Finished plays decided for writing, not yet written (written first by the next poll). */
  pending: FinishedPlay[];
  polls: number;
  recorded: { skips: number; local: number };
  /** Plays under 30 s whose end could not be placed tightly enough: left to recently-played. */
  ambiguous: number;
  lastPollAt: string | null;
  lastRecordedAt: string | null;
  /** The last estimates written, for `rewind realtime status` (method and error bound, no names). */
  lastEstimates: { endedAt: string; msPlayed: number; errorMs: number; method: EstimateMethod; kind: 'skip' | 'local' }[];
}

export function emptyRealtimeState(userId: string): RealtimeState {
  return { userId, open: null, pending: [], polls: 0, recorded: { skips: 0, local: 0 }, ambiguous: 0, lastPollAt: null, lastRecordedAt: null, lastEstimates: [] };
}

export async function readRealtimeState(layout: Layout, userId: string): Promise<RealtimeState> {
  return { ...emptyRealtimeState(userId), ...((await readJson<RealtimeState>(layout.realtimeState(userId))) ?? {}) };
}

export interface RealtimePollInput {
  userId: string;
}

export interface RealtimePollResult {
  /** false: the user's realtime setting is off; the workflow ends. */
  enabled: boolean;
  /** Something plays now. */
  playing: boolean;
  /** Rows written by this poll. */
  added: number;
  affectedDays: string[];
}

/** Failure types of the realtime activity (besides the sync's). */
export const REALTIME_FAILURES = { missingScope: 'MissingScope' } as const;

export function createRealtimeActivities({ config, layout }: { config: Config; layout: Layout }) {
  const dbOptions: DbOptions = { memoryLimit: config.duckdb.memoryLimit, threads: config.duckdb.threads, tempDirectory: layout.tmp };
  const store = tokenStore(config, layout);
  const budget = rateBudget(config, layout);

  /** Write finished plays through the shared commit path (under the user's lock). */
  async function write(userId: string, plays: FinishedPlay[], heartbeat: () => void): Promise<{ added: number; affectedDays: string[] }> {
    const user = await ensureUser(layout, userId, config.defaultTimezone);
    const first = Math.min(...plays.map((p) => p.endedAt));
    const last = Math.max(...plays.map((p) => p.endedAt));
    const batchId = `realtime:${userId}:${first}-${last}`;
    const dir = layout.staging(batchId);
    const outFile = path.join(dir, 'currently-playing.parquet');
    await fs.mkdir(layout.tmp, { recursive: true });
    const db = await Db.open(dbOptions);
    let staged;
    try {
      staged = await stageApiPlays(db, { plays: plays.map(realtimeApiPlay), importId: batchId, entry: 'currently-playing', outFile });
    } finally {
      db.close();
    }
    heartbeat();
    const timer = setInterval(heartbeat, 3_000);
    try {
      const merge = await commitStagedPlays(layout, dbOptions, {
        userId,
        timezone: user.timezone,
        stagedFiles: staged.rowsStaged > 0 ? [outFile] : [],
        record: async (m) => m,
      });
      return { added: merge.added, affectedDays: merge.affectedDays };
    } finally {
      clearInterval(timer);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  const update = (userId: string, fn: (s: RealtimeState) => RealtimeState) =>
    withLock(layout, `realtime-${userId}`, async () => {
      const next = fn(await readRealtimeState(layout, userId));
      await writeJsonAtomic(layout.realtimeState(userId), next);
      return next;
    });

  return {
    /**
     * One poll of currently-playing for `userId`: fold it into the watched play; a play that ended
     * and is a skip or a local file is written (source 'api'). Ends the mode when the user's
     * realtime setting is off.
     */
    async pollCurrentlyPlaying(input: RealtimePollInput): Promise<RealtimePollResult> {
      const ctx = Context.current();
      const { userId } = input;
      const heartbeat = () => ctx.heartbeat({ step: 'realtime' });
      heartbeat();
      const user = await getUser(layout, userId);
      if (!user?.realtime) {
        // Turned off: forget the watched play (nothing half-known is written), keep the counters.
        await update(userId, (s) => ({ ...s, open: null }));
        return { enabled: false, playing: false, added: 0, affectedDays: [] };
      }
      const connection = await store.connection(userId);
      if (connection && !connection.reconnectNeeded && !hasScope(connection.scope, 'user-read-currently-playing')) {
        throw ApplicationFailure.create({
          type: REALTIME_FAILURES.missingScope,
          nonRetryable: true,
          message: `the Spotify account of "${userId}" did not grant user-read-currently-playing (connected before the realtime mode existed): run \`rewind login --user ${userId}\` again to grant it`,
        });
      }
      const client = new SpotifyClient({ app: spotifyApp(config), store, budget, layout }, userId);
      let body: CurrentlyPlaying | null;
      try {
        body = await client.currentlyPlaying();
      } catch (e) {
        if (e instanceof RateLimited) ctx.heartbeat({ step: 'rate-limited', retryAfterSeconds: e.retryAfterSeconds });
        throw syncFailure(e, ctx.info.attempt);
      }
      const timing = client.lastRequest ?? { sentAt: Date.now(), receivedAt: Date.now() };
      const rtt = Math.max(0, timing.receivedAt - timing.sentAt);
      const obs: Observation = {
        at: Math.round(timing.sentAt + rtt / 2),
        rttMs: rtt,
        track: observedTrack(body),
        progressMs: Math.max(0, body?.progress_ms ?? 0),
        isPlaying: body?.is_playing === true,
      };

      // Decide, and put what is to be written in the state first (written below, or by a retry).
      const state = await update(userId, (s) => {
        const { open, finished } = advance(s.open, obs);
        const kind = finished ? classify(finished) : null;
        const write = finished && (kind === 'skip' || kind === 'local') ? [finished] : [];
        return {
          ...s,
          open,
          pending: [...s.pending, ...write],
          polls: s.polls + 1,
          ambiguous: s.ambiguous + (kind === 'ambiguous' ? 1 : 0),
          lastPollAt: new Date(obs.at).toISOString(),
        };
      });
      if (state.pending.length === 0) return { enabled: true, playing: obs.track !== null, added: 0, affectedDays: [] };

      const pending = state.pending;
      const written = await write(userId, pending, heartbeat);
      await update(userId, (s) => {
        const done = new Set(pending.map((p) => `${p.track.uri}@${p.endedAt}`));
        const kinds = pending.map((p) => (p.track.isLocal ? 'local' : 'skip') as 'local' | 'skip');
        return {
          ...s,
          pending: s.pending.filter((p) => !done.has(`${p.track.uri}@${p.endedAt}`)),
          recorded: { skips: s.recorded.skips + kinds.filter((k) => k === 'skip').length, local: s.recorded.local + kinds.filter((k) => k === 'local').length },
          lastRecordedAt: new Date().toISOString(),
          lastEstimates: [
            ...pending.map((p, i) => ({ endedAt: new Date(p.endedAt).toISOString(), msPlayed: p.msPlayed, errorMs: p.errorMs, method: p.method, kind: kinds[i]! })),
            ...s.lastEstimates,
          ].slice(0, 20),
        };
      });
      return { enabled: true, playing: obs.track !== null, added: written.added, affectedDays: written.affectedDays };
    },
  };
}
