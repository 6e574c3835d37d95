-- name: records_by_service
-- description: Log records and ERROR/FATAL records per service and hour: the denominators of the error-rate detector (logpipe detect) and the per-service totals of the detection report.
-- window: 1h

SELECT
  coalesce(service, 'unknown') AS service,
  date_trunc('hour', ts) AS bucket,
  count(*) AS records,
  count_if(level IN ('ERROR', 'FATAL')) AS errors
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end
  AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND ts >= :window_start AND ts < :window_end
GROUP BY coalesce(service, 'unknown'), date_trunc('hour', ts)
ORDER BY service, bucket
