/**
 * Which files of a Spotify privacy export are listening history, and in which format.
 *
 * A file is judged by its name (at any folder depth) and by the shape of its content, read through a
 * bounded peek: the first {@link PEEK_BYTES} decompressed bytes at most, tokenized with
 * `@streamparser/json` until the first array element is complete. Nothing here parses a whole file.
 *
 * - A history-NAMED file must be a JSON array whose first object has the keys of its format (or an
 *   empty array); anything else is an error naming the file and the reason.
 * - Another `.json` file whose first object has the keys of a format is history of that format
 *   (a renamed file); any other `.json` file is ignored, as are non-JSON files and OS junk.
 */
import { Tokenizer, TokenParser, TokenType } from '@streamparser/json';

export type HistoryFormat = 'extended' | 'account_music' | 'account_podcast' | 'account_audiobook' | 'account_legacy';

/** At most this many decompressed bytes of a file are read to classify it. */
export const PEEK_BYTES = 256 * 1024;

/**
 * Keys the first stream of a file must have, by format. Other keys are tolerated (they vary by
 * export era). `authorName` of audiobook files is not required: only one real sample is known.
 */
export const REQUIRED_KEYS: Readonly<Record<HistoryFormat, readonly string[]>> = {
  extended: ['ts', 'ms_played'],
  account_music: ['endTime', 'artistName', 'trackName', 'msPlayed'],
  account_podcast: ['endTime', 'podcastName', 'episodeName', 'msPlayed'],
  account_audiobook: ['endTime', 'audiobookName', 'chapterName', 'msPlayed'],
  account_legacy: ['endTime', 'artistName', 'trackName', 'msPlayed'],
};

const NAME_PATTERNS: ReadonlyArray<readonly [RegExp, HistoryFormat]> = [
  [/^Streaming_History_(Audio|Video)_.*\.json$/i, 'extended'],
  [/^endsong(_\d+)?\.json$/i, 'extended'],
  [/^StreamingHistory_music_\d+\.json$/i, 'account_music'],
  [/^StreamingHistory_podcast_\d+\.json$/i, 'account_podcast'],
  [/^StreamingHistory_audiobook_\d+\.json$/i, 'account_audiobook'],
  [/^StreamingHistory\d+\.json$/i, 'account_legacy'],
];

/** The names looked for, for the "no streaming history found" message. */
export const LOOKED_FOR =
  'Streaming_History_Audio_*.json, Streaming_History_Video_*.json, endsong*.json, StreamingHistory_music_*.json, ' +
  'StreamingHistory_podcast_*.json, StreamingHistory_audiobook_*.json, StreamingHistory<N>.json, ' +
  'or .json files shaped like them';

/** Last segment of a forward-slash name. */
export function baseName(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? name : name.slice(i + 1);
}

/** The format a file's name announces, if any (judged on the last path segment). */
export function formatFromName(name: string): HistoryFormat | undefined {
  const base = baseName(name);
  for (const [re, format] of NAME_PATTERNS) if (re.test(base)) return format;
  return undefined;
}

/**
 * Files that operating systems leave behind and that must never be read as data: macOS resource
 * forks (`__MACOSX/`, `._name`, which carry the name of the file they belong to), `.DS_Store`,
 * Windows thumbnails.
 */
export function isJunk(name: string): boolean {
  const segments = name.split('/');
  if (segments.includes('__MACOSX')) return true;
  const base = segments[segments.length - 1] ?? '';
  return base.startsWith('._') || /^(\.DS_Store|Thumbs\.db|desktop\.ini)$/i.test(base);
}

export function isJsonName(name: string): boolean {
  return /\.json$/i.test(name);
}

/** What a bounded peek at the start of a file found. */
export type PeekResult =
  | { kind: 'not-json'; detail: string }
  /** The top-level value is not an array: `found` is e.g. "an object". */
  | { kind: 'not-array'; found: string }
  /** An array whose first element is not an object: `found` is e.g. "strings". */
  | { kind: 'array-of'; found: string }
  | { kind: 'empty-array' }
  | { kind: 'first-object'; keys: string[] }
  /** The first element did not end within the peek budget. */
  | { kind: 'too-long' };

function describe(token: TokenType, plural: boolean): string {
  switch (token) {
    case TokenType.LEFT_BRACE:
      return plural ? 'objects' : 'an object';
    case TokenType.LEFT_BRACKET:
      return plural ? 'arrays' : 'an array';
    case TokenType.STRING:
      return plural ? 'strings' : 'a string';
    case TokenType.NUMBER:
      return plural ? 'numbers' : 'a number';
    case TokenType.TRUE:
    case TokenType.FALSE:
      return plural ? 'booleans' : 'a boolean';
    case TokenType.NULL:
      return plural ? 'nulls' : 'null';
    default:
      return 'something else';
  }
}

