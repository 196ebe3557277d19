-- Totals agree with each other, with hourly / weekday and with the top lists.
select user_id, period_type, period_key
from period_snapshots
where streams < 0 or listens < 0 or skips < 0 or track_ms < 0 or episode_ms < 0 or audiobook_ms < 0
   or listens + skips > streams
   or active_days > period_end - period_start + 1
   or (listens = 0) <> (active_days = 0)
   or listens <> list_sum(list_transform(hourly, lambda h: h.listens))
   or track_ms <> list_sum(list_transform(hourly, lambda h: h.ms))
   or listens <> list_sum(list_transform(weekday, lambda w: w.listens))
   or track_ms <> list_sum(list_transform(weekday, lambda w: w.ms))
   or coalesce(list_sum(list_transform(top_tracks, lambda e: e.plays)), 0) > listens
   or coalesce(list_sum(list_transform(top_artists, lambda e: e.plays)), 0) > listens
   or coalesce(list_sum(list_transform(top_albums, lambda e: e.plays)), 0) > listens
   or len(list_filter(top_tracks, lambda e: e.plays > 0)) > unique_tracks
   or len(list_filter(top_artists, lambda e: e.plays > 0)) > unique_artists
   or len(list_filter(top_albums, lambda e: e.plays > 0)) > unique_albums
   or unique_tracks > listens or unique_artists > listens or unique_albums > listens
