-- name: http_status_latency
-- description: HTTP traffic per service from access-log records (those with a status): requests, 4xx and 5xx counts, the 5xx rate, and p50/p95/p99 latency in milliseconds.
-- schedule: */5 * * * *
-- window: 15m
-- param service: string, default=null, description=Only this service (all services when not given)
-- metric Http5xxRate: column=http_5xx_rate, unit=Percent, dimensions=service
-- metric LatencyP95: column=latency_p95_ms, unit=Milliseconds, dimensions=service
-- metric RequestCount: column=requests, unit=Count, dimensions=service
--
-- status and latency_ms are whatever the app or the router's parser wrote: strings, numbers, junk.
-- try_cast keeps junk out (a status of "abc" is not a request; a latency of "slow" is not a latency)
-- instead of failing the query. Percentiles are approximate on both engines (Trino's qdigest,
-- DuckDB's t-digest): within a fraction of a percent on real traffic, exact enough for alarms.
-- Rates are computed in DOUBLE: in Trino `100.0 * n / m` is a DECIMAL that keeps one decimal place.
SELECT
  service,
  count(*) AS requests,
  count_if(status_code BETWEEN 400 AND 499) AS http_4xx,
  count_if(status_code BETWEEN 500 AND 599) AS http_5xx,
  round(100 * CAST(count_if(status_code BETWEEN 500 AND 599) AS double) / count(*), 3) AS http_5xx_rate,
  round(approx_percentile(latency, 0.50), 1) AS latency_p50_ms,
  round(approx_percentile(latency, 0.95), 1) AS latency_p95_ms,
  round(approx_percentile(latency, 0.99), 1) AS latency_p99_ms,
  round(max(latency), 1) AS latency_max_ms
FROM (
  SELECT
    service,
    try_cast(try_cast(status AS double) AS integer) AS status_code,
    try_cast(latency_ms AS double) AS latency
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND status IS NOT NULL
    AND (:service IS NULL OR service = :service)
) AS requests
WHERE status_code BETWEEN 100 AND 599
GROUP BY service
ORDER BY http_5xx_rate DESC, service
