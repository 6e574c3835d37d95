-- name: top_error_messages
-- description: The most frequent error messages, with variables (ids, numbers, addresses) masked so similar messages group together.
-- schedule: 15 0 * * *
-- window: 24h
-- param service: string, default=null, description=Only this service (all services when not given)
-- param limit: int, default=20, description=How many message templates to return
SELECT
  template,
  count(*) AS count,
  min(ts) AS first_seen,
  max(ts) AS last_seen,
  arbitrary(message) AS example,
  count(DISTINCT service) AS services
FROM (
  SELECT
    ts,
    service,
    message,
    regexp_replace(
      regexp_replace(
        regexp_replace(
          regexp_replace(
            regexp_replace(
              substr(coalesce(message, ''), 1, 1000),
              '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<uuid>'),
            '\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b', '<ip>'),
          '\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{16,}\b', '<hex>'),
        '"[^"]*"|''[^'']*''', '<str>'),
      '-?\b\d+(\.\d+)?\b', '<num>') AS template
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ('ERROR', 'FATAL')
    AND (:service IS NULL OR service = :service)
) AS errors
GROUP BY template
ORDER BY count DESC, template
LIMIT :limit
