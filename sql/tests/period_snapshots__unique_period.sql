-- One row per user, period type and key.
select user_id, period_type, period_key, count(*) as n
from period_snapshots
group by all
having count(*) > 1
