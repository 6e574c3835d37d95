-- name: datadog_forwarded
-- description: What the Datadog route would forward under a router filter (min_level, sample_rate, exclude regexes), per service, and its monthly Datadog cost: ingestion per GB plus indexing per million events.
-- schedule: 30 0 * * *
-- window: 24h
-- param min_level: enum(TRACE|DEBUG|INFO|WARN|ERROR|FATAL), default=WARN, description=Records at or above this level are forwarded ([firelens.datadog] min_level)
-- param sample_rate: float, default=0, description=Share (0-1) of the records below min_level that are forwarded too ([firelens.datadog] sample_rate)
-- param exclude: list, default=null, description=Regexes of known noise matched against the message; matching records are never forwarded ([firelens.datadog] exclude)
-- param ingest_usd_per_gb: float, default=0.10, description=Datadog log ingestion price per GB (uncompressed)
-- param index_usd_per_million: float, default=1.70, description=Datadog indexing price per million events (15-day retention)
-- metric DatadogForwardedRecords: column=forwarded_records, unit=Count, dimensions=service
-- metric DatadogCostPerMonth: column=total_usd_per_month, unit=None, dimensions=service
--
-- The same rule as the router's route.lua and grep filter (logpipe/firelens/): a record goes when its
-- level ranks at or above min_level, or, below it, with probability sample_rate; a record whose
-- message matches an exclude regex never goes. Sampling is counted as its expectation
-- (sample_rate x records), so the estimate is stable from run to run. The regexes are bound as
-- parameters, never pasted into the SQL.
-- Bytes are the size of each record as the Datadog output sends it, estimated from its fields (the text of
-- every key and value plus quotes and separators). The router drops the raw `log` from the Datadog copy
-- (route.lua slim_for_datadog: `message`, which normalise.lua always sets, carries the text), so `log` is
-- not counted; raw_log_gb_per_month and saved_usd_per_month show what sending it beside `message` would add.
SELECT
  service,
  records,
  excluded,
  round(forwarded_records, 1) AS forwarded_records,
  round(forwarded_bytes) AS forwarded_bytes,
  round(100 * forwarded_records / records, 3) AS forwarded_share,
  round(forwarded_records / window_seconds * 2592000) AS events_per_month,
  round(forwarded_bytes / window_seconds * 2592000 / 1073741824, 3) AS gb_per_month,
  round(forwarded_bytes / window_seconds * 2592000 / 1073741824 * :ingest_usd_per_gb, 2) AS ingest_usd_per_month,
  round(forwarded_log_bytes / window_seconds * 2592000 / 1073741824, 3) AS raw_log_gb_per_month,
  round(forwarded_log_bytes / window_seconds * 2592000 / 1073741824 * :ingest_usd_per_gb, 2) AS saved_usd_per_month,
  round(forwarded_records / window_seconds * 2592000 / 1000000 * :index_usd_per_million, 2) AS index_usd_per_month,
  round(forwarded_bytes / window_seconds * 2592000 / 1073741824 * :ingest_usd_per_gb
        + forwarded_records / window_seconds * 2592000 / 1000000 * :index_usd_per_million, 2) AS total_usd_per_month
FROM (
  SELECT
    service,
    count(*) AS records,
    count_if(excluded) AS excluded,
    sum(CASE WHEN excluded THEN 0E0 WHEN at_level THEN 1E0 ELSE rate END) AS forwarded_records,
    sum(CASE WHEN excluded THEN 0E0 WHEN at_level THEN bytes ELSE bytes * rate END) AS forwarded_bytes,
    sum(CASE WHEN excluded THEN 0E0 WHEN at_level THEN log_bytes ELSE log_bytes * rate END) AS forwarded_log_bytes
  FROM (
    SELECT
      coalesce(service, 'unknown') AS service,
      least(greatest(CAST(:sample_rate AS double), 0E0), 1E0) AS rate,
      CASE level WHEN 'TRACE' THEN 0 WHEN 'DEBUG' THEN 1 WHEN 'INFO' THEN 2 WHEN 'WARN' THEN 3
        WHEN 'ERROR' THEN 4 WHEN 'FATAL' THEN 5 ELSE 2 END
        >= CASE :min_level WHEN 'TRACE' THEN 0 WHEN 'DEBUG' THEN 1 WHEN 'INFO' THEN 2 WHEN 'WARN' THEN 3
        WHEN 'ERROR' THEN 4 WHEN 'FATAL' THEN 5 ELSE 3 END AS at_level,
      coalesce(any_match(:exclude, p -> regexp_like(coalesce(message, ''), p)), false) AS excluded,
      coalesce(length(to_utf8(log)) + 9, 0) AS log_bytes,
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
  ) AS routed
  GROUP BY service
) AS per_service
CROSS JOIN (SELECT CAST(date_diff('second', :window_start, :window_end) AS double) AS window_seconds) AS w
ORDER BY total_usd_per_month DESC, service
