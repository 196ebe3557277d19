-- int_plays_merged: the stored plays of the partitions an import or sync touches, merged with its
-- staged rows, each with a `status`: 'kept' (stored before, stays), 'added' (new), 'enriched'
-- (stored before, stays, gained the IDs and context of an API play), 'superseded' (stored before,
-- replaced by a better row of the same stream, removed) or 'duplicate' (incoming, the stream is
-- stored already, not added).
--
-- The matching rule (README, "One stream, stored once"):
--   1. Rows of one import identical in every field are one stream logged twice: kept once.
--   2. A stream's identity within one kind of export is (source, ended_at, ms_played, occurrence),
--      where occurrence numbers the streams sharing (source, ended_at, ms_played), ordered by
--      content. `ended_at` has second precision in Extended exports, minute precision in Account
--      data. A re-import, or a newer export that contains an older one, carries the same identities,
--      so its rows are recognised even when names changed in between, and two distinct streams
--      that share ts and track but differ in ms_played stay two. (API rows: see 4.)
--   3. An Account-data row and an Extended row are the same stream when ms_played is equal and the
--      Extended end lies within [endTime - 60 s, endTime + 120 s) (Account times are cut to the
--      minute and, in real exports, up to ~80 s earlier than the Extended ts); for streams under 1 s
--      the names must also agree. Each row pairs with at most one: the pair closest in time that is
--      the best for both sides. The Extended row wins: a stored Account row is superseded, an
--      incoming Account row is a duplicate. API columns an Account row had gained (5.) move to the
--      Extended row.
--   4. API plays (source 'api', recently-played) against each other: two API rows of the same track
--      URI are one play when their played_at are equal (consecutive polls return the same play with
--      the same played_at; a played_at printed without milliseconds is a time with .000 ms, as the
--      same instant with them). The stored one wins; else the first. An incoming API row whose
--      track and played_at an exported row already holds in api_played_at is a duplicate (a
--      re-sync after the export was matched).
--      Two different tracks sharing one played_at are two plays, and so is the same track listed
--      twice in one response a moment apart: played_at is the end of one play and the start of the
--      next when a track is played twice in a row (both are paired with their streams by 5.).
--   5. API plays against exported streams. played_at is usually the end of the play, sometimes its
--      start, and drifts by seconds. An API row and an exported track stream are candidates when
--        * they are the same track: equal track URI, or equal artist and track names (case and
--          surrounding spaces ignored: Account data and old endsong files have no URI, and the API
--          may return a relinked URI), and
--        * played_at lies within 60 s of an anchor of the stream: its end (ts, cut to the second:
--          [ts, ts + 1 s)), its start ([ts - ms_played, + 1 s)), or, for offline plays,
--          offline_timestamp (and it + ms_played). For an Account row the end is only known to
--          lie in [endTime - 60 s, endTime + 120 s): its anchors are endTime + 30 s and
--          endTime + 30 s - ms_played, within 150 s. Or
--        * (a pause inside the stream) played_at lies between the end of the previous exported
--          stream (less 60 s) and the stream's start, at most 30 min before that start (listed at
--          its wall-clock start); or, for an offline stream, between offline_timestamp +
--          ms_played and the next offline stream's offline_timestamp (plus 60 s), at most 30 min
--          after the former (listed at its wall-clock end: its ts is the time of the sync).
--      Only candidates with one side new in this merge are considered (stored pairs were settled
--      when they met), and only exported rows not matched before (api_played_at IS NULL).
--      Pairs are one-to-one, chosen in rounds and phases. Phases, in order: a stream of 30 s or
--      more for an API play of 30 s or more (recently-played lists only those), or a shorter one
--      for a skip the realtime mode recorded (its ms_played is its own), with an anchor within
--      10 s (Account: 100 s), within the window, after a pause; then the same across the two. A round looks only at the
--      candidates of the first phase that has any left. Every API row picks its closest stream by
--      whole seconds, then the earliest, then the closest; every stream picks an API row that has
--      no other candidate first (when a track is played twice in a row, one played_at can be the
--      end of the first stream and the start of the second: the API row listed only at the second
--      is that one's), then the closest by whole seconds, then the earliest, then the closest.
--      Time order makes pairs that do not cross: the earlier API row goes with the earlier stream,
--      and an offline batch, whose streams share one ts, pairs in the order it was played. Pairs
--      that are each other's pick are made and their rows leave; rounds repeat until no candidate
--      is left. Last, an API row left without a stream whose candidate went to another API row
--      takes it, and that one moves to another candidate of its own, and so on until one moves to a
--      free stream (the path whose pairs cost least, up to 8 moves): a run of plays of one track whose
--      played_at all lean towards the next stream's start ends with one row more and one less.
--      Two pairs that cross in time (the earlier API row with the later stream) are then swapped
--      when each API row is a candidate for the other's stream.
--      The exported row wins: it keeps its identity, times and true ms_played, and gains the API
--      row's track URI (when it had none), album name and URI (when it had none), artist URIs,
--      context and api_played_at. A stored API row is superseded by it; an incoming API row is a
--      duplicate; a stored exported row that gains them is 'enriched'.
-- Inputs: `incoming_plays` (the stored play shape, and `row_id`: a BIGINT that names the row, unique),
--   `int_incoming_occurrences` (rules 1 and 2 on them) and `existing_plays` (the stored play shape).
-- Variable: rewind_match_api BOOLEAN (NULL = true). mergeStaged sets it to false when neither
--   input holds an API row or a row that gained one: steps 4 and 5 (and moving API columns in 3)
--   then fold away at planning, and an export-only merge reads its rows as often as without them.
-- Variable: rewind_match_account BOOLEAN (NULL = true). False when neither input holds an Account
--   row: step 3 folds away (an import of Extended history alone does not look for pairs).

with recursive existing as (

    select * from existing_plays

),

incoming_numbered as (

    -- rules 1 and 2 (int_incoming_occurrences): the incoming streams, with their occurrences
    select i.* exclude (row_id) replace (o.occurrence as occurrence)
    from incoming_plays as i
    join int_incoming_occurrences as o
        on o.row_id = i.row_id

),

incoming_new as (

    -- rule 2; API rows are matched by rule 4 instead (nullif: an API row never finds its identity)
    select i.*
    from incoming_numbered as i
    anti join existing as e
        on  e.source = nullif(i.source, 'api')
        and e.ended_at = i.ended_at
        and e.ms_played = i.ms_played
        and e.occurrence = i.occurrence

),

candidates as (

    select *, 'kept' as status from existing
    union all by name
    select *, 'added' as status from incoming_new

),

-- Rule 3: Account data against Extended history ------------------------------------------------

account_rows as (

    select *, hash(ended_at, ms_played, occurrence) as row_key
    from candidates
    where source = 'account_export'
      and coalesce(getvariable('rewind_match_account'), true)

),

extended_rows as (

    select ended_at, ms_played, occurrence, track_name, episode_name, audiobook_chapter_title
    from candidates
    where source = 'extended_export'
      and coalesce(getvariable('rewind_match_account'), true)

),

pairs as (

    select
        a.row_key as account_key,
        hash(x.ended_at, x.ms_played, x.occurrence) as extended_key,
        x.ended_at as extended_ended_at,
        x.occurrence as extended_occurrence,
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
        a.* exclude (status),
        case
            when b.account_key is null then a.status
            when a.status = 'kept' then 'superseded'
            else 'duplicate'
        end as status
    from account_rows as a
    left join best_pairs as b
        on b.account_key = a.row_key

),

account_carried as (

    -- API columns of a paired Account row, for its Extended row
    select
        'extended_export' as source,
        b.extended_ended_at as ended_at,
        a.ms_played,
        b.extended_occurrence as occurrence,
        a.track_uri, a.album_name, a.album_uri, a.artist_uris, a.context_uri, a.context_type,
        a.api_played_at,
        1 as precedence
    from best_pairs as b
    join account_rows as a
        on a.row_key = b.account_key
    where a.api_played_at is not null
      and coalesce(getvariable('rewind_match_api'), true)

),

-- Rule 4: API rows against each other, and against API plays exported rows already hold ---------

api_rows as (

    select
        *,
        hash(status, import_id, source_file, source_row) as api_key,
        lower(trim(artist_name)) || chr(31) || lower(trim(track_name)) as name_key,
        row_number() over (
            order by status = 'added', api_played_at, import_id, source_file, source_row
        ) as api_rank
    from candidates
    where source = 'api'
      and coalesce(getvariable('rewind_match_api'), true)

),

added_api as (

    select * from api_rows where status = 'added'

),

added_api_span as (

    select min(api_played_at) as lo, max(api_played_at) as hi
    from added_api

),

api_repeats as (

    -- an added API row that an earlier (or stored) API row of the same track already is
    select a.api_key
    from added_api as a
    join api_rows as b
        on  b.track_uri = a.track_uri
        and b.api_rank < a.api_rank
        and b.api_played_at = a.api_played_at

),

absorbed as (

    -- exported rows that hold an API play already, near the incoming API rows
    select
        track_uri,
        lower(trim(artist_name)) || chr(31) || lower(trim(track_name)) as name_key,
        api_played_at
    from candidates
    where source <> 'api'
      and api_played_at between (select lo from added_api_span) and (select hi from added_api_span)
      and coalesce(getvariable('rewind_match_api'), true)

),

api_absorbed as (

    select a.api_key
    from added_api as a
    join absorbed as x
        on  x.api_played_at = a.api_played_at
        and (x.track_uri = a.track_uri or x.name_key = a.name_key)

),

api_seen as (

    select api_key from api_repeats
    union
    select api_key from api_absorbed

),

api_live as (

    select a.*
    from api_rows as a
    anti join api_seen as s
        on s.api_key = a.api_key

),

-- Rule 5: API rows against exported streams -----------------------------------------------------

added_export_span as (

    -- where new exported rows are (offline plays are placed by offline_timestamp too), with room
    -- for a long track listed at its start before a pause
    select
        min(least(ended_at, coalesce(offline_at, ended_at))) - interval 2 hour as lo,
        max(ended_at) + interval 2 hour as hi
    from candidates
    where status = 'added'
      and source in ('extended_export', 'account_export')
      and coalesce(getvariable('rewind_match_api'), true)

),

api_candidates as (

    -- live API rows that may pair in this merge: the new ones, and stored ones near new exported rows
    select *
    from api_live
    where status = 'added'
       or api_played_at between (select lo from added_export_span) and (select hi from added_export_span)

),

api_candidates_span as (

    select
        min(api_played_at) - interval 2 hour as lo,
        max(api_played_at) + interval 2 hour as hi,
        min(api_played_at) filter (where status = 'added') - interval 2 hour as added_lo,
        max(api_played_at) filter (where status = 'added') + interval 2 hour as added_hi
    from api_candidates

),

export_near_api as (

    -- exported rows of any kind around those API rows, with the end of the stream before each
    select
        *,
        lag(ended_at) over (order by ended_at, started_at) as previous_ended_at,
        lead(offline_at) over (partition by offline_at is null order by offline_at) as next_offline_at
    from candidates
    where source in ('extended_export', 'account_export')
      and coalesce(getvariable('rewind_match_api'), true)
      and (
          ended_at between (select lo from api_candidates_span) and (select hi from api_candidates_span)
          or offline_at between (select lo from api_candidates_span) and (select hi from api_candidates_span)
      )

),

api_targets as (

    -- exported track streams an API row may be: not matched before, not replaced by rule 3, and
    -- new or near a new API row
    select
        x.*,
        hash(x.source, x.ended_at, x.ms_played, x.occurrence) as x_key,
        lower(trim(x.artist_name)) || chr(31) || lower(trim(x.track_name)) as name_key
    from export_near_api as x
    where x.kind = 'track'
      and x.api_played_at is null
      and (
          x.status = 'added'
          or x.ended_at between (select added_lo from api_candidates_span) and (select added_hi from api_candidates_span)
          or x.offline_at between (select added_lo from api_candidates_span) and (select added_hi from api_candidates_span)
      )
      and not exists (
          select 1 from best_pairs as b
          where x.source = 'account_export'
            and b.account_key = hash(x.ended_at, x.ms_played, x.occurrence)
      )

),

api_same_track as (

    -- same track by URI, or by names: two equi-joins and a union rather than one join on
    -- `uri = uri or names = names`, which DuckDB can only run as a nested loop
    select
        a.api_key, a.api_played_at as p, a.ms_played as api_ms_played,
        x.x_key, x.source, x.ended_at, x.started_at, x.ms_played, x.offline_at, x.previous_ended_at,
        x.next_offline_at
    from api_candidates as a
    join api_targets as x
        on x.track_uri = a.track_uri
    where a.status = 'added' or x.status = 'added'
    union
    select
        a.api_key, a.api_played_at as p, a.ms_played as api_ms_played,
        x.x_key, x.source, x.ended_at, x.started_at, x.ms_played, x.offline_at, x.previous_ended_at,
        x.next_offline_at
    from api_candidates as a
    join api_targets as x
        on x.name_key = a.name_key
    where a.status = 'added' or x.status = 'added'

),

api_distances as (

    select
        api_key,
        x_key,
        p,
        coalesce(offline_at, started_at) as x_time,
        -- a listen (30 s or more) against a skip: recently-played lists only listens; the realtime
        -- mode's skips carry their own short ms_played
        (ms_played < 30000) <> (coalesce(api_ms_played, 30000) < 30000) as short,
        source,
        case
            when source = 'account_export' then least(
                abs(epoch(p) - epoch(ended_at) - 30),
                abs(epoch(p) - epoch(ended_at) - 30 + ms_played / 1000.0)
            )
            -- ts is cut to the second: the end lies in [ts, ts + 1 s), the start 1 s after ts - ms_played
            else least(
                greatest(epoch(ended_at) - epoch(p), epoch(p) - epoch(ended_at) - 1, 0),
                greatest(epoch(started_at) - epoch(p), epoch(p) - epoch(started_at) - 1, 0),
                coalesce(abs(epoch(p) - epoch(offline_at)), 'infinity'::double),
                coalesce(abs(epoch(p) - epoch(offline_at) - ms_played / 1000.0), 'infinity'::double)
            )
        end as distance,
        case
            -- online: listed at its start, before a pause: after the stream before it ended
            when source = 'extended_export'
                and offline_at is null
                -- (none: no exported stream ended within 2 hours before the API rows)
                and (previous_ended_at is null or p >= previous_ended_at - interval 60 second)
                and p <= started_at
                and epoch(started_at) - epoch(p) <= 1800
                then epoch(started_at) - epoch(p)
            -- offline: listed at its end, after a pause: before the next offline stream started
            when source = 'extended_export'
                and p >= offline_at + to_milliseconds(ms_played)
                and p <= coalesce(next_offline_at, offline_at + to_milliseconds(ms_played) + interval 1800 second) + interval 60 second
                and epoch(p) - epoch(offline_at) - ms_played / 1000.0 <= 1800
                then epoch(p) - epoch(offline_at) - ms_played / 1000.0
        end as pause,
        -- an offline stream's API row listed at the time of the sync, not at the play's own time
        offline_at is not null
            and abs(epoch(p) - epoch(ended_at)) < least(
                abs(epoch(p) - epoch(offline_at)),
                abs(epoch(p) - epoch(offline_at) - ms_played / 1000.0)
            ) as at_sync
    from api_same_track

),

api_edges as (

    -- phase: 0-2 for a listen against a listen, or a skip against a skip (anchor within 10 s
    -- (Account: 100 s); within the window; after a pause), 3-5 the same for a listen against a skip
    select
        api_key,
        x_key,
        p,
        x_time,
        case
            when distance <= (case when source = 'account_export' then 100 else 10 end) then 0
            when distance <= (case when source = 'account_export' then 150 else 60 end) then 1
            else 2
        end + case when short then 3 else 0 end as phase,
        case
            when distance <= (case when source = 'account_export' then 150 else 60 end) then distance
            else pause
        end as cost,
        -- the order of time in which pairs are made: earliest first, but latest first for an
        -- offline batch listed at its sync (a poll lists only the last 50 plays: of a batch listed
        -- at once, the ones a poll missed are its first)
        case when at_sync then -1 else 1 end as direction
    from api_distances
    where distance <= (case when source = 'account_export' then 150 else 60 end)
       or pause is not null

),

api_pairing (api_key, x_key, p, x_time, phase, cost, direction, state, pass) as (

    select api_key, x_key, p, x_time, phase, cost, direction, 'open', 0
    from api_edges

    union all

    (
        with open_edges as (
            select * from api_pairing where state = 'open'
        ),

        current_phase as (
            select * from open_edges where phase = (select min(phase) from open_edges)
        ),

        with_degree as (
            select *, count(*) over (partition by api_key) = 1 as api_sole
            from current_phase
        ),

        picked as (
            select api_key, x_key
            from with_degree
            qualify
                row_number() over (partition by api_key order by floor(cost), direction * epoch(x_time), cost, x_key) = 1
                and row_number() over (partition by x_key order by not api_sole, floor(cost), direction * epoch(p), cost, api_key) = 1
        )

        -- picked edges are paired; edges touching a paired row leave; the rest stay open (when
        -- nothing could be picked, the edges of the current phase leave: the next phase follows)
        select
            o.api_key, o.x_key, o.p, o.x_time, o.phase, o.cost, o.direction,
            case when k.api_key is not null then 'paired' else 'open' end,
            o.pass + 1
        from open_edges as o
        left join picked as k
            on k.api_key = o.api_key and k.x_key = o.x_key
        where k.api_key is not null
           or (
               o.api_key not in (select api_key from picked)
               and o.x_key not in (select x_key from picked)
               and (exists (select 1 from picked) or o.phase > (select min(phase) from open_edges))
           )
    )

),

api_rounds as (

    select api_key, x_key from api_pairing where state = 'paired'

),

api_unpaired as (

    select distinct api_key
    from api_edges
    where api_key not in (select api_key from api_rounds)

),

api_paths (origin, tail_key, flips, taken, steps, cost, done) as (

    -- from an API row left without a stream: its candidate, and when another API row holds that
    -- one, that row's other candidates, and so on (an alternating path, up to 8 steps, ending at a
    -- free stream). `flips` are the pairs the path makes; each row on it gives up the one it held.
    -- `cost`: what the pairs made cost less what the pairs given up cost.
    select
        u.api_key,
        r.api_key,
        [{'api_key': u.api_key, 'x_key': e.x_key}],
        [e.x_key],
        1,
        e.cost - coalesce(h.cost, 0),
        r.api_key is null
    from api_unpaired as u
    join api_edges as e on e.api_key = u.api_key
    left join api_rounds as r on r.x_key = e.x_key
    left join api_edges as h on h.api_key = r.api_key and h.x_key = r.x_key

    union all

    select
        p.origin,
        r.api_key,
        list_append(p.flips, {'api_key': p.tail_key, 'x_key': e.x_key}),
        list_append(p.taken, e.x_key),
        p.steps + 1,
        p.cost + e.cost - coalesce(h.cost, 0),
        r.api_key is null
    from api_paths as p
    join api_edges as e on e.api_key = p.tail_key
    left join api_rounds as r on r.x_key = e.x_key
    left join api_edges as h on h.api_key = r.api_key and h.x_key = r.x_key
    where not p.done
      and p.steps < 8
      and not list_contains(p.taken, e.x_key)

),

