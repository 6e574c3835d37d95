-- logpipe: normalise every record to the log record contract (see DESIGN.md, "The log record").
--
-- Called by the Fluent Bit Lua filter as normalise(tag, timestamp, record) with time_as_table On,
-- so `timestamp` is {sec = ..., nsec = ...}. Returns 2 (record changed, timestamp kept).
--
--   level    one of TRACE DEBUG INFO WARN ERROR FATAL: from the app's level field (any common
--            name and spelling, pino's numbers) or, for plain text, from the words in the line
--   service  the app's own `service` if it set one, else derived from container_name
--   time     ISO 8601 UTC with milliseconds: the app's time field when it parses (ISO 8601 with
--            any offset, or epoch seconds/milliseconds/nanoseconds), else the router's timestamp
--   message  the app's message field, else the raw line; the raw line always stays in `log`
--
-- Why Lua and not modify/nest filters: the mapping has fall-backs and conversions (time zones,
-- numeric levels) that the declarative filters cannot express. LuaJIT 2.1 / Lua 5.1 syntax only.

local LEVEL_NAMES = {
  trace = "TRACE", verbose = "TRACE", trc = "TRACE", trce = "TRACE",
  debug = "DEBUG", dbg = "DEBUG", dbug = "DEBUG", fine = "DEBUG", finer = "TRACE", finest = "TRACE",
  info = "INFO", information = "INFO", informational = "INFO", inf = "INFO", notice = "INFO",
  warn = "WARN", warning = "WARN", wrn = "WARN",
  error = "ERROR", err = "ERROR", eror = "ERROR", fail = "ERROR", severe = "ERROR",
  fatal = "FATAL", critical = "FATAL", crit = "FATAL", crt = "FATAL", panic = "FATAL",
  emerg = "FATAL", emergency = "FATAL", alert = "FATAL", ftl = "FATAL",
}

-- pino / bunyan numeric levels
local LEVEL_NUMBERS = { [10] = "TRACE", [20] = "DEBUG", [30] = "INFO", [40] = "WARN", [50] = "ERROR", [60] = "FATAL" }

local LEVEL_KEYS = { "level", "severity", "lvl", "levelname", "loglevel", "log.level", "@l", "Level", "Severity" }
local TIME_KEYS = { "time", "timestamp", "ts", "@timestamp", "@t", "datetime", "Timestamp" }
local MESSAGE_KEYS = { "message", "msg", "@m", "Message", "text" }

-- Level words in free text. The one that comes first in the line wins: formats put the level near
-- the start ("2024-05-01 12:00:02 WARN ... Error budget at 80%" is a warning).
local TEXT_LEVELS = {
  FATAL = "FATAL", PANIC = "FATAL", CRITICAL = "FATAL", CRIT = "FATAL", EMERG = "FATAL",
  ERROR = "ERROR", ERR = "ERROR", EXCEPTION = "ERROR", TRACEBACK = "ERROR", FAIL = "ERROR",
  WARN = "WARN", WARNING = "WARN",
  DEBUG = "DEBUG", DBUG = "DEBUG",
  TRACE = "TRACE", TRCE = "TRACE",
  INFO = "INFO",
}

local function trim(s)
  return (string.gsub(s, "^%s+", ""):gsub("%s+$", ""))
end

local function normalise_level_value(value)
  if type(value) == "number" then
    return LEVEL_NUMBERS[value]
  end
  if type(value) ~= "string" then
    return nil
  end
  local text = string.lower(trim(value))
  if LEVEL_NAMES[text] then
    return LEVEL_NAMES[text]
  end
  local number = tonumber(text)
  if number then
    return LEVEL_NUMBERS[number]
  end
  return nil
end

