-- One row per user and local date.
select user_id, local_date, count(*) as n
from daily_rollups
group by all
having count(*) > 1
