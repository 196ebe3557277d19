-- Period keys and bounds agree.
select user_id, period_type, period_key
from period_snapshots
where period_start > period_end
   or period_type not in ('week', 'month', 'quarter', 'year', 'all_time', 'calendar_year', 'calendar_month')
   or (period_type in ('week', 'month', 'quarter', 'year') and period_key <> strftime(period_end, '%Y-%m-%d'))
   or (period_type = 'all_time' and period_key <> 'all')
   or (period_type = 'calendar_year' and (
        period_key <> strftime(period_start, '%Y')
        or period_start <> make_date(year(period_start), 1, 1)
        or period_end <> make_date(year(period_start), 12, 31)))
   or (period_type = 'calendar_month' and (
        period_key <> strftime(period_start, '%Y-%m')
        or period_start <> cast(date_trunc('month', period_start) as date)
        or period_end <> last_day(period_start)))
