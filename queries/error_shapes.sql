-- name: error_shapes
-- description: ERROR/FATAL records grouped by service, hour and masked message ("shape"), with counts and one raw example each: the input of the error-pattern detectors (logpipe detect). Rendered by logpipe/detectors/shapes.py from the masks in logpipe/patterns/masking.py.
-- window: 1h

SELECT
  service,
  date_trunc('hour', ts) AS bucket,
  shape,
  count(*) AS records,
  min(message) AS example,
  min(ts) AS first_ts,
  max(ts) AS last_ts
FROM (
  SELECT
    ts,
    coalesce(service, 'unknown') AS service,
    coalesce(message, '') AS message,
    regexp_replace(regexp_replace(substr(coalesce(message, ''), 1, 2000), '=[^\s=:,;()\[\]{}\"''<>|&]*[.@/0-9][^\s=:,;()\[\]{}\"''<>|&]*', '=<*>'), '[0-9]+-[0-9]+-[0-9]+[T ][0-9]+:[0-9]+:[0-9]+(?:[.,][0-9]+)?(?:Z|[+-][0-9]+(?::[0-9]+)?)?|(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\s+[0-9]+,?\s+[0-9]+:[0-9]+:[0-9]+(?:\s+[0-9]+)?|[0-9]+:[0-9]+:[0-9]+(?:[.,][0-9]+)?|[A-Za-z][A-Za-z0-9+.-]*://[^\s\"''<>|]+|[A-Za-z0-9_.~+-]*(?:/[A-Za-z0-9_.~%+@-]*){2,}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|net|org|io|edu|gov|internal|local|lan|cloud)\b|\"[^\"\n]*\"|[^\s=:,;()\[\]{}\"''<>|]*[0-9][^\s=:,;()\[\]{}\"''<>|]*', '<*>') AS shape
  FROM logs
  WHERE dt BETWEEN :dt_start AND :dt_end
    AND concat(dt, hour) BETWEEN :dthour_start AND :dthour_end
    AND ts >= :window_start AND ts < :window_end
    AND level IN ('ERROR', 'FATAL')
) AS errors
GROUP BY service, date_trunc('hour', ts), shape
ORDER BY records DESC
