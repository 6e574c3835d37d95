-- name: slowest_endpoints
-- description: The slowest HTTP endpoints (method and path with ids masked) by p95 latency, with request counts and 5xx share.
-- schedule: 25 0 * * *
-- window: 24h
-- param service: string, default=null, description=Only this service (all services when not given)
-- param min_requests: int, default=5, description=Leave out endpoints with fewer requests than this (a p95 of 3 requests means little)
-- param limit: int, default=20, description=How many endpoints to return
--
-- Paths are grouped as routes: the query string is dropped and every path segment that looks like an
-- id (all digits, or at least four characters with a digit in them: 7059215, SKU-77615, a UUID) becomes
-- {id}, so /api/v1/orders/7059215 and /api/v1/orders/42 are one endpoint while /api/v1 stays as it is.
SELECT
  service,
  method,
  endpoint,
  count(*) AS requests,
  round(approx_percentile(latency, 0.50), 1) AS latency_p50_ms,
  round(approx_percentile(latency, 0.95), 1) AS latency_p95_ms,
  round(max(latency), 1) AS latency_max_ms,
  round(100 * CAST(count_if(status_code >= 500) AS double) / count(*), 3) AS http_5xx_rate
FROM (
  SELECT
    service,
    coalesce(upper(method), '-') AS method,
    regexp_replace(
      split_part(path, '?', 1),
      '/(?:[^/?#]*[0-9][^/?#]*[^/?#]{3}|[^/?#]{3}[^/?#]*[0-9][^/?#]*|[0-9]+)',
      '/{id}') AS endpoint,
    try_cast(latency_ms AS double) AS latency,
    try_cast(try_cast(status AS double) AS integer) AS status_code
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND path IS NOT NULL
    AND (:service IS NULL OR service = :service)
) AS requests
WHERE latency IS NOT NULL
GROUP BY service, method, endpoint
HAVING count(*) >= :min_requests
ORDER BY latency_p95_ms DESC, requests DESC, service, endpoint
LIMIT :limit
