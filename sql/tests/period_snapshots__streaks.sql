-- The longest streak lies inside the period and is as long as its dates say.
select user_id, period_type, period_key
from period_snapshots
where longest_streak_days < 0
   or longest_streak_days > active_days
   or (longest_streak_days = 0) <> (longest_streak_start is null)
   or (longest_streak_start is null) <> (longest_streak_end is null)
   or longest_streak_end - longest_streak_start + 1 <> longest_streak_days
   or longest_streak_start < period_start
   or longest_streak_end > period_end
