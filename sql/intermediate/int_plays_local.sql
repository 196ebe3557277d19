-- int_plays_local: the plays in scope, with local-time columns in the user's IANA time zone.
--
-- Upstream:   int_plays_keyed (the user's plays with a start, with artist_key, track_key and
--             album_key; year, the UTC year of the play, is a Hive partition key)
-- Variables:  scope_timezone  VARCHAR   the user's IANA time zone, e.g. 'America/New_York'
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

with int_plays_keyed as (
    select * from int_plays_keyed
),

plays_of_days as (
    select *
    from int_plays_keyed
    -- Coarse filters, so that DuckDB skips whole files (year partitions) and Parquet row groups:
    -- no UTC offset exceeds a day, and the partition year (UTC) is within one year of the local
    -- year.
    where getvariable('scope_days') is null
       or (
           year between year(list_min(getvariable('scope_days'))) - 1
                    and year(list_max(getvariable('scope_days'))) + 1
           and started_at >= cast(list_min(getvariable('scope_days')) - 1 as timestamptz)
           and started_at < cast(list_max(getvariable('scope_days')) + 2 as timestamptz)
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
    from plays_of_days
),

in_scope as (
    select *
    from localized
    where getvariable('scope_days') is null
       or cast(local_started_at as date) in (select unnest(getvariable('scope_days')))
),

final as (
    select
        *,
        cast(local_started_at as date) as local_date,
        cast(hour(local_started_at) as integer) as local_hour,
        cast(isodow(local_started_at) as integer) as iso_weekday,
        coalesce(kind = 'track' and ms_played >= 30000, false) as is_listen,
        coalesce(kind = 'track' and coalesce(ms_played, 0) < 30000, false) as is_skip
    from in_scope
)

select * from final
