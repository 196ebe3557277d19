/**
 * TypeBox schemas shared by the routes. Every object refuses unknown properties
 * (`additionalProperties: false`): requests with extra fields are refused, and responses never carry
 * a field that is not declared here (the serializer drops it).
 */
import { Type, type TSchema, type TProperties } from 'typebox';
import { PERIOD_PATTERN } from '../../warehouse/analytics.ts';

/** An object that refuses unknown properties. */
export const Obj = <P extends TProperties>(properties: P, options: Record<string, unknown> = {}) =>
  Type.Object(properties, { additionalProperties: false, ...options });

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const ErrorBody = Obj(
  {
    code: Type.String({ description: 'stable machine-readable code, e.g. not_found, invalid_request' }),
    message: Type.String({ description: 'what went wrong, for people' }),
  },
  { $id: 'Error', title: 'Error' },
);

/** Error responses every authenticated route may give. */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
};

export const DATE = Type.String({ pattern: '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$', description: 'a date, YYYY-MM-DD', maxLength: 10 });
export const DateTime = Type.String({ description: 'ISO 8601 date-time (UTC)' });

export const PeriodParam = Type.String({
  pattern: PERIOD_PATTERN,
  maxLength: 8,
  default: 'all_time',
  description: 'week, month, quarter, year (the last 7/30/90/365 days), all_time, a calendar year (2023) or month (2023-07)',
});

export const PeriodBody = Obj({
  period_type: Type.String(),
  period_key: Type.String(),
  period_start: Type.String({ description: 'first local date, inclusive' }),
  period_end: Type.String({ description: 'last local date, inclusive' }),
});

export const Totals = {
  streams: Type.Integer({ description: 'every stream, any kind' }),
  listens: Type.Integer({ description: 'track streams of 30 s or more' }),
  skips: Type.Integer({ description: 'track streams under 30 s' }),
  track_ms: Type.Integer(),
  episode_ms: Type.Integer(),
  audiobook_ms: Type.Integer(),
};

export const TopArtist = Obj({ rank: Type.Integer(), artist_name: Type.String(), plays: Type.Integer(), ms: Type.Integer() });
export const TopTrack = Obj({
  rank: Type.Integer(),
  track_name: Type.String(),
  artist_name: Type.String(),
  album_name: Nullable(Type.String()),
  track_uri: Nullable(Type.String()),
  plays: Type.Integer(),
  ms: Type.Integer(),
});
export const TopAlbum = Obj({ rank: Type.Integer(), album_name: Type.String(), artist_name: Type.String(), plays: Type.Integer(), ms: Type.Integer() });
export const HourBucket = Obj({ hour: Type.Integer(), listens: Type.Integer(), ms: Type.Integer() });
export const WeekdayBucket = Obj({ iso_weekday: Type.Integer(), listens: Type.Integer(), ms: Type.Integer() });

export const Overview = Obj(
  {
    period_type: Type.String(),
    period_key: Type.String(),
    period_start: Type.String(),
    period_end: Type.String(),
    ...Totals,
    active_days: Type.Integer(),
    unique_tracks: Type.Integer(),
    unique_artists: Type.Integer(),
    unique_albums: Type.Integer(),
    longest_streak_days: Type.Integer(),
    longest_streak_start: Nullable(Type.String()),
    longest_streak_end: Nullable(Type.String()),
    top_artists: Type.Array(TopArtist),
    top_tracks: Type.Array(TopTrack),
    top_albums: Type.Array(TopAlbum),
    hourly: Type.Array(HourBucket),
    weekday: Type.Array(WeekdayBucket),
    built_at: Type.String(),
  },
  { title: 'Overview' },
);

export const Play = Obj({
  id: Type.String({ description: 'the play identity: source:ended_at:ms_played:occurrence' }),
  ended_at: Type.String(),
  started_at: Nullable(Type.String()),
  ms_played: Nullable(Type.Integer()),
  kind: Nullable(Type.String()),
  track_name: Nullable(Type.String()),
  artist_name: Nullable(Type.String()),
  album_name: Nullable(Type.String()),
  track_uri: Nullable(Type.String()),
  episode_name: Nullable(Type.String()),
  show_name: Nullable(Type.String()),
  episode_uri: Nullable(Type.String()),
  audiobook_title: Nullable(Type.String()),
  audiobook_chapter_title: Nullable(Type.String()),
  platform: Nullable(Type.String()),
  conn_country: Nullable(Type.String()),
  reason_start: Nullable(Type.String()),
  reason_end: Nullable(Type.String()),
  shuffle: Nullable(Type.Boolean()),
  skipped: Nullable(Type.Boolean()),
  offline: Nullable(Type.Boolean()),
  incognito: Nullable(Type.Boolean()),
  source: Type.String(),
});

/** Analytics routes that return a list also answer CSV and Arrow IPC when asked (Accept). */
export const TABLE_TYPES = ['application/json', 'text/csv', 'application/vnd.apache.arrow.stream'] as const;

/** A 200 response in JSON, or (same rows) CSV / Arrow IPC stream. */
export function tableResponse(json: TSchema) {
  return {
    content: {
      'application/json': { schema: json },
      'text/csv': { schema: Type.String({ description: 'the rows as CSV with a header line' }) },
      'application/vnd.apache.arrow.stream': { schema: Type.String({ description: 'the rows as an Arrow IPC stream', format: 'binary' }) },
    },
  };
}
