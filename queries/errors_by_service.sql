-- name: errors_by_service
-- description: Errors (ERROR and FATAL) per service per hour.
-- schedule: 5 * * * *
-- window: 1h
-- param service: string, default=null, description=Only this service (all services when not given)
-- metric ErrorCount: column=errors, unit=Count, dimensions=service
SELECT
  date_trunc('hour', ts) AS hour,
  service,
  count(*) AS errors
FROM logs
WHERE dt BETWEEN :dt_start AND :dt_end
  AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
  AND ts >= :window_start AND ts < :window_end
  AND level IN ('ERROR', 'FATAL')
  AND (:service IS NULL OR service = :service)
GROUP BY 1, 2
ORDER BY 1, 2
