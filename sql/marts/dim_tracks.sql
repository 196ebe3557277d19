-- dim_tracks: one row per track the user streamed (track_key), over every play of the user
-- (whatever days are in scope): the names the daily_rollups lists leave out.
--
-- Upstream:   int_plays_keyed (every play of the user, with its keys)
--
-- Columns:
--   track_key         artist_key || chr(31) || lower(trim(track_name)), as in int_plays_keyed and
--                     daily_rollups.tracks (an account-export stream without URI and an
--                     extended-export stream of the same song are one track)
--   track_name, artist_name   as spelled in the track's latest stream (by started_at)
--   album_name, track_uri     the latest non-NULL ones (account-export streams have neither)
--   first_played_at   start of the track's first stream (any length)
--   last_played_at    start of its latest stream

with int_plays_keyed as (
    select user_id, track_key, track_name, artist_name, album_name, track_uri, started_at
    from int_plays_keyed
    where kind = 'track' and track_key is not null
),

final as (
    select
        user_id,
        track_key,
        arg_max(track_name, started_at) as track_name,
        arg_max(artist_name, started_at) as artist_name,
        -- arg_max skips NULL values: the latest album name and URI that are known.
        arg_max(album_name, started_at) as album_name,
        arg_max(track_uri, started_at) as track_uri,
        min(started_at) as first_played_at,
        max(started_at) as last_played_at
    from int_plays_keyed
    group by user_id, track_key
)

select * from final