api_best_paths as (

    -- per row left without a stream: the complete path that costs least, then the shortest
    select origin, flips
    from api_paths
    where done
    qualify row_number() over (partition by origin order by cost, steps, taken) = 1

),

api_flips as (

    select origin, unnest(flips, recursive := true)
    from api_best_paths

),

api_repairs as (

    -- the paths that share no row with another path are made
    select f.api_key, f.x_key
    from api_flips as f
    where f.origin not in (
        select a.origin
        from api_flips as a
        join api_flips as b
            on (a.api_key = b.api_key or a.x_key = b.x_key)
            and a.origin <> b.origin
    )

),

api_matched as (

    select api_key, x_key
    from api_rounds
    where api_key not in (select api_key from api_repairs)
    union all
    select api_key, x_key from api_repairs

),

api_matched_edges as (

    select m.api_key, m.x_key, e.p, e.x_time, e.phase
    from api_matched as m
    join api_edges as e
        on e.api_key = m.api_key and e.x_key = m.x_key

),

api_crossings as (

    -- two pairs that cross in time (the earlier API row with the later stream), when each API row
    -- is also a candidate for the other's stream, no worse in phase: closeness by whole seconds can
    -- cross them when both played_at lie between the end of one play and the start of its repeat
    select a.api_key as a_key, a.x_key as a_x, b.api_key as b_key, b.x_key as b_x
    from api_matched_edges as a
    join api_edges as a_to_b
        on a_to_b.api_key = a.api_key and a_to_b.x_key <> a.x_key
    join api_matched_edges as b
        on b.x_key = a_to_b.x_key
    join api_edges as b_to_a
        on b_to_a.api_key = b.api_key and b_to_a.x_key = a.x_key
    where a.p < b.p
      and a.x_time > b.x_time
      and greatest(a_to_b.phase, b_to_a.phase) <= greatest(a.phase, b.phase)

),

