-- One row per user and album_key; the key is the names'; names and both times are known.
select user_id, album_key
from dim_albums
group by all
having count(*) > 1
    or any_value(album_key) is null
    or any_value(album_name) is null
    or any_value(artist_name) is null
    or any_value(album_key) <> lower(trim(any_value(artist_name))) || chr(31) || lower(trim(any_value(album_name)))
    or any_value(first_played_at) is null
    or any_value(first_played_at) > any_value(last_played_at)
