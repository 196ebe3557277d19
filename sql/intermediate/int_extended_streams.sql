-- int_extended_streams: staged Extended Streaming History rows in the shape of a stored play, with
-- the reason a row is rejected (NULL when it is kept).
-- Rules:
--   * kind: audiobook keys set -> 'audiobook'; track URI or name -> 'track'; episode URI, name or
--     show -> 'episode'; nothing -> 'unknown' (unavailable content; kept, it is still a stream).
--     The file name (Audio/Video) does not decide: video files hold music tracks too.
--   * `ts` is when the stream stopped: ended_at = ts, started_at = ts - ms_played (for a kept row;
--     a rejected row's ms_played may be absurd, and its started_at is not used).
--   * offline_timestamp was milliseconds in old exports and is seconds (sometimes fractional) in
--     new ones; 0, 1, NULL and values outside 2006 .. ended_at + 1 day carry no information.
-- Variables: rewind_import_id, rewind_source_file.

with streams as (

    select * from stg_extended_streams

),

classified as (

    select
        *,
        case
            when audiobook_title is not null or audiobook_uri is not null
                or audiobook_chapter_uri is not null or audiobook_chapter_title is not null then 'audiobook'
            when track_uri is not null or track_name is not null then 'track'
            when episode_uri is not null or episode_name is not null or show_name is not null then 'episode'
            else 'unknown'
        end as kind,
        case
            when offline_timestamp is null or offline_timestamp <= 1 then null
            when offline_timestamp >= 1e11 then make_timestamptz(cast(offline_timestamp * 1000 as bigint))
            else make_timestamptz(cast(offline_timestamp * 1000000 as bigint))
        end as offline_at_raw

    from streams

),

checked as (

    select
        *,
        case
            when ended_at is null then 'ts is missing or not a timestamp'
            when ms_played is null then 'ms_played is missing or not a number'
            when ms_played < 0 then 'ms_played is negative'
            when ended_at < timestamptz '2006-01-01 00:00:00+00' then 'ts is before Spotify existed'
            when ended_at > now() + interval 1 day then 'ts is in the future'
            when ms_played > 7 * 86400000 then 'ms_played is longer than a week'
        end as reject_reason

    from classified

),

final as (

    select
        ended_at,
        -- epoch arithmetic, not ended_at - interval (the calendar math of ICU, far slower per
        -- row); ms_played bounded so that a rejected absurd value cannot overflow (and fail the file)
        make_timestamptz(
            epoch_us(ended_at) - 1000 * least(greatest(coalesce(ms_played, 0), 0), 7 * 86400000)
        )                                                           as started_at,
        ms_played,
        kind,
        track_uri,
        track_name,
        artist_name,
        album_name,
        episode_uri,
        episode_name,
        show_name,
        audiobook_uri,
        audiobook_title,
        audiobook_chapter_uri,
        audiobook_chapter_title,
        platform,
        conn_country,
        reason_start,
        reason_end,
        shuffle,
        skipped,
        offline,
        case
            when offline_at_raw between timestamptz '2006-01-01 00:00:00+00' and make_timestamptz(epoch_us(ended_at) + 86400000000)
                then offline_at_raw
        end                                                         as offline_at,
        incognito,
        'extended_export'                                           as source,
        'second'                                                    as time_precision,
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
