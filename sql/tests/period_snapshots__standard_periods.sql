-- Every user has the rolling periods and all_time, with the right bounds.
with users as (
    select distinct user_id from period_snapshots
),

expected as (
    select users.user_id, t.period_type, t.days
    from users
    cross join (
        values ('week', 7), ('month', 30), ('quarter', 90), ('year', 365), ('all_time', null)
    ) as t (period_type, days)
)

select expected.user_id, expected.period_type
from expected
left join period_snapshots
    on period_snapshots.user_id = expected.user_id
    and period_snapshots.period_type = expected.period_type
where period_snapshots.user_id is null
   or (expected.days is not null
       and period_snapshots.period_end - period_snapshots.period_start + 1 <> expected.days)
