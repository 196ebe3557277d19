-- One row per user and track_key; the key is the names'; names and both times are known.
select user_id, track_key
from dim_tracks
group by all
having count(*) > 1
    or any_value(track_key) is null
    or any_value(track_name) is null
    or any_value(artist_name) is null
    or any_value(track_key) <> lower(trim(any_value(artist_name))) || chr(31) || lower(trim(any_value(track_name)))
    or any_value(first_played_at) is null
    or any_value(first_played_at) > any_value(last_played_at)
