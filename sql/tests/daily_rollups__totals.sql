-- Totals agree with each other and with the lists.
select user_id, local_date
from daily_rollups
where streams <= 0
   or listens < 0 or skips < 0 or track_ms < 0 or episode_ms < 0 or audiobook_ms < 0
   or listens + skips > streams
   or listens <> list_sum(list_transform(hourly, lambda h: h.listens))
   or track_ms <> list_sum(list_transform(hourly, lambda h: h.ms))
   or coalesce(list_sum(list_transform(artists, lambda e: e.plays)), 0) > listens
   or coalesce(list_sum(list_transform(tracks, lambda e: e.plays)), 0) > listens
   or coalesce(list_sum(list_transform(albums, lambda e: e.plays)), 0) > listens
   or coalesce(list_sum(list_transform(artists, lambda e: e.ms)), 0) > track_ms
   or coalesce(list_sum(list_transform(tracks, lambda e: e.ms)), 0) > track_ms
   or coalesce(list_sum(list_transform(shows, lambda e: e.ms)), 0) > episode_ms