api_uncrossed as (

    -- crossings that share no row with another are undone
    select * from api_crossings as c
    where not exists (
        select 1 from api_crossings as o
        where (o.a_key, o.b_key) <> (c.a_key, c.b_key)
          and (o.a_key in (c.a_key, c.b_key) or o.b_key in (c.a_key, c.b_key))
    )

),

api_pairs as (

    select api_key, x_key
    from api_matched
    where api_key not in (select a_key from api_uncrossed union all select b_key from api_uncrossed)
    union all
    select a_key, b_x from api_uncrossed
    union all
    select b_key, a_x from api_uncrossed

),

api_gains as (

    select
        x.source, x.ended_at, x.ms_played, x.occurrence,
        a.track_uri, a.album_name, a.album_uri, a.artist_uris, a.context_uri, a.context_type,
        a.api_played_at,
        0 as precedence
    from api_pairs as p
    join api_live as a on a.api_key = p.api_key
    join api_targets as x on x.x_key = p.x_key

),

gains as (

    -- what each exported row gains: from its API pair, else from its Account pair (rule 3)
    select * exclude (precedence)
    from (
        select * from api_gains
        union all
        select * from account_carried
    )
    where coalesce(getvariable('rewind_match_api'), true)
    qualify row_number() over (partition by source, ended_at, ms_played, occurrence order by precedence) = 1

),

