-- name: top_error_messages
-- description: The most frequent error messages, grouped by pattern_id (the logs view's masked message, the detectors' grouping): ids, numbers, addresses, paths and the like masked as <*>.
-- schedule: 15 0 * * *
-- window: 24h
-- param service: string, default=null, description=Only this service (all services when not given)
-- param limit: int, default=20, description=How many message templates to return
SELECT
  template,
  count,
  first_seen,
  last_seen,
  example,
  services,
  pattern_id
FROM (
  SELECT
    pattern_id,
    min(shape) AS template,
    count(*) AS count,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    min(message) AS example,
    count(DISTINCT service) AS services
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ('ERROR', 'FATAL')
    AND (:service IS NULL OR service = :service)
  GROUP BY pattern_id
) AS errors
ORDER BY count DESC, template
LIMIT :limit
