-- name: trace_lines
-- description: Every line of one request across services, in time order: the records whose trace_id or request_id is the given id, or whose raw line mentions it.
-- window: 24h
-- param id: string, required, description=The trace id or request id to follow (as it appears in the logs)
-- param limit: int, default=1000, description=At most this many lines
--
-- Matching the raw line too finds services that print the id in text (an nginx access line, a Python
-- log message) without a parsed trace_id key. Ids shorter than 6 characters are refused by the
-- length check below, so a typo cannot return the whole window.
SELECT
  ts,
  service,
  level,
  container_name,
  ecs_task_arn,
  trace_id,
  request_id,
  span_id,
  method,
  path,
  status,
  latency_ms,
  message
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end
  AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND ts >= :window_start AND ts < :window_end
  AND length(:id) >= 6
  AND (trace_id = :id OR request_id = :id OR strpos(log, :id) > 0 OR strpos(message, :id) > 0)
ORDER BY ts, service
LIMIT :limit
