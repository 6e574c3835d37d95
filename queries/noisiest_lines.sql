-- name: noisiest_lines
-- description: The most repeated log lines once variables are masked, with their share of all records and bytes: candidates to drop or sample at the router.
-- schedule: 20 3 * * *
-- window: 24h
-- param service: string, default=null, description=Only this service (all services when not given)
-- param min_level: enum(TRACE|DEBUG|INFO|WARN|ERROR|FATAL), default=TRACE, description=Only lines at or above this level
-- param limit: int, default=20, description=How many line templates to return
--
-- Lines are grouped by the logs view's pattern_id (its masked message, "shape": the miner's masks, as
-- top_error_messages and the detectors group), at every level. A template that is a large share of bytes
-- and carries no signal (health checks, pool statistics, "request handled") is what [firelens.datadog]
-- exclude, or a lower app log level, should take out.
-- Bytes are the size of each record as a JSON line, estimated from its fields (the text of every key and
-- value plus quotes and separators).
SELECT
  service,
  level,
  template,
  records,
  bytes,
  round(100 * CAST(records AS double) / sum(records) OVER (), 3) AS share_of_records,
  round(100 * CAST(bytes AS double) / sum(bytes) OVER (), 3) AS share_of_bytes,
  example,
  pattern_id
FROM (
  SELECT service, level, min(shape) AS template, pattern_id, count(*) AS records, sum(bytes) AS bytes,
    min(message) AS example
  FROM (
    SELECT
      coalesce(service, 'unknown') AS service,
      level,
      message,
      shape,
      pattern_id,
      coalesce(length(to_utf8(log)) + 9, 0) +
      coalesce(length(to_utf8(source)) + 12, 0) +
      coalesce(length(to_utf8(container_name)) + 20, 0) +
      coalesce(length(to_utf8(container_id)) + 18, 0) +
      coalesce(length(to_utf8(ecs_cluster)) + 17, 0) +
      coalesce(length(to_utf8(ecs_task_arn)) + 18, 0) +
      coalesce(length(to_utf8(ecs_task_definition)) + 25, 0) +
      coalesce(length(to_utf8(raw_time)) + 10, 0) +
      coalesce(length(to_utf8(message)) + 13, 0) +
      coalesce(length(to_utf8(service)) + 13, 0) +
      coalesce(length(to_utf8(level)) + 11, 0) +
      coalesce(length(to_utf8(logger)) + 12, 0) +
      coalesce(length(to_utf8(trace_id)) + 14, 0) +
      coalesce(length(to_utf8(span_id)) + 13, 0) +
      coalesce(length(to_utf8(request_id)) + 16, 0) +
      coalesce(length(to_utf8(method)) + 12, 0) +
      coalesce(length(to_utf8(path)) + 10, 0) +
      coalesce(length(to_utf8(status)) + 12, 0) +
      coalesce(length(to_utf8(latency_ms)) + 16, 0) +
      coalesce(length(to_utf8(bytes)) + 11, 0) +
      coalesce(length(to_utf8(client_ip)) + 15, 0) +
      coalesce(length(to_utf8(user_agent)) + 16, 0) +
      coalesce(length(to_utf8(error_type)) + 16, 0) +
      coalesce(length(to_utf8(stack_trace)) + 17, 0) AS bytes
    FROM logs
    WHERE dt BETWEEN :dt_start AND :dt_end
      AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
      AND ts >= :window_start AND ts < :window_end
      AND (:service IS NULL OR service = :service)
      AND CASE level WHEN 'TRACE' THEN 0 WHEN 'DEBUG' THEN 1 WHEN 'INFO' THEN 2 WHEN 'WARN' THEN 3
            WHEN 'ERROR' THEN 4 WHEN 'FATAL' THEN 5 ELSE 2 END
          >= CASE :min_level WHEN 'TRACE' THEN 0 WHEN 'DEBUG' THEN 1 WHEN 'INFO' THEN 2 WHEN 'WARN' THEN 3
            WHEN 'ERROR' THEN 4 WHEN 'FATAL' THEN 5 ELSE 0 END
  ) AS masked
  GROUP BY service, level, pattern_id
) AS templates
ORDER BY records DESC, bytes DESC, service, template
LIMIT :limit
