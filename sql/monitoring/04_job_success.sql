-- Pipeline health: per job and day, finished runs (the last attempt of each
-- run: status success or failed; `retry` rows are intermediate attempts),
-- the success rate and the duration of successful runs.
--   voidx sql -f sql/monitoring/04_job_success.sql
CREATE SCHEMA IF NOT EXISTS monitoring;

CREATE OR REPLACE VIEW monitoring.job_success_rate AS
SELECT job,
       date_trunc('day', started_at)                                   AS day,
       count(*)                                                        AS runs,
       count(*) FILTER (WHERE status = 'success')                      AS succeeded,
       count(*) FILTER (WHERE status = 'failed')                       AS failed,
       CAST(count(*) FILTER (WHERE status = 'success') AS DOUBLE) / count(*) AS success_rate,
       sum(attempt - 1)                                                AS retries,
       max(ended_at) FILTER (WHERE status = 'success')                 AS last_success
FROM voidx.job_runs
WHERE status <> 'retry'
GROUP BY job, date_trunc('day', started_at);

COMMENT ON VIEW monitoring.job_success_rate IS 'Pipeline health: per job and day, finished runs (the last attempt of each), the success rate and the duration of successful runs.';
