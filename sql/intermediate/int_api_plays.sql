-- int_api_plays: staged Web API plays in the shape of a stored play, with the reason a row is
-- rejected (NULL when it is kept).
-- Rules:
--   * recently-played lists only tracks (no episodes), each after about 30 s of listening: kind is
--     'track'.
--   * `played_at` is usually the end of the play (sometimes its start: the matching rule in
--     int_plays_merged handles both): ended_at = played_at, and api_played_at keeps it as returned.
--   * The API does not say how long the track was played. ms_played holds an estimate, the track's
--     duration (a play the API lists was heard for at least ~30 s, most of them to the end), and
--     started_at = played_at - duration. time_precision = 'api' marks both as estimates. When the
--     exported stream of the same play arrives, that row, with its true ms_played, replaces this one.
--   * Plays the realtime mode saw in currently-playing (skips under 30 s, local files; origin
--     'currently_playing', source_file 'currently-playing') carry their own ms_played estimate
--     (msPlayed): it is used instead of the duration, and played_at is their estimated end.
-- Variables: rewind_import_id, rewind_source_file.

with plays as (

    select * from stg_api_plays

),

checked as (

    select
        *,
        case
            when played_at is null then 'playedAt is missing or not an ISO 8601 time'
            when track_uri is null then 'trackUri is missing'
            when duration_ms is null then 'durationMs is missing or not a number'
            when duration_ms < 0 then 'durationMs is negative'
            when duration_ms > 7 * 86400000 then 'durationMs is longer than a week'
            when ms_played_raw is not null and ms_played is null then 'msPlayed is not a number'
            when ms_played < 0 then 'msPlayed is negative'
            when ms_played > 7 * 86400000 then 'msPlayed is longer than a week'
            when played_at < timestamptz '2006-01-01 00:00:00+00' then 'playedAt is before Spotify existed'
            when played_at > now() + interval 1 day then 'playedAt is in the future'
        end as reject_reason

    from plays

),

final as (

    select
        played_at                                                   as ended_at,
        played_at - to_milliseconds(coalesce(ms_played, duration_ms, 0)) as started_at,
        coalesce(ms_played, duration_ms)                            as ms_played,
        'track'                                                     as kind,
        track_uri,
        track_name,
        artist_name,
        album_name,
        cast(null as varchar)                                       as episode_uri,
        cast(null as varchar)                                       as episode_name,
        cast(null as varchar)                                       as show_name,
        cast(null as varchar)                                       as audiobook_uri,
        cast(null as varchar)                                       as audiobook_title,
        cast(null as varchar)                                       as audiobook_chapter_uri,
        cast(null as varchar)                                       as audiobook_chapter_title,
        cast(null as varchar)                                       as platform,
        cast(null as varchar)                                       as conn_country,
        cast(null as varchar)                                       as reason_start,
        cast(null as varchar)                                       as reason_end,
        cast(null as boolean)                                       as shuffle,
        cast(null as boolean)                                       as skipped,
        cast(null as boolean)                                       as offline,
        cast(null as timestamptz)                                   as offline_at,
        cast(null as boolean)                                       as incognito,
        'api'                                                       as source,
        'api'                                                       as time_precision,
        cast(null as integer)                                       as occurrence,
        getvariable('rewind_import_id')                             as import_id,
        getvariable('rewind_source_file')                           as source_file,
        source_row,
        album_uri,
        artist_uris,
        context_uri,
        context_type,
        played_at                                                   as api_played_at,
        reject_reason

    from checked

)

select * from final
