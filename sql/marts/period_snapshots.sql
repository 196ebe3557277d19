-- period_snapshots: one row per period for the user in scope, built only from daily_rollups (never
-- from plays), so a rebuild costs little however many plays there are.
--
-- Upstream:   daily_rollups; dim_artists, dim_tracks, dim_albums (names of the top entries)
-- Variables:  scope_user_id  VARCHAR      the user to build for
--             build_date     DATE         "today" in the user's time zone; rolling periods end here
--             built_at       TIMESTAMPTZ  stamped on every row
--
-- Periods (period_type / period_key / period_start .. period_end, both ends inclusive):
--   week, month, quarter, year   the last 7, 30, 90, 365 local days ending at build_date;
--                                key = build_date ('2024-07-31'); present even when empty
--   all_time                     key 'all'; first .. last local date with data (build_date ..
--                                build_date when the user has no data); always present
--   calendar_year                key '2023'; Jan 1 .. Dec 31; every year with data
--   calendar_month               key '2023-07'; first .. last day of the month; every month with data
--
-- Measures (streams / listens / skips / *_ms / plays / ms as defined in daily_rollups):
--   active_days               days with at least one listen
--   unique_tracks / _artists / _albums   distinct tracks / artists / albums with >= 1 play
--   longest_streak_days       longest run of consecutive local dates with >= 1 listen inside the
--                             period (the earliest run on ties); 0 and NULL start/end when none
--   top_artists / _tracks / _albums   top 50 by plays desc, then ms desc, then name (the
--                             case-insensitive key: artist name; artist + track; artist + album);
--                             rank 1..n. Names, album and URI from the dimensions: as spelled in the
--                             entry's latest stream (any day, not only inside the period).
--   hourly                    24 entries (hour 0..23): listens and track ms per local hour
--   weekday                   7 entries (iso_weekday 1 = Monday .. 7 = Sunday): listens, track ms
--
-- Performance: the entries of the daily lists are summed on their key only (no string aggregates),
-- months from days, years from months, all time from years; rolling periods from their days. Names
-- are looked up afterwards for the top 50 alone. Lists are ordered with list_sort, which sorts
-- structs by their first field (hour, iso_weekday, rank: unique), not with ORDER BY in list().

with daily_rollups as not materialized (
    select * from daily_rollups
),

-- Not materialized: read again where needed rather than copied (the lists are large).
user_days as not materialized (
    select * from daily_rollups
    where user_id = getvariable('scope_user_id')
),

-- The names of the entries ranked (the daily lists hold keys only).
dim_artists as (
    select artist_key, artist_name from dim_artists where user_id = getvariable('scope_user_id')
),

dim_tracks as (
    select track_key, track_name, artist_name, album_name, track_uri
    from dim_tracks where user_id = getvariable('scope_user_id')
),

dim_albums as (
    select album_key, album_name, artist_name from dim_albums where user_id = getvariable('scope_user_id')
),

build as (
    select
        cast(getvariable('scope_user_id') as varchar) as user_id,
        cast(getvariable('build_date') as date) as build_date,
        cast(getvariable('built_at') as timestamptz) as built_at
),

rolling_periods as (
    select
        windows.period_type,
        strftime(build.build_date, '%Y-%m-%d') as period_key,
        cast(build.build_date - windows.days + 1 as date) as period_start,
        build.build_date as period_end
    from build
    cross join (
        values ('week', 7), ('month', 30), ('quarter', 90), ('year', 365)
    ) as windows (period_type, days)
),

all_time_period as (
    select
        'all_time' as period_type,
        'all' as period_key,
        coalesce(min(user_days.local_date), any_value(build.build_date)) as period_start,
        coalesce(max(user_days.local_date), any_value(build.build_date)) as period_end
    from build
    left join user_days on true
),

calendar_year_periods as (
    select distinct
        'calendar_year' as period_type,
        strftime(local_date, '%Y') as period_key,
        make_date(year(local_date), 1, 1) as period_start,
        make_date(year(local_date), 12, 31) as period_end
    from user_days
),