-- Exception headers that name no level: the first line of a stack trace as each runtime prints it.
--   Java/Kotlin/Scala  java.lang.IllegalStateException: ...   Exception in thread "main" kotlin.X: ...
--                      scala.MatchError: 3 (of class ...)      java.lang.StackOverflowError
--   .NET               System.InvalidOperationException: ...  Unhandled exception. System.X: ...
--   Node.js            TypeError: Cannot read ...   Error: boom   RangeError [ERR_X]: ...   Uncaught X: ...
--   Python             Traceback (most recent call last):       KeyError: 'items' (a bare last line)
--   Ruby               app.rb:3:in 'Foo#bar': undefined method 'x' for nil (NoMethodError)
--                      ActionView::Template::Error (undefined local variable ...)
--   Go                 panic: ...   goroutine 1 [running]:   fatal error: ... (FATAL)
local HEADER_PREFIXES = { "Exception in thread \"[^\"]*\" ", "Unhandled exception%. ", "Unhandled Exception: ",
                          "Uncaught ", "%[" }
local CLASS_SUFFIXES = { "Exception", "Error", "Throwable" }

local function class_is_exception(name)
  name = string.gsub(name, "%$.*$", "")  -- a JVM inner class: HttpServerErrorException$BadGateway
  for _, suffix in ipairs(CLASS_SUFFIXES) do
    if #name >= #suffix and string.sub(name, -#suffix) == suffix then
      return true
    end
  end
  return false
end

-- The exception class a header line starts with (dotted, Ruby's :: or JS's $ included), or nil.
local function header_class(line)
  local rest = line
  for _, prefix in ipairs(HEADER_PREFIXES) do
    local stripped = string.gsub(rest, "^" .. prefix, "", 1)
    rest = stripped
  end
  local name, after = string.match(rest, "^([%a_$][%w_$%.:]*)(.*)$")
  if not name then
    return nil
  end
  name = string.gsub(name, ":+$", "")
  after = string.sub(rest, #name + 1)
  if not class_is_exception(name) then
    return nil
  end
  -- what may follow the class: ": message", nothing, " [ERR_CODE]: ..." (Node), " (message)" (Rails)
  if after == "" or string.find(after, "^:") or string.find(after, "^ %[[%w_]+%]:")
      or string.find(after, "^ %(") or string.find(after, "^%]") then
    return name
  end
  return nil
end

local function stack_trace_level(text)
  local first = string.match(text, "^[^\r\n]*")
  if string.find(first, "^panic: ") or string.find(first, "^goroutine %d+ %[") or string.find(first, "^fatal error: ") then
    return "FATAL"
  end
  if string.find(first, "^Traceback %(most recent call last%):") then
    return "ERROR"
  end
  if header_class(first) then
    return "ERROR"
  end
  -- Ruby's uncaught exception: "file:line:in 'method': message (ClassName)"
  local ruby_class = string.match(first, "^%S+:%d+:in .*%(([%u][%w_:]*)%)%s*$")
  if ruby_class then
    return "ERROR"
  end
  -- Python's warnings module: "path.py:12: DeprecationWarning: message"
  if string.find(first, "^%S+:%d+: [%w_%.]*Warning: ") then
    return "WARN"
  end
  return nil
end

local function level_from_text(text)
  if type(text) ~= "string" or text == "" then
    return nil
  end
  local header = stack_trace_level(text)
  if header then
    return header
  end
  local head = string.upper(string.sub(text, 1, 200))
  local best, best_at = nil, nil
  for word, level in pairs(TEXT_LEVELS) do
    local at = string.find(head, "%f[%w]" .. word .. "%f[%W]")
    if at and (best_at == nil or at < best_at) then  -- two words never start at one place
      best, best_at = level, at
    end
  end
  return best
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian), H. Hinnant's algorithm: no os.time,
-- whose result depends on the router's local time zone.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

-- ISO 8601 UTC with milliseconds from epoch seconds and milliseconds.
local function format_utc(sec, ms)
  local days = math.floor(sec / 86400)
  local rem = sec - days * 86400
  local y, m, d = civil_from_days(days)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
    math.floor(rem / 3600), math.floor(rem % 3600 / 60), rem % 60, ms)
end

