-- int_incoming_occurrences: the rows an import or sync brings (`incoming_plays`) that are streams,
-- each with its occurrence: rules 1 and 2 of the matching rule (int_plays_merged.sql, README "One
-- stream, stored once"), which need only the incoming rows.
--   1. Rows identical in every field are one stream logged twice: the first in the export (by
--      source_file, source_row) is kept, the others are not rows of this model.
--   2. The occurrence numbers the streams sharing (source, ended_at, ms_played), ordered by item URI,
--      item name, source_file and source_row: 1 for a stream alone with its identity.
--
-- Input:  incoming_plays (the stored play shape, and `row_id`: a BIGINT that names the row, unique)
-- Output: row_id, occurrence (INTEGER): one row per incoming row that is a stream.
--
-- mergeStaged materialises it (a temporary table of this name) before int_plays_merged reads it; an
-- import of a history into empty partitions writes straight from it and the staged files.

with incoming_keys as materialized (

    -- rules 1 and 2 need only these columns
    select
        row_id,
        source,
        ended_at,
        ms_played,
        -- one hash of every field: much cheaper to group by than the 25 fields themselves
        hash(
            source, ended_at, ms_played, kind, track_uri, track_name, artist_name, album_name,
            episode_uri, episode_name, show_name, audiobook_uri, audiobook_title,
            audiobook_chapter_uri, audiobook_chapter_title, platform, conn_country,
            reason_start, reason_end, shuffle, skipped, offline, offline_at, incognito,
            context_uri
        ) as content_hash
    from incoming_plays

),

-- Rules 1 and 2 concern only rows that share their content, or their identity, with another:
-- few. They are found by grouping (cheap), and only they are put in order (a window over every
-- row would sort them all).

repeated_content as (

    select content_hash
    from incoming_keys
    group by content_hash
    having count(*) > 1

),

content_repeats as (

    -- rule 1: of rows identical in every field, the first in the export is kept; these are the others
    select k.row_id
    from incoming_keys as k
    semi join repeated_content as r
        on r.content_hash = k.content_hash
    join incoming_plays as i
        on i.row_id = k.row_id
    qualify row_number() over (partition by k.content_hash order by i.source_file, i.source_row) > 1

),

incoming_distinct as materialized (

    select row_id, source, ended_at, ms_played
    from incoming_keys
    anti join content_repeats as c
        on c.row_id = incoming_keys.row_id

),

repeated_identity as (

    select source, ended_at, ms_played
    from incoming_distinct
    group by all
    having count(*) > 1

),

shared_occurrences as (

    -- rule 2: the occurrence of each stream among those sharing (source, ended_at, ms_played);
    -- a stream alone with its identity (nearly every one) is occurrence 1
    select
        d.row_id,
        cast(row_number() over (
            partition by d.source, d.ended_at, d.ms_played
            order by
                coalesce(i.track_uri, i.episode_uri, i.audiobook_chapter_uri, ''),
                coalesce(i.track_name, i.episode_name, i.audiobook_chapter_title, ''),
                i.source_file,
                i.source_row
        ) as integer) as occurrence
    from incoming_distinct as d
    semi join repeated_identity as r
        on  r.source is not distinct from d.source
        and r.ended_at is not distinct from d.ended_at
        and r.ms_played is not distinct from d.ms_played
    join incoming_plays as i
        on i.row_id = d.row_id

),

final as (

    select
        d.row_id,
        coalesce(o.occurrence, 1) as occurrence
    from incoming_distinct as d
    left join shared_occurrences as o
        on o.row_id = d.row_id

)

select * from final
