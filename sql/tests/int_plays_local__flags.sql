-- is_listen / is_skip: exclusive, set exactly for tracks, and agreeing with the 30 s rule.
select *
from int_plays_local
where (is_listen and is_skip)
   or (kind = 'track' and not (is_listen or is_skip))
   or (kind is distinct from 'track' and (is_listen or is_skip))
   or (is_listen and ms_played < 30000)
   or (is_skip and ms_played >= 30000)
