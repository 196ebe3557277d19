-- period_snapshots: one row per user per period, built only from daily_rollups (never from plays),
-- so a rebuild costs little however many plays there are.
--
-- Upstream:   daily_rollups
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
-- Measures (definitions of streams / listens / skips / *_ms / plays / ms as in daily_rollups):
--   active_days               days with at least one listen
--   unique_tracks / _artists / _albums   distinct entries with at least one play (listen)
--   longest_streak_days       longest run of consecutive local dates with >= 1 listen inside the
--                             period (earliest run on ties); 0 and NULL start/end when none
--   top_artists / top_tracks / top_albums   top 50 by plays desc, then ms desc, then name; rank 1..n;
--                             display names come from the latest day the entry was streamed
--   hourly                    24 entries (hour 0..23): listens and track ms per local hour
--   weekday                   7 entries (iso_weekday 1 = Monday .. 7 = Sunday): listens, track ms

with daily_rollups as (
    select * from daily_rollups
    where user_id = getvariable('scope_user_id')
),

build as (
    select
        cast(getvariable('scope_user_id') as varchar) as user_id,
        cast(getvariable('build_date') as date) as build_date,
        cast(getvariable('built_at') as timestamptz) as built_at
),

rolling_periods as (
    select
        build.user_id,
        windows.period_type,
        strftime(build.build_date, '%Y-%m-%d') as period_key,
        cast(build.build_date - cast(windows.days - 1 as integer) as date) as period_start,
        build.build_date as period_end
    from build
    cross join (
        values ('week', 7), ('month', 30), ('quarter', 90), ('year', 365)
    ) as windows (period_type, days)
),

all_time_period as (
    select
        build.user_id,
        'all_time' as period_type,
        'all' as period_key,
        coalesce(min(daily_rollups.local_date), build.build_date) as period_start,
        coalesce(max(daily_rollups.local_date), build.build_date) as period_end
    from build
    left join daily_rollups on daily_rollups.user_id = build.user_id
    group by build.user_id, build.build_date
),

calendar_year_periods as (
    select distinct
        user_id,
        'calendar_year' as period_type,
        strftime(local_date, '%Y') as period_key,
        make_date(year(local_date), 1, 1) as period_start,
        make_date(year(local_date), 12, 31) as period_end
    from daily_rollups
),

calendar_month_periods as (
    select distinct
        user_id,
        'calendar_month' as period_type,
        strftime(local_date, '%Y-%m') as period_key,
        cast(date_trunc('month', local_date) as date) as period_start,
        last_day(local_date) as period_end
    from daily_rollups
),

periods as (
    select * from rolling_periods
    union all by name
    select * from all_time_period
    union all by name
    select * from calendar_year_periods
    union all by name
    select * from calendar_month_periods
),

-- Which days fall in which period (keys only; measures are joined in where needed).
period_days as (
    select
        periods.user_id,
        periods.period_type,
        periods.period_key,
        daily_rollups.local_date
    from periods
    inner join daily_rollups
        on daily_rollups.user_id = periods.user_id
        and daily_rollups.local_date between periods.period_start and periods.period_end
),

totals as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        cast(sum(daily_rollups.streams) as bigint) as streams,
        cast(sum(daily_rollups.listens) as bigint) as listens,
        cast(sum(daily_rollups.skips) as bigint) as skips,
        cast(sum(daily_rollups.track_ms) as bigint) as track_ms,
        cast(sum(daily_rollups.episode_ms) as bigint) as episode_ms,
        cast(sum(daily_rollups.audiobook_ms) as bigint) as audiobook_ms,
        count(*) filter (where daily_rollups.listens > 0) as active_days
    from period_days
    inner join daily_rollups using (user_id, local_date)
    group by period_days.user_id, period_days.period_type, period_days.period_key
),

-- Gaps and islands: consecutive active dates share local_date - row_number.
active_period_days as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        period_days.local_date,
        period_days.local_date - cast(
            row_number() over (
                partition by period_days.user_id, period_days.period_type, period_days.period_key
                order by period_days.local_date
            ) as integer
        ) as island
    from period_days
    inner join daily_rollups using (user_id, local_date)
    where daily_rollups.listens > 0
),

streaks as (
    select
        user_id,
        period_type,
        period_key,
        count(*) as streak_days,
        min(local_date) as streak_start,
        max(local_date) as streak_end
    from active_period_days
    group by user_id, period_type, period_key, island
),

longest_streaks as (
    select *
    from streaks
    qualify row_number() over (
        partition by user_id, period_type, period_key
        order by streak_days desc, streak_start
    ) = 1
),

day_hours as (
    select user_id, local_date, unnest(hourly) as entry
    from daily_rollups
),

hour_totals as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        day_hours.entry.hour as hour,
        cast(sum(day_hours.entry.listens) as bigint) as listens,
        cast(sum(day_hours.entry.ms) as bigint) as ms
    from period_days
    inner join day_hours using (user_id, local_date)
    group by all
),

hours as (
    select cast(range as integer) as hour from range(24)
),

hourly as (
    select
        periods.user_id,
        periods.period_type,
        periods.period_key,
        list(
            struct_pack(
                hour := hours.hour,
                listens := coalesce(hour_totals.listens, 0),
                ms := coalesce(hour_totals.ms, 0)
            )
            order by hours.hour
        ) as hourly
    from periods
    cross join hours
    left join hour_totals
        on hour_totals.user_id = periods.user_id
        and hour_totals.period_type = periods.period_type
        and hour_totals.period_key = periods.period_key
        and hour_totals.hour = hours.hour
    group by periods.user_id, periods.period_type, periods.period_key
),

