-- Every album of the daily lists has its names in dim_albums.
select d.user_id, d.local_date, d.e.album_key
from (select user_id, local_date, unnest(albums) as e from daily_rollups) as d
anti join dim_albums as n on n.user_id = d.user_id and n.album_key = d.e.album_key
