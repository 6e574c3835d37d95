-- name: errors_since_deploy
-- description: Errors and error rate per task-definition revision of each service, with when each revision was first and last seen: did the last deploy make things worse?
-- schedule: 20 0 * * *
-- window: 24h
-- param service: string, default=null, description=Only this service (all services when not given)
-- metric RevisionErrorRate: column=error_rate, unit=Percent, dimensions=service,task_definition
--
-- ecs_task_definition is "family:revision" (or a task-definition ARN ending in it). Rows are ordered
-- by service, newest revision first, so the deploy in question is the first row of its service and
-- the one it replaced is the next.
SELECT
  service,
  ecs_task_definition AS task_definition,
  revision,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  count(DISTINCT ecs_task_arn) AS tasks,
  count(*) AS records,
  count_if(level IN ('ERROR', 'FATAL')) AS errors,
  round(100 * CAST(count_if(level IN ('ERROR', 'FATAL')) AS double) / count(*), 3) AS error_rate
FROM (
  SELECT
    ts,
    service,
    level,
    ecs_task_arn,
    regexp_extract(ecs_task_definition, '([^/:]+:[0-9]+)$', 1) AS ecs_task_definition,
    try_cast(regexp_extract(ecs_task_definition, ':([0-9]+)$', 1) AS integer) AS revision
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND ecs_task_definition IS NOT NULL
    AND (:service IS NULL OR service = :service)
) AS records
WHERE revision IS NOT NULL
GROUP BY service, ecs_task_definition, revision
ORDER BY service, revision DESC
