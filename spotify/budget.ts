/**
 * The app-wide Spotify request budget. Spotify counts its rate limit per app (since 2026 per
 * developer account) over a rolling 30 s window, across every user, so every request Rewind makes,
 * from any workflow, activity or process, goes through this one budget: a small state file in the
 * data folder (`<home>/sync/_spotify-budget.json`) updated under a lock.
 *
 * - A request rate: at most `requestsPerWindow` requests per rolling 30 s. A request that would
 *   exceed it waits when the wait is short (at most a couple of seconds), otherwise it is refused
 *   with `RateLimited` so that the caller waits durably (Temporal retries the activity later).
 * - "Blocked until": after a 429, nobody calls Spotify again before its Retry-After has passed;
 *   every caller gets `RateLimited` with the time that is left.
 */
import { readJson, writeJsonAtomic } from '../warehouse/files.ts';
import { withLock } from '../warehouse/lock.ts';
import type { Layout } from '../warehouse/layout.ts';
import { RateLimited } from './errors.ts';

export const WINDOW_MS = 30_000;

interface BudgetFile {
  /** Epoch ms before which no request may be made (after a 429). */
  blockedUntil?: number;
  blockedReason?: string;
  blockedEndpoint?: string;
  /** Epoch ms of the requests made in the last window. */
  recent: number[];
}

export interface BudgetState {
  blockedUntil: string | null;
  blockedReason: string | null;
  requestsInWindow: number;
  requestsPerWindow: number;
}

export interface BudgetOptions {
  requestsPerWindow: number;
  /** Longest a request waits in-process for room in the window before it is handed back to Temporal. */
  maxWaitMs?: number;
  now?: () => number;
}

export class RateBudget {
  private readonly now: () => number;
  private readonly maxWaitMs: number;

  constructor(
    private readonly layout: Layout,
    private readonly opts: BudgetOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.maxWaitMs = opts.maxWaitMs ?? 2_000;
  }

  private async update<T>(fn: (state: BudgetFile) => { state?: BudgetFile; result: T }): Promise<T> {
    return withLock(this.layout, 'spotify-budget', async () => {
      const state = (await readJson<BudgetFile>(this.layout.spotifyBudget)) ?? { recent: [] };
      const out = fn(state);
      if (out.state) await writeJsonAtomic(this.layout.spotifyBudget, out.state);
      return out.result;
    });
  }

  /** Take one request from the budget (waiting briefly for room), or throw RateLimited. */
  async acquire(endpoint: string): Promise<void> {
    for (;;) {
      const wait = await this.update<number>((state) => {
        const now = this.now();
        if (state.blockedUntil && state.blockedUntil > now) {
          throw new RateLimited(Math.ceil((state.blockedUntil - now) / 1000), state.blockedReason ?? 'blocked after a 429', endpoint);
        }
        const recent = state.recent.filter((t) => t > now - WINDOW_MS).sort((a, b) => a - b);
        if (recent.length < this.opts.requestsPerWindow) {
          return { state: { ...state, blockedUntil: undefined, recent: [...recent, now] }, result: 0 };
        }
        const waitMs = recent[recent.length - this.opts.requestsPerWindow]! + WINDOW_MS - now;
        if (waitMs > this.maxWaitMs) {
          throw new RateLimited(Math.ceil(waitMs / 1000), `local budget: ${this.opts.requestsPerWindow} requests per 30 s`, endpoint);
        }
        return { result: Math.max(1, waitMs) };
      });
      if (wait === 0) return;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Spotify answered 429: nobody calls it again before `retryAfterSeconds` have passed. */
  async block(retryAfterSeconds: number, reason: string | undefined, endpoint: string): Promise<void> {
    await this.update((state) => {
      const until = this.now() + retryAfterSeconds * 1000;
      if (state.blockedUntil && state.blockedUntil >= until) return { result: undefined };
      return { state: { ...state, blockedUntil: until, blockedReason: reason ?? 'Spotify answered 429', blockedEndpoint: endpoint }, result: undefined };
    });
  }

  /** For status displays. */
  async state(): Promise<BudgetState> {
    const s = (await readJson<BudgetFile>(this.layout.spotifyBudget)) ?? { recent: [] };
    const now = this.now();
    const blocked = s.blockedUntil && s.blockedUntil > now ? s.blockedUntil : undefined;
    return {
      blockedUntil: blocked ? new Date(blocked).toISOString() : null,
      blockedReason: blocked ? (s.blockedReason ?? null) : null,
      requestsInWindow: s.recent.filter((t) => t > now - WINDOW_MS).length,
      requestsPerWindow: this.opts.requestsPerWindow,
    };
  }
}
