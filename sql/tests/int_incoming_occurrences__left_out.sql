-- A row left out (rule 1) has a twin that is kept: a row of the same source, times, item and
-- context, earlier in the export.
with kept as (
    select i.*
    from incoming_plays as i
    semi join int_incoming_occurrences as o
        on o.row_id = i.row_id
),

left_out as (
    select i.*
    from incoming_plays as i
    anti join int_incoming_occurrences as o
        on o.row_id = i.row_id
),

final as (
    select l.row_id, l.source_file, l.source_row, 'left out without a kept twin' as problem
    from left_out as l
    where not exists (
        select 1 from kept as k
        where k.source = l.source
          and k.ended_at is not distinct from l.ended_at
          and k.ms_played is not distinct from l.ms_played
          and k.track_uri is not distinct from l.track_uri
          and k.track_name is not distinct from l.track_name
          and k.episode_uri is not distinct from l.episode_uri
          and k.platform is not distinct from l.platform
          and k.reason_end is not distinct from l.reason_end
          and (k.source_file, k.source_row) < (l.source_file, l.source_row)
    )
)

select * from final