-- The rows, with their final status -------------------------------------------------------------

passed_through as (

    select c.*
    from candidates as c
    anti join gains as g
        on  g.source = c.source
        and g.ended_at = c.ended_at
        and g.ms_played = c.ms_played
        and g.occurrence = c.occurrence
    where c.source not in ('account_export', 'api')

),

extended_gained as (

    select
        c.* replace (
            coalesce(c.track_uri, g.track_uri) as track_uri,
            coalesce(c.album_name, g.album_name) as album_name,
            coalesce(c.album_uri, g.album_uri) as album_uri,
            coalesce(c.artist_uris, g.artist_uris) as artist_uris,
            coalesce(c.context_uri, g.context_uri) as context_uri,
            coalesce(c.context_type, g.context_type) as context_type,
            g.api_played_at as api_played_at,
            case when c.status = 'kept' then 'enriched' else c.status end as status
        )
    from candidates as c
    join gains as g
        on  g.source = c.source
        and g.ended_at = c.ended_at
        and g.ms_played = c.ms_played
        and g.occurrence = c.occurrence
    where c.source not in ('account_export', 'api')
      and coalesce(getvariable('rewind_match_api'), true)

),

account_final as (

    select
        a.* exclude (row_key) replace (
            coalesce(a.track_uri, g.track_uri) as track_uri,
            coalesce(a.album_name, g.album_name) as album_name,
            coalesce(a.album_uri, g.album_uri) as album_uri,
            coalesce(a.artist_uris, g.artist_uris) as artist_uris,
            coalesce(a.context_uri, g.context_uri) as context_uri,
            coalesce(a.context_type, g.context_type) as context_type,
            coalesce(g.api_played_at, a.api_played_at) as api_played_at,
            case when g.source is not null and a.status = 'kept' then 'enriched' else a.status end as status
        )
    from account_checked as a
    left join api_gains as g
        on  g.source = 'account_export'
        and g.ended_at = a.ended_at
        and g.ms_played = a.ms_played
        and g.occurrence = a.occurrence

),

api_final as (

    select
        a.* exclude (api_key, name_key, api_rank) replace (
            case
                when s.api_key is null and p.api_key is null then a.status
                when a.status = 'kept' then 'superseded'
                else 'duplicate'
            end as status
        )
    from api_rows as a
    left join api_seen as s on s.api_key = a.api_key
    left join api_pairs as p on p.api_key = a.api_key

),

final as (

    select * from passed_through
    union all by name
    select * from extended_gained
    union all by name
    select * from account_final
    union all by name
    select * from api_final

)

select * from final
