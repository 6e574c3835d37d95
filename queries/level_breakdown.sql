-- name: level_breakdown
-- description: Records per service and level, with each level's share of the service's records: a service that logs mostly DEBUG in production, or whose WARN share grows, shows here.
-- schedule: 10 * * * *
-- window: 1h
-- param service: string, default=null, description=Only this service (all services when not given)
-- metric LevelRecords: column=records, unit=Count, dimensions=service,level
SELECT
  service,
  level,
  count(*) AS records,
  round(100 * CAST(count(*) AS double) / sum(count(*)) OVER (PARTITION BY service), 3) AS share_of_service
FROM (
  SELECT coalesce(service, 'unknown') AS service, level
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND (:service IS NULL OR service = :service)
) AS records
GROUP BY service, level
ORDER BY service,
  CASE level WHEN 'TRACE' THEN 0 WHEN 'DEBUG' THEN 1 WHEN 'INFO' THEN 2 WHEN 'WARN' THEN 3
    WHEN 'ERROR' THEN 4 WHEN 'FATAL' THEN 5 ELSE 6 END
