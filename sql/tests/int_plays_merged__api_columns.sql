-- API rows: a track, played_at kept as api_played_at = ended_at, the duration as the ms_played
-- estimate (time_precision 'api'). An exported row holding an API play is a track, and each API
-- play is held by one exported row at most.
with stored as (
    select * from int_plays_merged where status in ('kept', 'added', 'enriched')
),

bad_api as (
    select track_uri, api_played_at, 'api row shape' as problem
    from stored
    where source = 'api'
      and (
          kind <> 'track' or track_uri is null or api_played_at is null or api_played_at <> ended_at
          or time_precision <> 'api' or started_at <> ended_at - to_milliseconds(ms_played)
      )
),

bad_holder as (
    select track_uri, api_played_at, 'holder is not a track' as problem
    from stored
    where source <> 'api' and api_played_at is not null and kind <> 'track'
),

held_twice as (
    select track_uri, api_played_at, 'api play held twice' as problem
    from stored
    where source <> 'api' and api_played_at is not null
    group by all
    having count(*) > 1
),

final as (
    select * from bad_api
    union all
    select * from bad_holder
    union all
    select * from held_twice
)

select * from final
