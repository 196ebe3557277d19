-- Each incoming row appears at most once, and the occurrences of the streams sharing an identity
-- (source, ended_at, ms_played) are 1, 2, ... n without gaps or repeats.
with streams as (
    select o.row_id, o.occurrence, i.source, i.ended_at, i.ms_played
    from int_incoming_occurrences as o
    join incoming_plays as i
        on i.row_id = o.row_id
),

rows_twice as (
    select row_id, 'row listed twice' as problem
    from int_incoming_occurrences
    group by row_id
    having count(*) > 1
),

numbering as (
    select min(row_id) as row_id, 'occurrences are not 1..n' as problem
    from streams
    group by source, ended_at, ms_played
    having min(occurrence) <> 1 or max(occurrence) <> count(*) or count(distinct occurrence) <> count(*)
),

final as (
    select * from rows_twice
    union all
    select * from numbering
)

select * from final
