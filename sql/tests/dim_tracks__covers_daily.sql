-- Every track of the daily lists has its names in dim_tracks.
select d.user_id, d.local_date, d.e.track_key
from (select user_id, local_date, unnest(tracks) as e from daily_rollups) as d
anti join dim_tracks as n on n.user_id = d.user_id and n.track_key = d.e.track_key
