-- Only the user in scope, and only plays with a start.
select *
from int_plays_keyed
where user_id <> getvariable('scope_user_id')
   or started_at is null