-- Epoch milliseconds of an ISO 8601 string with Z, an offset or no zone (taken as UTC), or nil.
local function parse_iso8601(text)
  local y, mo, d, h, mi, s, rest = string.match(text,
    "^%s*(%d%d%d%d)-(%d%d)-(%d%d)[T ](%d%d):(%d%d):(%d%d)(.-)%s*$")
  if not y then
    return nil
  end
  local frac = 0
  local fraction = string.match(rest, "^[.,](%d+)")
  if fraction then
    frac = tonumber(string.sub(fraction .. "000", 1, 3))
    rest = string.sub(rest, #fraction + 2)
  end
  local offset = 0
  if rest == "" or rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = string.match(rest, "^([+-])(%d%d):?(%d%d)$")
    if not sign then
      sign, oh = string.match(rest, "^([+-])(%d%d)$")
      om = "00"
    end
    if not sign then
      return nil
    end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60
    if sign == "-" then offset = -offset end
  end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then
    return nil
  end
  local sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
  return sec * 1000 + frac
end

-- Epoch milliseconds of a numeric time: seconds, milliseconds or nanoseconds by magnitude.
local function epoch_ms(number)
  if number > 1e17 then return math.floor(number / 1e6) end   -- nanoseconds
  if number > 1e11 then return math.floor(number) end         -- milliseconds
  return math.floor(number * 1000 + 0.5)                       -- seconds (fraction kept to ms)
end

local function time_from_value(value)
  if type(value) == "number" then
    return epoch_ms(value)
  end
  if type(value) == "string" then
    local ms = parse_iso8601(value)
    if ms then return ms end
    local number = tonumber(value)
    if number then return epoch_ms(number) end
  end
  return nil
end

local function router_time_ms(timestamp)
  if type(timestamp) == "table" then
    return (timestamp.sec or 0) * 1000 + math.floor((timestamp.nsec or 0) / 1e6)
  end
  if type(timestamp) == "number" then
    return math.floor(timestamp * 1000)
  end
  return 0
end

-- ECS on EC2 names containers ecs-<family>-<revision>-<name>-<hex>; Fargate uses the name itself.
local function service_from_container(name)
  if type(name) ~= "string" or name == "" then
    return nil
  end
  name = string.gsub(name, "^/", "")
  local inner = string.match(name, "^ecs%-.-%-%d+%-(.-)%-%x+$")
  if inner and inner ~= "" then
    return inner
  end
  return name
end

local function first_value(record, keys)
  for _, key in ipairs(keys) do
    local value = record[key]
    if value ~= nil and value ~= "" then
      return value, key
    end
  end
  return nil, nil
end

function normalise(tag, timestamp, record)
  -- message: the app's field, else the raw line without its line break
  local message = first_value(record, MESSAGE_KEYS)
  if type(message) ~= "string" then
    local raw = record["log"]
    if type(raw) == "string" then
      message = string.gsub(raw, "[\r\n]+$", "")
    elseif message ~= nil then
      message = tostring(message)
    end
  end
  if message ~= nil then
    record["message"] = message
  end

  -- level
  local level = nil
  for _, key in ipairs(LEVEL_KEYS) do
    level = normalise_level_value(record[key])
    if level then break end
  end
  if not level then
    level = level_from_text(message) or "INFO"
  end
  record["level"] = level

  -- service
  local service = record["service"]
  if type(service) ~= "string" or service == "" then
    service = record["service.name"]
  end
  if type(service) ~= "string" or service == "" then
    service = service_from_container(record["container_name"])
  end
  if service then
    record["service"] = service
  end

  -- time
  local app_time, time_key = first_value(record, TIME_KEYS)
  local ms = nil
  if app_time ~= nil then
    ms = time_from_value(app_time)
    if ms == nil and time_key == "time" then
      record["time_original"] = app_time  -- unparseable: keep it visible, do not lose it
    end
  end
  if ms == nil then
    ms = router_time_ms(timestamp)
  end
  record["time"] = format_utc(math.floor(ms / 1000), ms % 1000)

  return 2, timestamp, record
end