calendar_month_periods as (
    select distinct
        'calendar_month' as period_type,
        strftime(local_date, '%Y-%m') as period_key,
        cast(date_trunc('month', local_date) as date) as period_start,
        last_day(local_date) as period_end
    from user_days
),

periods as (
    select
        cast(row_number() over (order by period_type, period_key) as integer) as period_id,
        *
    from (
        select * from rolling_periods
        union all
        select * from all_time_period
        union all
        select * from calendar_year_periods
        union all
        select * from calendar_month_periods
    )
),

-- Which days fall in which period.
period_days as (
    select
        periods.period_id,
        user_days.local_date,
        user_days.streams,
        user_days.listens,
        user_days.skips,
        user_days.track_ms,
        user_days.episode_ms,
        user_days.audiobook_ms,
        user_days.hourly
    from periods
    inner join user_days
        on user_days.local_date between periods.period_start and periods.period_end
),

totals as (
    select
        period_id,
        cast(sum(streams) as bigint) as streams,
        cast(sum(listens) as bigint) as listens,
        cast(sum(skips) as bigint) as skips,
        cast(sum(track_ms) as bigint) as track_ms,
        cast(sum(episode_ms) as bigint) as episode_ms,
        cast(sum(audiobook_ms) as bigint) as audiobook_ms,
        count(*) filter (where listens > 0) as active_days
    from period_days
    group by period_id
),

-- Gaps and islands: consecutive active dates share local_date - row_number.
active_period_days as (
    select
        period_id,
        local_date,
        local_date - cast(
            row_number() over (partition by period_id order by local_date) as integer
        ) as island
    from period_days
    where listens > 0
),

streaks as (
    select
        period_id,
        count(*) as streak_days,
        min(local_date) as streak_start,
        max(local_date) as streak_end
    from active_period_days
    group by period_id, island
),

longest_streaks as (
    select *
    from streaks
    qualify row_number() over (partition by period_id order by streak_days desc, streak_start) = 1
),

hours as (
    select cast(range as integer) as hour from range(24)
),

hour_totals as (
    select
        period_id,
        entry.hour as hour,
        cast(sum(entry.listens) as bigint) as listens,
        cast(sum(entry.ms) as bigint) as ms
    from (select period_id, unnest(hourly) as entry from period_days)
    group by all
),

hourly as (
    select
        periods.period_id,
        list_sort(list(
            struct_pack(
                hour := hours.hour,
                listens := coalesce(hour_totals.listens, 0),
                ms := coalesce(hour_totals.ms, 0)
            )
        )) as hourly
    from periods
    cross join hours
    left join hour_totals
        on hour_totals.period_id = periods.period_id
        and hour_totals.hour = hours.hour
    group by periods.period_id
),

weekdays as (
    select cast(range as integer) as iso_weekday from range(1, 8)
),

weekday_totals as (
    select
        period_id,
        cast(isodow(local_date) as integer) as iso_weekday,
        cast(sum(listens) as bigint) as listens,
        cast(sum(track_ms) as bigint) as ms
    from period_days
    group by all
),

weekday as (
    select
        periods.period_id,
        list_sort(list(
            struct_pack(
                iso_weekday := weekdays.iso_weekday,
                listens := coalesce(weekday_totals.listens, 0),
                ms := coalesce(weekday_totals.ms, 0)
            )
        )) as weekday
    from periods
    cross join weekdays
    left join weekday_totals
        on weekday_totals.period_id = periods.period_id
        and weekday_totals.iso_weekday = weekdays.iso_weekday
    group by periods.period_id
),

-- Top lists and unique counts -------------------------------------------------------------------
-- The entries of the daily artists / tracks / albums lists, as (entity, entry_key, plays, ms).
-- They are summed per month, months per year, years for all time (each step reads the previous
-- one, so the work stays close to one pass over the entries); rolling periods sum their days.

