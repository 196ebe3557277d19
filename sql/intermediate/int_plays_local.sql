-- int_plays_local: the plays in scope, with local-time columns in the user's IANA time zone.
--
-- Upstream:   plays (every stored play; user_id and year, the UTC year of the play, are the Hive
--             partition keys)
-- Variables:  scope_user_id   VARCHAR   the user whose plays are in scope
--             scope_timezone  VARCHAR   that user's IANA time zone, e.g. 'America/New_York'
--             scope_days      DATE[]    local dates in scope; NULL means every day
--
-- Attribution rule: a play belongs to the local date and hour in which it STARTED (started_at),
-- converted to the user's time zone. A stream that runs across midnight (or across an hour) counts,
-- with all of its ms_played, for the date and hour in which it began. The wall clock is the user's
-- at the time of the play, so on DST days a local hour may be missing (spring forward) or hold the
-- streams of two real hours (fall back).
--
-- Added columns:
--   local_started_at  TIMESTAMP  started_at as wall-clock time in the user's zone
--   local_date        DATE       date of local_started_at
--   local_hour        INTEGER    0..23
--   iso_weekday       INTEGER    1 = Monday .. 7 = Sunday
--   is_listen         BOOLEAN    a track streamed for 30 s or more: a "play" in every mart
--   is_skip           BOOLEAN    a track streamed for less than 30 s (unknown ms_played counts as 0)
--   artist_key        VARCHAR    lower(trim(artist_name)); NULL when the name is missing
--   track_key         VARCHAR    artist_key || chr(31) || lower(trim(track_name)):
--                                name based, so the same song from an account export (no URI) and
--                                from an extended export is one track; NULL when a name is missing
--   album_key         VARCHAR    artist_key || chr(31) || lower(trim(album_name))

with plays as (
    select * from plays
),

plays_of_user as (
    select *
    from plays
    where user_id = getvariable('scope_user_id')
      -- A play without a start cannot be placed on a day.
      and started_at is not null
      -- Coarse filters, so that DuckDB skips whole files (year partitions) and Parquet row
      -- groups: no UTC offset exceeds a day, and the partition year (UTC) is within one year of
      -- the local year.
      and (
          getvariable('scope_days') is null
          or (
              year between year(list_min(getvariable('scope_days'))) - 1
                       and year(list_max(getvariable('scope_days'))) + 1
              and started_at >= cast(list_min(getvariable('scope_days')) - 1 as timestamptz)
              and started_at < cast(list_max(getvariable('scope_days')) + 2 as timestamptz)
          )
      )
),

localized as (
    select
        *,
        -- UTC (every user's default zone) by epoch arithmetic; other zones through ICU's calendar,
        -- which costs more than the rest of this model per row
        case
            when getvariable('scope_timezone') = 'UTC' then make_timestamp(epoch_us(started_at))
            else timezone(getvariable('scope_timezone'), started_at)
        end as local_started_at
    from plays_of_user
),

in_scope as (
    select *
    from localized
    where getvariable('scope_days') is null
       or cast(local_started_at as date) in (select unnest(getvariable('scope_days')))
),

-- The artist's key once per row: the track and album keys start with it, and trimming and
-- lowercasing names is a good part of what the marts cost.
keyed as (
    select
        *,
        lower(trim(artist_name)) as artist_key
    from in_scope
),

final as (
    select
        *,
        cast(local_started_at as date) as local_date,
        cast(hour(local_started_at) as integer) as local_hour,
        cast(isodow(local_started_at) as integer) as iso_weekday,
        coalesce(kind = 'track' and ms_played >= 30000, false) as is_listen,
        coalesce(kind = 'track' and coalesce(ms_played, 0) < 30000, false) as is_skip,
        artist_key || chr(31) || lower(trim(track_name)) as track_key,
        artist_key || chr(31) || lower(trim(album_name)) as album_key
    from keyed
)

select * from final
