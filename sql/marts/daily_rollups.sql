-- daily_rollups: one row per user per local date that has at least one stream, for the days in
-- scope (int_plays_local already holds only those).
--
-- Upstream:   int_plays_local
--
-- Definitions used here and in period_snapshots:
--   streams       every stream of the day, any kind (track, episode, audiobook, unknown)
--   listens       track streams of 30 s or more ("plays" in the lists below)
--   skips         track streams under 30 s
--   track_ms      ms of ALL track streams (listens and skips); episode_ms, audiobook_ms alike
--   hourly        always 24 entries, hour 0..23 in order: listens and track ms of that local hour
--   artists       per artist_key (case/space-insensitive artist name): plays = listens, ms = all track ms
--   tracks        per track_key (so an account-export stream without URI and an extended-export
--                 stream of the same song are one track)
--   albums        per album_key (track artist + album name)
--   The lists hold keys and counts only. Names, a track's URI and album live in the dimensions
--   dim_artists, dim_tracks and dim_albums (one row per key, spelled as in its latest stream):
--   join on the key, e.g.
--     select d.local_date, t.track_name, t.artist_name, d.e.plays
--     from (select user_id, local_date, unnest(tracks) as e from daily_rollups) as d
--     join dim_tracks as t on t.user_id = d.user_id and t.track_key = d.e.track_key
--   Keys only, because names made up most of the cost of building and storing this mart: a
--   million plays hold about 700,000 (day, track) entries.
--   shows         per show_name: streams (episode streams of any length) and ms
--   Lists hold only entries with plays > 0 or ms > 0 (shows: every show streamed), sorted by
--   plays desc, then ms desc, then key; streams whose name is missing (so whose key is NULL) are
--   left out of the lists.

-- Materialized: read once (only these columns), then aggregated several ways.
with int_plays_local as materialized (
    select
        user_id, local_date, local_hour, kind, ms_played, is_listen, is_skip,
        artist_key, track_key, album_key, show_name
    from int_plays_local
),

track_plays as (
    select * from int_plays_local where kind = 'track'
),

days as (
    select
        user_id,
        local_date,
        count(*) as streams,
        count(*) filter (where is_listen) as listens,
        count(*) filter (where is_skip) as skips,
        cast(coalesce(sum(ms_played) filter (where kind = 'track'), 0) as bigint) as track_ms,
        cast(coalesce(sum(ms_played) filter (where kind = 'episode'), 0) as bigint) as episode_ms,
        cast(coalesce(sum(ms_played) filter (where kind = 'audiobook'), 0) as bigint) as audiobook_ms
    from int_plays_local
    group by user_id, local_date
),

hours as (
    select cast(range as integer) as hour from range(24)
),

hour_totals as (
    select
        user_id,
        local_date,
        local_hour as hour,
        count(*) filter (where is_listen) as listens,
        cast(coalesce(sum(ms_played), 0) as bigint) as ms
    from track_plays
    group by user_id, local_date, local_hour
),

hourly as (
    select
        days.user_id,
        days.local_date,
        -- list_sort orders by the first field, hour (ORDER BY inside list() is costly per group).
        list_sort(list(
            struct_pack(
                hour := hours.hour,
                listens := coalesce(hour_totals.listens, 0),
                ms := coalesce(hour_totals.ms, 0)
            )
        )) as hourly
    from days
    cross join hours
    left join hour_totals
        on hour_totals.user_id = days.user_id
        and hour_totals.local_date = days.local_date
        and hour_totals.hour = hours.hour
    group by days.user_id, days.local_date
),

artist_totals as (
    select
        user_id,
        local_date,
        artist_key,
        count(*) filter (where is_listen) as plays,
        cast(coalesce(sum(ms_played), 0) as bigint) as ms
    from track_plays
    where artist_key is not null
    group by user_id, local_date, artist_key
    having count(*) filter (where is_listen) > 0 or coalesce(sum(ms_played), 0) > 0
),

