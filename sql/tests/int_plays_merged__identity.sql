-- The stored exported rows keep one row per stream identity (source, ended_at, ms_played, occurrence).
select source, ended_at, ms_played, occurrence, count(*) as n
from int_plays_merged
where status in ('kept', 'added', 'enriched')
  and source <> 'api'
group by all
having count(*) > 1
