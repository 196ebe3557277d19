-- stg_account_streams: one Account-data streaming history file, renamed and cast. Rename and cast
-- only. Input: the view `raw_account_streams` (keys of every Account-data layout read as VARCHAR,
-- plus `source_row`): music and legacy files have artistName/trackName, podcast files
-- podcastName/episodeName, audiobook files audiobookName/chapterName/authorName.
-- `endTime` is UTC cut to the minute ('YYYY-MM-DD HH:MM').

with source as (

    select * from raw_account_streams

),

renamed as (

    select
        source_row,
        "endTime"                                                       as ts_raw,
        try_cast(try_strptime("endTime", '%Y-%m-%d %H:%M') as timestamp) as ended_at_utc,
        "msPlayed"                                                      as ms_played_raw,
        try_cast(try_cast("msPlayed" as double) as bigint)              as ms_played,
        nullif("artistName", '')                                        as artist_name,
        nullif("trackName", '')                                         as track_name,
        nullif("podcastName", '')                                       as show_name,
        nullif("episodeName", '')                                       as episode_name,
        nullif("audiobookName", '')                                     as audiobook_title,
        nullif("chapterName", '')                                       as audiobook_chapter_title,
        nullif("authorName", '')                                        as author_name

    from source

),

final as (

    select * from renamed

)

select * from final
