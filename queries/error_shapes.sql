-- name: error_shapes
-- description: ERROR/FATAL records grouped by service, hour and pattern_id (the logs view's masked message, "shape", and the miner's id of its template), with counts and one raw example each: the input of the error-pattern detectors (logpipe detect).
-- window: 1h
--
-- The masking is the logs view's (rendered from logpipe/patterns/masking.py, the miner's own masks), so
-- the detectors, pattern_lines, top_error_messages and noisiest_lines group lines the same way.

SELECT
  service,
  date_trunc('hour', ts) AS bucket,
  pattern_id,
  min(shape) AS shape,
  count(*) AS records,
  min(message) AS example,
  min(ts) AS first_ts,
  max(ts) AS last_ts
FROM (
  SELECT ts, coalesce(service, 'unknown') AS service, coalesce(message, '') AS message, shape, pattern_id
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ('ERROR', 'FATAL')
) AS errors
GROUP BY service, date_trunc('hour', ts), pattern_id
ORDER BY records DESC, service, bucket, pattern_id
