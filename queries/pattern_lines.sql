-- name: pattern_lines
-- description: The ERROR/FATAL lines of one error pattern: the records whose pattern_id (logs view) is one of the given ids. A finding, the digest and the console's pattern page fill the ids in: the ids the detectors counted as the pattern in the window (its own, and those of the templates its learned wildcards took in).
-- window: 24h
-- param patterns: list, required, description=pattern_id values of the logs view (16 hex digits), as a finding or the pattern page gives them
-- param service: string, default=null, description=Only this service (all services when not given)
-- param limit: int, default=5000, description=At most this many lines

SELECT ts, service, level, message, container_name, ecs_task_definition, trace_id, pattern_id
FROM (
  SELECT ts, coalesce(service, 'unknown') AS service, level, coalesce(message, '') AS message, container_name,
    ecs_task_definition, trace_id, pattern_id
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ('ERROR', 'FATAL')
    AND pattern_id IN (:patterns)
) AS lines
WHERE :service IS NULL OR service = :service
ORDER BY ts, service, message
LIMIT :limit
