-- Every row has a known status; only exported rows are enriched; only Account and API rows are
-- superseded (replaced by an exported row of the same stream).
select *
from int_plays_merged
where status is null
   or status not in ('kept', 'added', 'enriched', 'superseded', 'duplicate')
   or (status = 'enriched' and source not in ('extended_export', 'account_export'))
   or (status = 'superseded' and source not in ('account_export', 'api'))
