-- Only the user and the days in scope.
select *
from int_plays_local
where user_id <> getvariable('scope_user_id')
   or (getvariable('scope_days') is not null and not list_contains(getvariable('scope_days'), local_date))
