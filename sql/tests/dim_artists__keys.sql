-- One row per user and artist_key; the key is the name's; a name and both times are known.
select user_id, artist_key
from dim_artists
group by all
having count(*) > 1
    or any_value(artist_key) is null
    or any_value(artist_name) is null
    or any_value(artist_key) <> lower(trim(any_value(artist_name)))
    or any_value(first_played_at) is null
    or any_value(first_played_at) > any_value(last_played_at)
