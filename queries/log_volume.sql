-- name: log_volume
-- description: Log records and bytes per service, and what they cost a month at this rate: Firehose ingestion and S3 storage (gzip'd, kept retention_days).
-- schedule: 10 * * * *
-- window: 1h
-- param service: string, default=null, description=Only this service (all services when not given)
-- param compression_ratio: float, default=0.12, description=Stored gzip size / raw JSON size (0.08-0.15 is typical for logs)
-- param retention_days: int, default=30, description=Days the objects stay in S3 (the bucket's lifecycle rule)
-- param firehose_usd_per_gb: float, default=0.029, description=Firehose Direct PUT ingestion price per GB (us-east-1, first 500 TB a month)
-- param s3_usd_per_gb_month: float, default=0.023, description=S3 Standard price per GB-month (us-east-1, first 50 TB)
-- metric LogRecords: column=records, unit=Count, dimensions=service
-- metric LogBytes: column=bytes, unit=Bytes, dimensions=service
--
-- Bytes are the size of each record as a JSON line, estimated from its fields (the text of every key and
-- value plus quotes and separators); the stored gzip objects are smaller by --param compression_ratio.
-- A month is 30 days of traffic at the window's average rate. Firehose bills each record rounded up
-- to 5 KB unless the router aggregates records (simple_aggregation, on by default in firelens/);
-- this estimate assumes aggregation. S3 cost is the steady state: retention_days of objects stored.
SELECT
  service,
  records,
  bytes,
  round(100 * CAST(bytes AS double) / sum(bytes) OVER (), 3) AS share_of_bytes,
  round(bytes / window_seconds * 2592000 / 1073741824, 3) AS gb_per_month,
  round(bytes / window_seconds * 2592000 / 1073741824 * :firehose_usd_per_gb, 2) AS firehose_usd_per_month,
  round(bytes / window_seconds * 86400 * :retention_days * :compression_ratio / 1073741824
        * :s3_usd_per_gb_month, 2) AS s3_usd_per_month,
  round(bytes / window_seconds * 2592000 / 1073741824 * :firehose_usd_per_gb
        + bytes / window_seconds * 86400 * :retention_days * :compression_ratio / 1073741824
        * :s3_usd_per_gb_month, 2) AS total_usd_per_month
FROM (
  SELECT service, count(*) AS records, sum(bytes) AS bytes
  FROM (
    SELECT
      coalesce(service, 'unknown') AS service,
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
  ) AS sized
  GROUP BY service
) AS per_service
CROSS JOIN (SELECT CAST(date_diff('second', :window_start, :window_end) AS double) AS window_seconds) AS w
ORDER BY bytes DESC, service
