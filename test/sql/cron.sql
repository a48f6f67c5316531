-- Cron schedules: standard 5-field and AWS cron(...), expanded DST-correct in C
DROP EXTENSION kant CASCADE;
CREATE EXTENSION kant;
SET TimeZone = 'UTC';
SET DateStyle = ISO;
\set VERBOSITY default

-- 1. What parses
SELECT s AS schedule, kant.cron_is_valid(s) AS valid FROM unnest(ARRAY[
  '30 2 * * *', '*/15 9-17 * * MON-FRI', '0 6 1,15 * *', '@daily', '@hourly', '@weekly',
  '0 0 * * 7', '5 4 * JAN-MAR sun', 'cron(15 12 * * ? *)', 'cron(0 18 ? * MON-FRI *)',
  'cron(0/30 * * * ? 2025-2026)', 'cron(0 10 L * ? *)', 'cron(0 10 15W * ? *)',
  'cron(0 10 LW * ? *)', 'cron(0 10 ? * 6L *)', 'cron(0 10 ? * 2#1 *)', '0 2 * * ? *',
  -- and what does not
  '61 * * * *', '* * * *', '0 25 * * *', 'cron(0 10 * * * *)', 'cron(0 10 ? * ? *)',
  '0 10 L * *', 'cron(0 10 ? * 2#6 *)', '30 2 * * * * *', '@fortnightly', '0 0 30-1 * *',
  'cron(0 10 * * ? *', '0 0 1, * *', 'cron(0 10 ? * 0 *)', '0 0 * * 8', '*/0 * * * *']) s;

