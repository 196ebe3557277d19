-- int_plays_merged: the stored plays of the partitions an import touches, merged with the import's
-- staged rows, each with a `status`: 'kept' (stored before, stays), 'added' (new), 'superseded'
-- (stored before, replaced by a better row of the same stream, removed) or 'duplicate' (incoming,
-- the stream is stored already, not added).
--
-- The matching rule (README, "One stream, stored once"):
--   1. Rows of one import identical in every field are one stream logged twice: kept once.
--   2. A stream's identity within one kind of export is (source, ended_at, ms_played, occurrence),
--      where occurrence numbers the streams sharing (source, ended_at, ms_played), ordered by
--      content. `ended_at` has second precision in Extended exports, minute precision in Account
--      data. A re-import, or a newer export that contains an older one, carries the same identities,
--      so its rows are recognised even when names changed in between, and two distinct streams
--      that share ts and track but differ in ms_played stay two.
--   3. An Account-data row and an Extended row are the same stream when ms_played is equal and the
--      Extended end lies within [endTime - 60 s, endTime + 120 s) (Account times are cut to the
--      minute and, in real exports, up to ~80 s earlier than the Extended ts); for streams under 1 s
--      the names must also agree. Each row pairs with at most one: the pair closest in time that is
--      the best for both sides. The Extended row wins: a stored Account row is superseded, an
--      incoming Account row is a duplicate.
-- Inputs: views `incoming_plays` and `existing_plays`, both in the stored play shape.

with incoming as (

    select * from incoming_plays

),

existing as (

    select * from existing_plays

),

incoming_distinct as (

    -- one hash of every field: much cheaper to partition by than the 25 fields themselves
    select *
    from incoming
    qualify row_number() over (
        partition by hash(
            source, ended_at, ms_played, kind, track_uri, track_name, artist_name, album_name,
            episode_uri, episode_name, show_name, audiobook_uri, audiobook_title,
            audiobook_chapter_uri, audiobook_chapter_title, platform, conn_country,
            reason_start, reason_end, shuffle, skipped, offline, offline_at, incognito
        )
        order by source_file, source_row
    ) = 1

),

incoming_numbered as (

    select * replace (
        cast(row_number() over (
            partition by source, ended_at, ms_played
            order by
                coalesce(track_uri, episode_uri, audiobook_chapter_uri, ''),
                coalesce(track_name, episode_name, audiobook_chapter_title, ''),
                source_file,
                source_row
        ) as integer) as occurrence
    )
    from incoming_distinct

),

incoming_new as (

    select i.*
    from incoming_numbered as i
    anti join existing as e
        on  e.source = i.source
        and e.ended_at = i.ended_at
        and e.ms_played = i.ms_played
        and e.occurrence = i.occurrence

),

candidates as (

    select *, 'kept' as status from existing
    union all by name
    select *, 'added' as status from incoming_new

),

account_rows as (

    select *, hash(ended_at, ms_played, occurrence) as row_key
    from candidates
    where source = 'account_export'

),

extended_rows as (

    select ended_at, ms_played, occurrence, track_name, episode_name, audiobook_chapter_title
    from candidates
    where source = 'extended_export'

),

pairs as (

    select
        a.row_key as account_key,
        hash(x.ended_at, x.ms_played, x.occurrence) as extended_key,
        abs(epoch(x.ended_at) - epoch(a.ended_at) - 30) as distance
    from account_rows as a
    join extended_rows as x
        on  a.ms_played = x.ms_played
        and x.ended_at >= a.ended_at - interval 60 second
        and x.ended_at <  a.ended_at + interval 120 second
        and (
            a.ms_played >= 1000
            or lower(coalesce(a.track_name, a.episode_name, a.audiobook_chapter_title, ''))
             = lower(coalesce(x.track_name, x.episode_name, x.audiobook_chapter_title, ''))
        )

),

best_pairs as (

    select *
    from pairs
    qualify
        row_number() over (partition by account_key order by distance, extended_key) = 1
        and row_number() over (partition by extended_key order by distance, account_key) = 1

),

account_checked as (

    select
        a.* exclude (row_key, status),
        case
            when b.account_key is null then a.status
            when a.status = 'kept' then 'superseded'
            else 'duplicate'
        end as status
    from account_rows as a
    left join best_pairs as b
        on b.account_key = a.row_key

),

final as (

    select * from candidates where source <> 'account_export'
    union all by name
    select * from account_checked

)

select * from final