weekday_totals as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        cast(isodow(period_days.local_date) as integer) as iso_weekday,
        cast(sum(daily_rollups.listens) as bigint) as listens,
        cast(sum(daily_rollups.track_ms) as bigint) as ms
    from period_days
    inner join daily_rollups using (user_id, local_date)
    group by all
),

weekdays as (
    select cast(range as integer) as iso_weekday from range(1, 8)
),

weekday as (
    select
        periods.user_id,
        periods.period_type,
        periods.period_key,
        list(
            struct_pack(
                iso_weekday := weekdays.iso_weekday,
                listens := coalesce(weekday_totals.listens, 0),
                ms := coalesce(weekday_totals.ms, 0)
            )
            order by weekdays.iso_weekday
        ) as weekday
    from periods
    cross join weekdays
    left join weekday_totals
        on weekday_totals.user_id = periods.user_id
        and weekday_totals.period_type = periods.period_type
        and weekday_totals.period_key = periods.period_key
        and weekday_totals.iso_weekday = weekdays.iso_weekday
    group by periods.user_id, periods.period_type, periods.period_key
),

day_artists as (
    select user_id, local_date, unnest(artists) as entry
    from daily_rollups
),

artist_totals as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        lower(trim(day_artists.entry.artist_name)) as artist_key,
        arg_max(day_artists.entry.artist_name, period_days.local_date) as artist_name,
        cast(sum(day_artists.entry.plays) as bigint) as plays,
        cast(sum(day_artists.entry.ms) as bigint) as ms
    from period_days
    inner join day_artists using (user_id, local_date)
    group by all
),

ranked_artists as (
    select
        *,
        cast(row_number() over (
            partition by user_id, period_type, period_key
            order by plays desc, ms desc, artist_name, artist_key
        ) as integer) as rank
    from artist_totals
),

top_artists as (
    select
        user_id,
        period_type,
        period_key,
        count(*) filter (where plays > 0) as unique_artists,
        list(
            struct_pack(rank := rank, artist_name := artist_name, plays := plays, ms := ms)
            order by rank
        ) filter (where rank <= 50) as top_artists
    from ranked_artists
    group by user_id, period_type, period_key
),

day_tracks as (
    select user_id, local_date, unnest(tracks) as entry
    from daily_rollups
),

track_totals as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        day_tracks.entry.track_key as track_key,
        arg_max(day_tracks.entry.track_name, period_days.local_date) as track_name,
        arg_max(day_tracks.entry.artist_name, period_days.local_date) as artist_name,
        arg_max(day_tracks.entry.album_name, period_days.local_date) as album_name,
        arg_max(day_tracks.entry.track_uri, period_days.local_date) as track_uri,
        cast(sum(day_tracks.entry.plays) as bigint) as plays,
        cast(sum(day_tracks.entry.ms) as bigint) as ms
    from period_days
    inner join day_tracks using (user_id, local_date)
    group by all
),

ranked_tracks as (
    select
        *,
        cast(row_number() over (
            partition by user_id, period_type, period_key
            order by plays desc, ms desc, track_name, artist_name, track_key
        ) as integer) as rank
    from track_totals
),

top_tracks as (
    select
        user_id,
        period_type,
        period_key,
        count(*) filter (where plays > 0) as unique_tracks,
        list(
            struct_pack(
                rank := rank,
                track_name := track_name,
                artist_name := artist_name,
                album_name := album_name,
                track_uri := track_uri,
                plays := plays,
                ms := ms
            )
            order by rank
        ) filter (where rank <= 50) as top_tracks
    from ranked_tracks
    group by user_id, period_type, period_key
),

day_albums as (
    select user_id, local_date, unnest(albums) as entry
    from daily_rollups
),

album_totals as (
    select
        period_days.user_id,
        period_days.period_type,
        period_days.period_key,
        day_albums.entry.album_key as album_key,
        arg_max(day_albums.entry.album_name, period_days.local_date) as album_name,
        arg_max(day_albums.entry.artist_name, period_days.local_date) as artist_name,
        cast(sum(day_albums.entry.plays) as bigint) as plays,
        cast(sum(day_albums.entry.ms) as bigint) as ms
    from period_days
    inner join day_albums using (user_id, local_date)
    group by all
),

ranked_albums as (
    select
        *,
        cast(row_number() over (
            partition by user_id, period_type, period_key
            order by plays desc, ms desc, album_name, artist_name, album_key
        ) as integer) as rank
    from album_totals
),

top_albums as (
    select
        user_id,
        period_type,
        period_key,
        count(*) filter (where plays > 0) as unique_albums,
        list(
            struct_pack(
                rank := rank,
                album_name := album_name,
                artist_name := artist_name,
                plays := plays,
                ms := ms
            )
            order by rank
        ) filter (where rank <= 50) as top_albums
    from ranked_albums
    group by user_id, period_type, period_key
),

final as (
    select
        periods.user_id,
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
        coalesce(top_tracks.unique_tracks, 0) as unique_tracks,
        coalesce(top_artists.unique_artists, 0) as unique_artists,
        coalesce(top_albums.unique_albums, 0) as unique_albums,
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
        stamp.built_at
    from periods
    cross join (select built_at from build) as stamp
    inner join hourly using (user_id, period_type, period_key)
    inner join weekday using (user_id, period_type, period_key)
    left join totals using (user_id, period_type, period_key)
    left join longest_streaks using (user_id, period_type, period_key)
    left join top_artists using (user_id, period_type, period_key)
    left join top_tracks using (user_id, period_type, period_key)
    left join top_albums using (user_id, period_type, period_key)
)

select * from final
