-- artist_key / track_key / album_key: present exactly when their names are, normalised (lower
-- case, trimmed).
select *
from int_plays_keyed
where (artist_key is null) <> (artist_name is null)
   or (track_key is null) <> (artist_name is null or track_name is null)
   or (album_key is null) <> (artist_name is null or album_name is null)
   or artist_key <> lower(trim(artist_name))
   or track_key <> lower(track_key)
   or track_key <> lower(trim(artist_name)) || chr(31) || lower(trim(track_name))
   or album_key <> lower(trim(artist_name)) || chr(31) || lower(trim(album_name))