day_entries as not materialized (
    select local_date, 'artist' as entity, entry.artist_key as entry_key, entry.plays, entry.ms
    from (select local_date, unnest(artists) as entry from user_days)
    union all
    select local_date, 'track' as entity, entry.track_key as entry_key, entry.plays, entry.ms
    from (select local_date, unnest(tracks) as entry from user_days)
    union all
    select local_date, 'album' as entity, entry.album_key as entry_key, entry.plays, entry.ms
    from (select local_date, unnest(albums) as entry from user_days)
),

month_entries as (
    select
        entity,
        entry_key,
        cast(date_trunc('month', local_date) as date) as month_start,
        cast(sum(plays) as bigint) as plays,
        cast(sum(ms) as bigint) as ms
    from day_entries
    group by all
),

year_entries as (
    select
        entity,
        entry_key,
        make_date(year(month_start), 1, 1) as year_start,
        cast(sum(plays) as bigint) as plays,
        cast(sum(ms) as bigint) as ms
    from month_entries
    group by all
),

all_time_entries as (
    select
        entity,
        entry_key,
        cast(sum(plays) as bigint) as plays,
        cast(sum(ms) as bigint) as ms
    from year_entries
    group by all
),

rolling_entries as (
    select
        period_days.period_id,
        day_entries.entity,
        day_entries.entry_key,
        cast(sum(day_entries.plays) as bigint) as plays,
        cast(sum(day_entries.ms) as bigint) as ms
    from period_days
    inner join periods on periods.period_id = period_days.period_id
    inner join day_entries on day_entries.local_date = period_days.local_date
    where periods.period_type in ('week', 'month', 'quarter', 'year')
      -- Constant, so DuckDB filters the days before unnesting their lists.
      and day_entries.local_date > cast(getvariable('build_date') as date) - 365
    group by all
),

period_entries as (
    select periods.period_id, month_entries.entity, month_entries.entry_key,
        month_entries.plays, month_entries.ms
    from month_entries
    inner join periods
        on periods.period_type = 'calendar_month'
        and periods.period_start = month_entries.month_start
    union all
    select periods.period_id, year_entries.entity, year_entries.entry_key,
        year_entries.plays, year_entries.ms
    from year_entries
    inner join periods
        on periods.period_type = 'calendar_year'
        and periods.period_start = year_entries.year_start
    union all
    select periods.period_id, all_time_entries.entity, all_time_entries.entry_key,
        all_time_entries.plays, all_time_entries.ms
    from all_time_entries
    inner join periods on periods.period_type = 'all_time'
    union all
    select period_id, entity, entry_key, plays, ms
    from rolling_entries
),

-- Per period and list: how many entries have a play, and the 50th best (plays, ms). Only entries
-- at or above that cutoff can make the top 50, so only those few get ranked (a window over every
-- entry would sort them all).
entry_stats as (
    select
        period_id,
        entity,
        count(*) filter (where plays > 0) as unique_entries,
        list_last(max(struct_pack(plays := plays, ms := ms), 50)) as cutoff
    from period_entries
    group by period_id, entity
),

entry_counts as (
    select
        period_id,
        coalesce(sum(unique_entries) filter (where entity = 'artist'), 0) as unique_artists,
        coalesce(sum(unique_entries) filter (where entity = 'track'), 0) as unique_tracks,
        coalesce(sum(unique_entries) filter (where entity = 'album'), 0) as unique_albums
    from entry_stats
    group by period_id
),

ranked_entries as (
    select
        period_entries.*,
        cast(row_number() over (
            partition by period_entries.period_id, period_entries.entity
            order by period_entries.plays desc, period_entries.ms desc, period_entries.entry_key
        ) as integer) as rank
    from period_entries
    inner join entry_stats using (period_id, entity)
    where struct_pack(plays := period_entries.plays, ms := period_entries.ms) >= entry_stats.cutoff
    qualify rank <= 50
),