/** `Unexpected "%" at chunk position "0" (absolute position "0") in state X` -> `unexpected "%" at byte 0`. */
function shortJsonError(message: string): string {
  const m = /^Unexpected (.*?) at chunk position .*?\(absolute position "?(\d+)"?\)/s.exec(message);
  return m ? `unexpected ${m[1]} at byte ${m[2]}` : message;
}

/**
 * Reads at most `maxBytes` from `chunks` and reports the shape of the JSON at its start. Stops
 * reading (and so lets the source be destroyed) as soon as the shape is known. Errors of the source
 * are thrown; malformed JSON is a result, not an exception.
 */
export async function peekJson(chunks: AsyncIterable<Uint8Array>, maxBytes: number = PEEK_BYTES): Promise<PeekResult> {
  let result: PeekResult | undefined;
  const tokenizer = new Tokenizer();
  const parser = new TokenParser({ paths: ['$.0'], keepStack: false });
  let tokens = 0;
  tokenizer.onToken = (info) => {
    if (result) return;
    tokens += 1;
    if (tokens === 1 && info.token !== TokenType.LEFT_BRACKET) {
      result = { kind: 'not-array', found: describe(info.token, false) };
      return;
    }
    if (tokens === 2) {
      if (info.token === TokenType.RIGHT_BRACKET) {
        result = { kind: 'empty-array' };
        return;
      }
      if (info.token !== TokenType.LEFT_BRACE) {
        result = { kind: 'array-of', found: describe(info.token, true) };
        return;
      }
    }
    parser.write(info);
  };
  tokenizer.onError = (err) => {
    result ??= { kind: 'not-json', detail: shortJsonError(err.message) };
  };
  parser.onError = (err) => {
    result ??= { kind: 'not-json', detail: shortJsonError(err.message) };
  };
  parser.onValue = ({ value }) => {
    if (result) return;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      result = { kind: 'first-object', keys: Object.keys(value) };
    }
  };

  let read = 0;
  for await (const chunk of chunks) {
    const take = Math.min(chunk.length, maxBytes - read);
    read += take;
    tokenizer.write(take < chunk.length ? chunk.subarray(0, take) : chunk);
    if (result) return result;
    if (read >= maxBytes) return { kind: 'too-long' };
  }
  if (!result) {
    try {
      tokenizer.end();
    } catch {
      // onError has recorded it
    }
  }
  return result ?? { kind: 'not-json', detail: tokens === 0 ? 'empty file' : 'the file ends early' };
}

/** Verdict on one `.json` file. */
export type Judgement = { format: HistoryFormat } | { ignore: true } | { error: string };

function formatFromKeys(name: string, keys: ReadonlySet<string>): HistoryFormat | undefined {
  const has = (format: HistoryFormat): boolean => REQUIRED_KEYS[format].every((k) => keys.has(k));
  if (has('extended')) return 'extended';
  if (has('account_podcast')) return 'account_podcast';
  if (has('account_audiobook')) return 'account_audiobook';
  if (has('account_music')) return /^StreamingHistory\d/i.test(baseName(name)) ? 'account_legacy' : 'account_music';
  return undefined;
}

/** Classifies a `.json` file from its name and the peek at its content. */
export function judge(name: string, peek: PeekResult): Judgement {
  const named = formatFromName(name);
  if (named === undefined) {
    if (peek.kind !== 'first-object') return { ignore: true };
    const format = formatFromKeys(name, new Set(peek.keys));
    return format === undefined ? { ignore: true } : { format };
  }
  switch (peek.kind) {
    case 'not-json':
      return { error: `not JSON (${peek.detail})` };
    case 'not-array':
      return { error: `expected a JSON array of streams, found ${peek.found}` };
    case 'array-of':
      return { error: `expected a JSON array of streams, found an array of ${peek.found}` };
    case 'too-long':
      return { error: `expected a JSON array of streams, but its first stream does not end within the first ${PEEK_BYTES / 1024} KiB` };
    case 'empty-array':
      return { format: named };
    case 'first-object': {
      const keys = new Set(peek.keys);
      const missing = REQUIRED_KEYS[named].filter((k) => !keys.has(k));
      if (missing.length > 0) return { error: `first stream lacks ${missing.map((k) => `"${k}"`).join(', ')}` };
      return { format: named };
    }
  }
}