artist_lists as (
    select
        user_id,
        local_date,
        list(struct_pack(p := -plays, m := -ms, k := artist_key)) as entries
    from artist_totals
    group by user_id, local_date
),

-- Lists are built unordered, as structs whose fields in order are the sort keys (minus plays,
-- minus ms, the key), then sorted with list_sort (which compares structs field by field) and
-- turned into their final shape. A list() with ORDER BY keeps a sort buffer per group, which runs
-- out of memory with thousands of days; list_grade_up over derived keys costs 40% more.
artists as (
    select
        user_id,
        local_date,
        list_transform(
            list_sort(entries),
            lambda e: struct_pack(artist_key := e.k, plays := -e.p, ms := -e.m)
        ) as artists
    from artist_lists
),

track_totals as (
    select
        user_id,
        local_date,
        track_key,
        count(*) filter (where is_listen) as plays,
        cast(coalesce(sum(ms_played), 0) as bigint) as ms
    from track_plays
    where track_key is not null
    group by user_id, local_date, track_key
    having count(*) filter (where is_listen) > 0 or coalesce(sum(ms_played), 0) > 0
),

track_lists as (
    select
        user_id,
        local_date,
        list(struct_pack(p := -plays, m := -ms, k := track_key)) as entries
    from track_totals
    group by user_id, local_date
),

tracks as (
    select
        user_id,
        local_date,
        list_transform(
            list_sort(entries),
            lambda e: struct_pack(track_key := e.k, plays := -e.p, ms := -e.m)
        ) as tracks
    from track_lists
),

album_totals as (
    select
        user_id,
        local_date,
        album_key,
        count(*) filter (where is_listen) as plays,
        cast(coalesce(sum(ms_played), 0) as bigint) as ms
    from track_plays
    where album_key is not null
    group by user_id, local_date, album_key
    having count(*) filter (where is_listen) > 0 or coalesce(sum(ms_played), 0) > 0
),

album_lists as (
    select
        user_id,
        local_date,
        list(struct_pack(p := -plays, m := -ms, k := album_key)) as entries
    from album_totals
    group by user_id, local_date
),

albums as (
    select
        user_id,
        local_date,
        list_transform(
            list_sort(entries),
            lambda e: struct_pack(album_key := e.k, plays := -e.p, ms := -e.m)
        ) as albums
    from album_lists
),

show_totals as (
    select
        user_id,
        local_date,
        show_name,
        count(*) as streams,
        cast(coalesce(sum(ms_played), 0) as bigint) as ms
    from int_plays_local
    where kind = 'episode' and show_name is not null
    group by user_id, local_date, show_name
),

show_lists as (
    select
        user_id,
        local_date,
        list(struct_pack(s := -streams, m := -ms, k := show_name)) as entries
    from show_totals
    group by user_id, local_date
),

shows as (
    select
        user_id,
        local_date,
        list_transform(
            list_sort(entries),
            lambda e: struct_pack(show_name := e.k, streams := -e.s, ms := -e.m)
        ) as shows
    from show_lists
),

final as (
    select
        days.user_id,
        days.local_date,
        days.streams,
        days.listens,
        days.skips,
        days.track_ms,
        days.episode_ms,
        days.audiobook_ms,
        hourly.hourly,
        coalesce(
            artists.artists,
            cast([] as struct(artist_key varchar, plays bigint, ms bigint)[])
        ) as artists,
        coalesce(
            tracks.tracks,
            cast([] as struct(track_key varchar, plays bigint, ms bigint)[])
        ) as tracks,
        coalesce(
            albums.albums,
            cast([] as struct(album_key varchar, plays bigint, ms bigint)[])
        ) as albums,
        coalesce(
            shows.shows,
            cast([] as struct(show_name varchar, streams bigint, ms bigint)[])
        ) as shows
    from days
    inner join hourly using (user_id, local_date)
    left join artists using (user_id, local_date)
    left join tracks using (user_id, local_date)
    left join albums using (user_id, local_date)
    left join shows using (user_id, local_date)
)

select * from final
