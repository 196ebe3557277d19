-- hourly has 24 entries, hours 0..23 in order.
select user_id, local_date, hourly
from daily_rollups
where hourly is null
   or list_transform(hourly, lambda h: h.hour) <> cast(range(24) as integer[])
