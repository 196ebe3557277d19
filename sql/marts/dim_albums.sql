-- dim_albums: one row per album the user streamed a track of (album_key), over every play of the
-- user (whatever days are in scope): the names the daily_rollups lists leave out.
--
-- Upstream:   int_plays_keyed (every play of the user, with its keys)
--
-- Columns:
--   album_key         artist_key || chr(31) || lower(trim(album_name)) (the track's artist), as in
--                     int_plays_keyed and daily_rollups.albums
--   album_name, artist_name   as spelled in the album's latest track stream (by started_at)
--   first_played_at   start of the album's first track stream (any length)
--   last_played_at    start of its latest track stream

with int_plays_keyed as (
    select user_id, album_key, album_name, artist_name, started_at
    from int_plays_keyed
    where kind = 'track' and album_key is not null
),

final as (
    select
        user_id,
        album_key,
        arg_max(album_name, started_at) as album_name,
        arg_max(artist_name, started_at) as artist_name,
        min(started_at) as first_played_at,
        max(started_at) as last_played_at
    from int_plays_keyed
    group by user_id, album_key
)

select * from final
