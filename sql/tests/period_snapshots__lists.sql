-- hourly has 24 entries (0..23), weekday 7 (1..7); top lists rank 1..n (n <= 50), sorted.
select user_id, period_type, period_key
from period_snapshots
where list_transform(hourly, lambda h: h.hour) <> cast(range(24) as integer[])
   or list_transform(weekday, lambda w: w.iso_weekday) <> cast(range(1, 8) as integer[])
   or len(top_artists) > 50 or len(top_tracks) > 50 or len(top_albums) > 50
   or list_transform(top_artists, lambda e: e.rank) <> cast(range(1, len(top_artists) + 1) as integer[])
   or list_transform(top_tracks, lambda e: e.rank) <> cast(range(1, len(top_tracks) + 1) as integer[])
   or list_transform(top_albums, lambda e: e.rank) <> cast(range(1, len(top_albums) + 1) as integer[])
   or list_transform(top_artists, lambda e: [-e.plays, -e.ms])
      <> list_sort(list_transform(top_artists, lambda e: [-e.plays, -e.ms]))
   or list_transform(top_tracks, lambda e: [-e.plays, -e.ms])
      <> list_sort(list_transform(top_tracks, lambda e: [-e.plays, -e.ms]))
   or list_transform(top_albums, lambda e: [-e.plays, -e.ms])
      <> list_sort(list_transform(top_albums, lambda e: [-e.plays, -e.ms]))
   or len(list_filter(top_tracks, lambda e: e.plays <= 0 and e.ms <= 0)) > 0
