-- stg_extended_streams: one Extended Streaming History file (current `Streaming_History_*` or old
-- `endsong_*` layout), renamed and cast. Rename and cast only: no rules here.
-- Input: the view `raw_extended_streams` (every key read as VARCHAR, plus `source_row`), made by
-- warehouse/plays.ts over the extracted file with read_json. Keys missing in an era are NULL.

with source as (

    select * from raw_extended_streams

),

renamed as (

    select
        source_row,
        ts                                                      as ts_raw,
        try_cast(ts as timestamptz)                             as ended_at,
        ms_played                                               as ms_played_raw,
        try_cast(try_cast(ms_played as double) as bigint)       as ms_played,
        nullif(trim(spotify_track_uri), '')                     as track_uri,
        nullif(master_metadata_track_name, '')                  as track_name,
        nullif(master_metadata_album_artist_name, '')           as artist_name,
        nullif(master_metadata_album_album_name, '')            as album_name,
        nullif(trim(spotify_episode_uri), '')                   as episode_uri,
        nullif(episode_name, '')                                as episode_name,
        nullif(episode_show_name, '')                           as show_name,
        nullif(trim(audiobook_uri), '')                         as audiobook_uri,
        nullif(audiobook_title, '')                             as audiobook_title,
        nullif(trim(audiobook_chapter_uri), '')                 as audiobook_chapter_uri,
        nullif(audiobook_chapter_title, '')                     as audiobook_chapter_title,
        nullif(platform, '')                                    as platform,
        nullif(conn_country, '')                                as conn_country,
        nullif(reason_start, '')                                as reason_start,
        nullif(reason_end, '')                                  as reason_end,
        try_cast(shuffle as boolean)                            as shuffle,
        try_cast(skipped as boolean)                            as skipped,
        try_cast(offline as boolean)                            as offline,
        try_cast(offline_timestamp as double)                   as offline_timestamp,
        try_cast(incognito_mode as boolean)                     as incognito

    from source

),

final as (

    select * from renamed

)

select * from final
