-- List entries: no duplicates, something to count, sorted by plays desc then ms desc.
select user_id, local_date
from daily_rollups
where artists is null or tracks is null or albums is null or shows is null
   or len(list_distinct(list_transform(artists, lambda e: e.artist_key))) <> len(artists)
   or len(list_distinct(list_transform(tracks, lambda e: e.track_key))) <> len(tracks)
   or len(list_distinct(list_transform(albums, lambda e: e.album_key))) <> len(albums)
   or len(list_distinct(list_transform(shows, lambda e: e.show_name))) <> len(shows)
   or len(list_filter(artists, lambda e: e.plays <= 0 and e.ms <= 0)) > 0
   or len(list_filter(tracks, lambda e: e.plays <= 0 and e.ms <= 0)) > 0
   or len(list_filter(albums, lambda e: e.plays <= 0 and e.ms <= 0)) > 0
   or len(list_filter(shows, lambda e: e.streams <= 0)) > 0
   or list_transform(artists, lambda e: [-e.plays, -e.ms])
      <> list_sort(list_transform(artists, lambda e: [-e.plays, -e.ms]))
   or list_transform(tracks, lambda e: [-e.plays, -e.ms])
      <> list_sort(list_transform(tracks, lambda e: [-e.plays, -e.ms]))
   or list_transform(albums, lambda e: [-e.plays, -e.ms])
      <> list_sort(list_transform(albums, lambda e: [-e.plays, -e.ms]))
   or list_transform(shows, lambda e: [-e.streams, -e.ms])
      <> list_sort(list_transform(shows, lambda e: [-e.streams, -e.ms]))
