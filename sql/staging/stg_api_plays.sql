-- stg_api_plays: one batch of Web API plays (items of GET /v1/me/player/recently-played, or plays the
-- realtime mode saw in currently-playing, already mapped to ApiPlay by warehouse/api-plays.ts and
-- activities/realtime.ts), renamed and cast. Rename and cast only.
-- Input: the table `raw_api_plays` (one JSON object per play, key `play`, plus `source_row`).
-- `played_at` is ISO 8601 in UTC, with milliseconds or (for a few plays) without.

with source as (

    select * from raw_api_plays

),

renamed as (

    select
        source_row,
        play ->> 'playedAt'                                             as played_at_raw,
        try_cast(play ->> 'playedAt' as timestamptz)                    as played_at,
        play ->> 'durationMs'                                           as duration_ms_raw,
        try_cast(try_cast(play ->> 'durationMs' as double) as bigint)   as duration_ms,
        play ->> 'msPlayed'                                             as ms_played_raw,
        try_cast(try_cast(play ->> 'msPlayed' as double) as bigint)     as ms_played,
        try_cast(play ->> 'isLocal' as boolean)                         as is_local,
        nullif(play ->> 'origin', '')                                   as origin,
        nullif(trim(play ->> 'trackUri'), '')                           as track_uri,
        nullif(play ->> 'trackName', '')                                as track_name,
        nullif(play ->> 'artistName', '')                               as artist_name,
        try_cast(play -> 'artistUris' as varchar[])                     as artist_uris,
        nullif(play ->> 'albumName', '')                                as album_name,
        nullif(trim(play ->> 'albumUri'), '')                           as album_uri,
        nullif(trim(play ->> 'contextUri'), '')                         as context_uri,
        nullif(play ->> 'contextType', '')                              as context_type

    from source

),

final as (

    select * from renamed

)

select * from final