-- The top entries with their names from the dimensions.
top_artists as (
    select
        ranked_entries.period_id,
        list_sort(list(
            struct_pack(
                rank := ranked_entries.rank,
                artist_name := dim_artists.artist_name,
                plays := ranked_entries.plays,
                ms := ranked_entries.ms
            )
        )) as top_artists
    from ranked_entries
    inner join dim_artists on dim_artists.artist_key = ranked_entries.entry_key
    where ranked_entries.entity = 'artist'
    group by ranked_entries.period_id
),

top_tracks as (
    select
        ranked_entries.period_id,
        list_sort(list(
            struct_pack(
                rank := ranked_entries.rank,
                track_name := dim_tracks.track_name,
                artist_name := dim_tracks.artist_name,
                album_name := dim_tracks.album_name,
                track_uri := dim_tracks.track_uri,
                plays := ranked_entries.plays,
                ms := ranked_entries.ms
            )
        )) as top_tracks
    from ranked_entries
    inner join dim_tracks on dim_tracks.track_key = ranked_entries.entry_key
    where ranked_entries.entity = 'track'
    group by ranked_entries.period_id
),

top_albums as (
    select
        ranked_entries.period_id,
        list_sort(list(
            struct_pack(
                rank := ranked_entries.rank,
                album_name := dim_albums.album_name,
                artist_name := dim_albums.artist_name,
                plays := ranked_entries.plays,
                ms := ranked_entries.ms
            )
        )) as top_albums
    from ranked_entries
    inner join dim_albums on dim_albums.album_key = ranked_entries.entry_key
    where ranked_entries.entity = 'album'
    group by ranked_entries.period_id
),

final as (
    select
        build.user_id,
        periods.period_type,
        periods.period_key,
        periods.period_start,
        periods.period_end,
        coalesce(totals.streams, 0) as streams,
        coalesce(totals.listens, 0) as listens,
        coalesce(totals.skips, 0) as skips,
        coalesce(totals.track_ms, 0) as track_ms,
        coalesce(totals.episode_ms, 0) as episode_ms,
        coalesce(totals.audiobook_ms, 0) as audiobook_ms,
        coalesce(totals.active_days, 0) as active_days,
        cast(coalesce(entry_counts.unique_tracks, 0) as bigint) as unique_tracks,
        cast(coalesce(entry_counts.unique_artists, 0) as bigint) as unique_artists,
        cast(coalesce(entry_counts.unique_albums, 0) as bigint) as unique_albums,
        coalesce(longest_streaks.streak_days, 0) as longest_streak_days,
        longest_streaks.streak_start as longest_streak_start,
        longest_streaks.streak_end as longest_streak_end,
        coalesce(
            top_artists.top_artists,
            cast([] as struct(rank integer, artist_name varchar, plays bigint, ms bigint)[])
        ) as top_artists,
        coalesce(
            top_tracks.top_tracks,
            cast([] as struct(
                rank integer, track_name varchar, artist_name varchar, album_name varchar,
                track_uri varchar, plays bigint, ms bigint
            )[])
        ) as top_tracks,
        coalesce(
            top_albums.top_albums,
            cast([] as struct(
                rank integer, album_name varchar, artist_name varchar, plays bigint, ms bigint
            )[])
        ) as top_albums,
        hourly.hourly,
        weekday.weekday,
        build.built_at
    from periods
    cross join build
    inner join hourly on hourly.period_id = periods.period_id
    inner join weekday on weekday.period_id = periods.period_id
    left join totals on totals.period_id = periods.period_id
    left join longest_streaks on longest_streaks.period_id = periods.period_id
    left join entry_counts on entry_counts.period_id = periods.period_id
    left join top_artists on top_artists.period_id = periods.period_id
    left join top_tracks on top_tracks.period_id = periods.period_id
    left join top_albums on top_albums.period_id = periods.period_id
)

select * from final
