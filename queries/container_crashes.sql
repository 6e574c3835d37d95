-- name: container_crashes
-- description: Crash, OOM and kill signals per service: tasks that exited (with their exit code), out-of-memory errors, SIGKILLed processes and panics, with how many tasks were hit and when.
-- schedule: every 15m
-- window: 1h
-- param service: string, default=null, description=Only this service (all services when not given)
-- metric ContainerCrashes: column=occurrences, unit=Count, dimensions=service,signal
--
-- Signals, first match wins:
--   task_exited  ECS's "Essential container in task exited" (the exit code is kept: 137 = killed, OOM)
--   oom          OutOfMemoryError/Exception, "out of memory", OOMKilled, exit code 137
--   killed       SIGKILL, "signal: killed", a shell's "Killed" line
--   panic        Go's "panic:" and "fatal error:", .NET's "Unhandled exception."
SELECT
  service,
  signal,
  exit_code,
  count(*) AS occurrences,
  count(DISTINCT ecs_task_arn) AS tasks,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  min_by(message, ts) AS example
FROM (
  SELECT
    ts,
    service,
    ecs_task_arn,
    substr(message, 1, 500) AS message,
    CASE
      WHEN strpos(message, 'Essential container in task exited') > 0 THEN 'task_exited'
      WHEN regexp_like(message, '(?i)OutOfMemory|out of memory|OOMKilled|exit(ed)? (with )?code 137\b') THEN 'oom'
      WHEN regexp_like(message, 'SIGKILL|signal: killed|\bKilled\b') THEN 'killed'
      WHEN regexp_like(message, '^(panic: |fatal error: |Unhandled exception\.)') THEN 'panic'
    END AS signal,
    regexp_extract(message, 'exit(?:ed)? (?:with )?code (-?[0-9]+)', 1) AS exit_code
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND (:service IS NULL OR service = :service)
    AND regexp_like(message, '(?i)Essential container|OutOfMemory|out of memory|OOMKilled|exit(ed)? (with )?code|SIGKILL|signal: killed|\bKilled\b|^panic: |^fatal error: |^Unhandled exception\.')
) AS signals
WHERE signal IS NOT NULL
GROUP BY service, signal, exit_code
ORDER BY occurrences DESC, service, signal, exit_code
