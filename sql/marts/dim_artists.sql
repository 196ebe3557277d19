-- dim_artists: one row per artist the user streamed a track of (artist_key), over every play of
-- the user (whatever days are in scope): the names the daily_rollups lists leave out.
--
-- Upstream:   int_plays_keyed (every play of the user, with its keys)
--
-- Columns:
--   artist_key        lower(trim(artist_name)), as in int_plays_keyed and daily_rollups.artists
--   artist_name       as spelled in the artist's latest track stream (by started_at)
--   first_played_at   start of the artist's first track stream (any length)
--   last_played_at    start of the artist's latest track stream

with int_plays_keyed as (
    select user_id, artist_key, artist_name, started_at
    from int_plays_keyed
    where kind = 'track' and artist_key is not null
),

final as (
    select
        user_id,
        artist_key,
        arg_max(artist_name, started_at) as artist_name,
        min(started_at) as first_played_at,
        max(started_at) as last_played_at
    from int_plays_keyed
    group by user_id, artist_key
)

select * from final
