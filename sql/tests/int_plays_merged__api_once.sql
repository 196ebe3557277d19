-- An API play is stored once: no two stored API rows of the same track and played_at, and no
-- stored API row whose play (track, played_at) a stored exported row holds in api_played_at.
with stored as (
    select * from int_plays_merged where status in ('kept', 'added', 'enriched')
),

final as (
    select track_uri, api_played_at, count(*) as n, list(source) as sources
    from stored
    where api_played_at is not null
    group by track_uri, api_played_at
    having count(*) > 1
)

select * from final
