-- int_account_streams: staged Account-data rows in the shape of a stored play, with the reason a
-- row is rejected (NULL when it is kept).
-- Rules:
--   * kind comes from the file: music -> 'track', podcast -> 'episode', audiobook -> 'audiobook'.
--     Legacy `StreamingHistory<N>.json` files mix music and podcasts without telling them apart;
--     their rows are counted as 'track' (an Extended export of the same period replaces them).
--   * endTime is UTC cut to the minute: ended_at = endTime, time_precision = 'minute'.
-- Variables: rewind_import_id, rewind_source_file, rewind_account_format
--   ('account_music' | 'account_podcast' | 'account_audiobook' | 'account_legacy').

with streams as (

    select * from stg_account_streams

),

classified as (

    select
        *,
        timezone('UTC', ended_at_utc) as ended_at,
        case getvariable('rewind_account_format')
            when 'account_podcast' then 'episode'
            when 'account_audiobook' then 'audiobook'
            else 'track'
        end as kind

    from streams

),

checked as (

    select
        *,
        case
            when ended_at is null then 'endTime is missing or not a "YYYY-MM-DD HH:MM" time'
            when ms_played is null then 'msPlayed is missing or not a number'
            when ms_played < 0 then 'msPlayed is negative'
            when ended_at < timestamptz '2006-01-01 00:00:00+00' then 'endTime is before Spotify existed'
            when ended_at > now() + interval 1 day then 'endTime is in the future'
            when ms_played > 7 * 86400000 then 'msPlayed is longer than a week'
        end as reject_reason

    from classified

),

final as (

    select
        ended_at,
        -- as in int_extended_streams: epoch arithmetic, ms_played bounded for rejected rows
        make_timestamptz(
            epoch_us(ended_at) - 1000 * least(greatest(coalesce(ms_played, 0), 0), 7 * 86400000)
        )                                                           as started_at,
        ms_played,
        kind,
        cast(null as varchar)                                       as track_uri,
        case when kind = 'track' then track_name end                as track_name,
        case when kind = 'audiobook' then author_name else artist_name end as artist_name,
        cast(null as varchar)                                       as album_name,
        cast(null as varchar)                                       as episode_uri,
        episode_name,
        show_name,
        cast(null as varchar)                                       as audiobook_uri,
        audiobook_title,
        cast(null as varchar)                                       as audiobook_chapter_uri,
        audiobook_chapter_title,
        cast(null as varchar)                                       as platform,
        cast(null as varchar)                                       as conn_country,
        cast(null as varchar)                                       as reason_start,
        cast(null as varchar)                                       as reason_end,
        cast(null as boolean)                                       as shuffle,
        cast(null as boolean)                                       as skipped,
        cast(null as boolean)                                       as offline,
        cast(null as timestamptz)                                   as offline_at,
        cast(null as boolean)                                       as incognito,
        'account_export'                                            as source,
        'minute'                                                    as time_precision,
        cast(null as integer)                                       as occurrence,
        getvariable('rewind_import_id')                             as import_id,
        getvariable('rewind_source_file')                           as source_file,
        source_row,
        cast(null as varchar)                                       as album_uri,
        cast(null as varchar[])                                     as artist_uris,
        cast(null as varchar)                                       as context_uri,
        cast(null as varchar)                                       as context_type,
        cast(null as timestamptz)                                   as api_played_at,
        reject_reason

    from checked

)

select * from final
