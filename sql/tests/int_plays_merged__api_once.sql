-- An API play is stored once: no two stored API rows of the same track with the same played_at
-- (to the second when one has no milliseconds), and no stored API row whose play a stored exported
-- row holds in api_played_at.
with stored as (
    select * from int_plays_merged where status in ('kept', 'added', 'enriched')
),

api as (
    select * from stored where source = 'api'
),

same_play as (
    select
        a.track_uri, a.api_played_at, b.source, b.import_id, b.source_file, b.source_row,
        a.import_id as a_import_id, a.source_file as a_source_file, a.source_row as a_source_row
    from api as a
    join stored as b
        on  b.track_uri = a.track_uri
        and b.api_played_at is not null
        and date_trunc('second', b.api_played_at) = date_trunc('second', a.api_played_at)
    where b.api_played_at = a.api_played_at
       or millisecond(b.api_played_at) % 1000 = 0
       or millisecond(a.api_played_at) % 1000 = 0
),

final as (
    select track_uri, api_played_at, source
    from same_play
    -- every API row finds itself
    where not (source = 'api' and import_id = a_import_id and source_file = a_source_file and source_row = a_source_row)
)

select * from final
