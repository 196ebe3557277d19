-- Every artist of the daily lists has its name in dim_artists.
select d.user_id, d.local_date, d.e.artist_key
from (select user_id, local_date, unnest(artists) as e from daily_rollups) as d
anti join dim_artists as n on n.user_id = d.user_id and n.artist_key = d.e.artist_key