-- 2. Errors name the position and what is wrong
SELECT kant.cron_check('61 * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.cron_check('0 2 * * MON-XYZ');
SELECT kant.cron_check('cron(0 10 * * * *)');
SELECT kant.cron_check('0 0 30-1 * *');
SELECT kant.cron_check('* * * *');
SELECT kant.cron_check('0 10 L * *');
SELECT * FROM kant.cron_occurrences('30 2 * * *', 'Asia/Tokio', '2024-01-01', '2024-01-02');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM kant.cron_occurrences('30 2 * * *', 'UTC', '2000-01-01', '2024-01-02');
\echo :LAST_ERROR_SQLSTATE

-- 3. DST in America/New_York: a 02:30 job on the spring-forward day runs once
--    (at 03:30 EDT, the gap's shift); a 01:30 job on the fall-back day runs once
--    (the first 01:30, EDT)
SELECT t, t AT TIME ZONE 'America/New_York' AS local
FROM kant.cron_occurrences('30 2 * * *', 'America/New_York', '2024-03-08', '2024-03-13') t;
SELECT t, t AT TIME ZONE 'America/New_York' AS local
FROM kant.cron_occurrences('30 1 * * *', 'America/New_York', '2024-11-01 12:00', '2024-11-05') t;
-- two local times that the gap maps to one instant run once
SELECT t, t AT TIME ZONE 'America/New_York' AS local
FROM kant.cron_occurrences('30 2,3 * * *', 'America/New_York', '2024-03-10 04:00', '2024-03-11 04:00') t;
-- an every-hour schedule runs by real time: 23 runs on the short day, 25 on the long one
SELECT (SELECT count(*) FROM kant.cron_occurrences('0 * * * *', 'America/New_York',
          '2024-03-10 00:00-05', '2024-03-11 00:00-04')) AS spring_day_runs,
       (SELECT count(*) FROM kant.cron_occurrences('0 * * * *', 'America/New_York',
          '2024-11-03 00:00-04', '2024-11-04 00:00-05')) AS fall_day_runs,
       (SELECT count(*) FROM kant.cron_occurrences('*/30 * * * *', 'America/New_York',
          '2024-11-03 00:00-04', '2024-11-04 00:00-05')) AS fall_day_half_hours;
-- Europe/London too (DST at 01:00 UTC, last Sundays of March and October)
SELECT t, t AT TIME ZONE 'Europe/London' AS local
FROM kant.cron_occurrences('30 1 * * *', 'Europe/London', '2024-03-30', '2024-04-01') t;
-- Asia/Tokyo has no DST: 06:00 JST is 21:00 UTC the day before, every day
SELECT t FROM kant.cron_occurrences('0 6 * * *', 'Asia/Tokyo', '2024-11-23', '2024-11-26') t;

-- 4. AWS cron (Glue triggers, EventBridge): evaluated in UTC by AWS
SELECT t FROM kant.cron_occurrences('cron(15 12 * * ? *)', 'UTC', '2024-11-24', '2024-11-27') t;
SELECT t FROM kant.cron_occurrences('cron(0 18 ? * MON-FRI *)', 'UTC', '2024-11-22', '2024-11-27') t;
-- L: last day of the month (leap February included)
SELECT t FROM kant.cron_occurrences('cron(0 10 L * ? *)', 'UTC', '2024-01-01', '2024-05-01') t;
-- 15W: the weekday nearest the 15th (Sat 15 June 2024 -> Fri 14; Sun 15 Sep -> Mon 16)
SELECT t, to_char(t, 'Dy') AS day FROM kant.cron_occurrences('cron(0 10 15W * ? *)', 'UTC', '2024-06-01', '2024-10-01') t;
-- 1W never leaves the month (Sat 1 June 2024 -> Mon 3 June); LW: last weekday
SELECT t, to_char(t, 'Dy') AS day FROM kant.cron_occurrences('cron(0 10 1W * ? *)', 'UTC', '2024-06-01', '2024-07-01') t;
SELECT t, to_char(t, 'Dy') AS day FROM kant.cron_occurrences('cron(0 10 LW * ? *)', 'UTC', '2024-08-01', '2024-09-01') t;
-- 6L: the last Friday (AWS numbers Sunday 1); 2#1: the first Monday
SELECT t, to_char(t, 'Dy') AS day FROM kant.cron_occurrences('cron(0 10 ? * 6L *)', 'UTC', '2024-10-01', '2024-12-01') t;
SELECT t, to_char(t, 'Dy') AS day FROM kant.cron_occurrences('cron(0 10 ? * 2#1 *)', 'UTC', '2024-10-01', '2024-12-01') t;
-- the year field
SELECT count(*) AS runs_2025_2026 FROM kant.cron_occurrences('cron(0 0 1 * ? 2025-2026)', 'UTC', '2024-01-01', '2028-01-01');

-- 5. Standard cron's day rule (Vixie): both day fields restricted -> either;
--    a field that begins with * -> both
SELECT t, to_char(t, 'Dy DD') AS day FROM kant.cron_occurrences('0 0 13 * 5', 'UTC', '2024-09-01', '2024-10-01') t;
SELECT t, to_char(t, 'Dy DD') AS day FROM kant.cron_occurrences('0 0 */10 * 5', 'UTC', '2024-01-01', '2025-01-01') t;
-- 0 and 7 are both Sunday; names are case-insensitive
SELECT (SELECT array_agg(t) FROM kant.cron_occurrences('0 0 * * 0', 'UTC', '2024-11-01', '2024-11-30') t)
     = (SELECT array_agg(t) FROM kant.cron_occurrences('0 0 * * sun', 'UTC', '2024-11-01', '2024-11-30') t)
   AND (SELECT array_agg(t) FROM kant.cron_occurrences('0 0 * * 7', 'UTC', '2024-11-01', '2024-11-30') t)
     = (SELECT array_agg(t) FROM kant.cron_occurrences('@weekly', 'UTC', '2024-11-01', '2024-11-30') t) AS sundays_agree;

-- 6. cron_next
SELECT kant.cron_next('30 2 * * *', 'America/New_York', '2024-03-09 12:00+00') AS next_spring,
       kant.cron_next('cron(0 10 L * ? *)', 'UTC', '2024-02-01') AS next_month_end,
       kant.cron_next('0 0 30 2 *', 'UTC', '2024-01-01') AS never,
       kant.cron_next('cron(0 0 1 1 ? 2020)', 'UTC', '2024-01-01') AS past_year;

-- 7. Ranges at the ends of time.  The ten-year cap holds for any range (to -
--    from overflows int64 across the timestamp range: it once let this through
--    to expand 300,000 years; the timeout only bounds a regression), infinity is
--    an error, and near the ends of the range schedules expand without leaving it.
SET statement_timeout = '10s';
SELECT count(*) FROM kant.cron_occurrences('* * * * *', 'UTC', '4713-01-01 00:00+00 BC', '294276-12-31 23:59:59+00');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM kant.cron_occurrences('* * * * *', 'America/New_York', '4714-11-24 00:00+00 BC', '294276-12-31 23:59:59.999999+00');
\echo :LAST_ERROR_SQLSTATE
-- backwards is empty, however far
SELECT count(*) AS backwards FROM kant.cron_occurrences('* * * * *', 'UTC', '294276-12-31 23:59:59+00', '4713-01-01 00:00+00 BC');
-- the cap: 3660 days is the most, a microsecond more or eleven years is too long
SELECT count(*) AS days_at_the_cap FROM kant.cron_occurrences('0 0 * * *', 'UTC', '2020-01-01', timestamptz '2020-01-01' + interval '3660 days');
SELECT count(*) FROM kant.cron_occurrences('0 0 * * *', 'UTC', '2020-01-01', timestamptz '2020-01-01' + interval '3660 days 0.000001 s');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM kant.cron_occurrences('0 0 * * *', 'UTC', '2020-01-01', '2031-01-01');
\echo :LAST_ERROR_SQLSTATE
-- infinity at either end, for cron_occurrences and cron_next
SELECT count(*) FROM kant.cron_occurrences('0 0 * * *', 'UTC', '-infinity', '2020-01-01');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM kant.cron_occurrences('0 0 * * *', 'UTC', '2020-01-01', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM kant.cron_occurrences('0 0 * * *', 'UTC', '-infinity', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.cron_next('0 0 * * *', 'UTC', 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.cron_next('0 0 * * *', 'UTC', '-infinity');
\echo :LAST_ERROR_SQLSTATE
-- at the ends of the timestamp range: occurrences (the two outermost days of
-- it are not expanded), not "timestamp out of range"
SELECT min(t), max(t), count(*) FROM kant.cron_occurrences('0 0 * * *', 'America/New_York', '4714-11-24 00:00+00 BC', '4714-12-24 00:00+00 BC') t;
SELECT min(t), max(t), count(*) FROM kant.cron_occurrences('0 0 * * *', 'Asia/Tokyo', '294276-11-01 00:00+00', '294276-12-31 23:59:59.999999+00') t;
SELECT kant.cron_next('0 6 * * *', 'America/New_York', '4714-11-24 00:00+00 BC') AS first_ever,
       kant.cron_next('0 6 * * *', 'Asia/Tokyo', '294276-12-31 23:59:59.999999+00') AS none_after_the_last;
-- from the beginning of time, a schedule that never runs ends too (a year at a time, to 2199)
SELECT kant.cron_next('0 0 30 2 *', 'UTC', '4714-11-24 00:00+00 BC') AS never,
       kant.cron_next('cron(0 0 1 1 ? 2199)', 'Asia/Tokyo', '4714-11-24 00:00+00 BC') AS last_year_allowed;
-- local_instant: infinity stays infinity; a local time whose instant would
-- leave the range is a clean error, as AT TIME ZONE makes it
SELECT kant.local_instant('infinity', 'Asia/Tokyo') AS inf, kant.local_instant('-infinity', 'Asia/Tokyo') AS minus_inf;
SELECT kant.local_instant('4714-11-24 00:00 BC', 'America/New_York');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.local_instant('294276-12-31 23:59:59', 'Asia/Tokyo');
\echo :LAST_ERROR_SQLSTATE
SELECT kant.local_instant('4714-11-27 12:00 BC', 'America/New_York') AS near_the_first,
       kant.local_instant('294276-12-29 12:00', 'Asia/Tokyo') AS near_the_last;
RESET statement_timeout;
