-- Local time columns agree with each other and with started_at in the user's time zone.
select *
from int_plays_local
where local_started_at is distinct from timezone(getvariable('scope_timezone'), started_at)
   or local_date is distinct from cast(local_started_at as date)
   or local_hour not between 0 and 23
   or local_hour is distinct from hour(local_started_at)
   or iso_weekday not between 1 and 7
   or iso_weekday is distinct from isodow(local_date)
