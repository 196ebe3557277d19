-- int_plays_keyed: every play of the user that has a start, with the case- and space-insensitive
-- keys the marts group by. No time zone and no days: the name dimensions read every play of the
-- user from here, int_plays_local the days in scope.
--
-- Upstream:   plays (every stored play; user_id and year, the UTC year of the play, are the Hive
--             partition keys)
-- Variables:  scope_user_id   VARCHAR   the user whose plays are in scope
--
-- Added columns:
--   artist_key        VARCHAR    lower(trim(artist_name)); NULL when the name is missing
--   track_key         VARCHAR    artist_key || chr(31) || lower(trim(track_name)):
--                                name based, so the same song from an account export (no URI) and
--                                from an extended export is one track; NULL when a name is missing
--   album_key         VARCHAR    artist_key || chr(31) || lower(trim(album_name))
--
-- (A filter on int_plays_keyed's columns, such as int_plays_local's on year and started_at, reaches
-- the Parquet scan through this model: the keys are computed only for the rows it keeps.)

with plays as (
    select * from plays
),

plays_of_user as (
    select *
    from plays
    where user_id = getvariable('scope_user_id')
      -- A play without a start cannot be placed on a day.
      and started_at is not null
),

-- The artist's key once per row: the track and album keys start with it, and trimming and
-- lowercasing names is a good part of what the marts cost.
keyed as (
    select
        *,
        lower(trim(artist_name)) as artist_key
    from plays_of_user
),

final as (
    select
        *,
        artist_key || chr(31) || lower(trim(track_name)) as track_key,
        artist_key || chr(31) || lower(trim(album_name)) as album_key
    from keyed
)

select * from final
