"""Deliver digests at least once per (digest window, destination), a repeat only after a crash mid-send.

How:

1. ``enqueue`` renders the digest for every destination and writes one outbox row per destination,
   keyed by (digest key, destination id), with the rendered payload. The service calls it inside the
   transaction that moves the job's watermark, so a window's deliveries are queued exactly when the
   window completes; a row already there is left alone (queued once, whatever re-runs).
2. ``flush`` claims each pending row (``pending`` -> ``sending``, committed before the call), sends
   it with a few attempts and exponential backoff, then marks it ``sent`` (the ledger). What still
   fails goes back to ``pending`` with its error: never dropped, retried on the next run, reported.
3. A row found ``sending`` by a later run means a crash between the call and the ledger write: the
   destination may or may not have the digest, and there is no way to ask. It is sent again
   ("in doubt"), using what each destination offers so the repeat is harmless or recognisable:

   * file: written again atomically, same name and content: no duplicate, ever;
   * SNS FIFO topic (``.fifo``): ``MessageDeduplicationId`` = a hash of (digest, destination), so SNS
     drops a repeat within its 5-minute deduplication interval; a standard topic has no
     deduplication: the repeat says "[resent]" in its subject and first line;
   * SES: no idempotency key exists for ``SendRawEmail``; the email's ``Message-ID`` is stable per
     digest, so mail systems that deduplicate by Message-ID show one message;
   * Slack (incoming webhooks take no idempotency key): the repeat starts with a "resent" line and,
     like every rendering, carries the digest id (``Digest.digest_id``);
   * Datadog events: the same ``aggregation_key`` groups the repeat with the first; title "[resent]".

   The window is as small as the destination allows: the claim is committed before the call, and
   the ledger write is the first thing after the destination's answer (its own short transaction).
   So: delivered at least once; twice only when the process dies while a call is in flight.

Secrets (the Slack webhook URL, the Datadog API key) are read when sending and appear in no row,
message or error: errors name the variable or secret id instead.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from logpipe import aws
from logpipe.digest.model import Digest, iso
from logpipe.errors import ConfigError, DeliveryError
from logpipe.extras import require
from logpipe.layout import from_ms, to_ms
from logpipe.state.outbox import PENDING, SENDING, Outbox, OutboxItem, OutboxRow

if TYPE_CHECKING:
    from logpipe.config import Config, DestinationConfig

log = logging.getLogger(__name__)

SNS_SUBJECT_MAX = 100
SNS_MESSAGE_MAX = 256 * 1024
DATADOG_TEXT_MAX = 4000
DATADOG_TITLE_MAX = 100


def destination_id(dest: DestinationConfig) -> str:
    """A stable name for the ledger: the configured name, else the kind and its target (no secrets)."""
    if dest.name:
        return dest.name
    target = {"file": dest.path, "sns": dest.topic_arn, "ses": ",".join(dest.recipients),
              "slack": dest.webhook_url_env or dest.webhook_url_secret, "datadog": "events"}[dest.kind]
    return f"{dest.kind}:{target}"


def check_destination(dest: DestinationConfig) -> None:
    """What each kind needs; raised when the digest is enqueued, not hours later when it is sent."""
    missing = {"file": not dest.path, "sns": not dest.topic_arn, "ses": not (dest.sender and dest.recipients),
               "slack": not (dest.webhook_url_env or dest.webhook_url_secret), "datadog": False}[dest.kind]
    if missing:
        need = {"file": "path", "sns": "topic_arn", "ses": "sender and recipients",
                "slack": "webhook_url_env (an environment variable) or webhook_url_secret (a Secrets Manager id)",
                "datadog": ""}[dest.kind]
        raise ConfigError(f"[[digest.destinations]] of kind {dest.kind!r} needs {need}")


# -- rendering per destination ---------------------------------------------------------------------


def _file_format(dest: DestinationConfig) -> str:
    if dest.format:
        return dest.format
    suffix = Path(dest.path or "").suffix.lower()
    return {".html": "html", ".htm": "html", ".json": "slack", ".txt": "text"}.get(suffix, "md")


def render_for(dest: DestinationConfig, digest: Digest) -> dict[str, Any]:
    """The payload a destination gets, rendered once (a resend sends exactly the same bytes)."""
    from logpipe.digest.render_html import mime_email, render_html
    from logpipe.digest.render_md import render_markdown
    from logpipe.digest.render_slack import render_slack

    check_destination(dest)
    if dest.kind == "file":
        fmt = _file_format(dest)
        if fmt == "html":
            content = render_html(digest)
        elif fmt == "slack":
            content = json.dumps(render_slack(digest), indent=2)
        elif fmt == "text":
            content = render_text_plain(digest)
        else:
            content = render_markdown(digest)
        path = str(dest.path)
        ext = {"html": "html", "slack": "json", "text": "txt"}.get(fmt, "md")
        stamp = {"start": digest.window_start.strftime("%Y%m%dT%H%MZ"), "end": digest.window_end.strftime("%Y%m%dT%H%MZ")}
        path = path + "digest-{start}-{end}." + ext if path.endswith("/") else path
        return {"path": path.format(**stamp), "content": content}
    if dest.kind == "sns":
        return {"topic_arn": dest.topic_arn, "subject": _sns_subject(digest.subject()),
                "message": short_text(digest, SNS_MESSAGE_MAX)}
    if dest.kind == "ses":
        raw = mime_email(digest, str(dest.sender), list(dest.recipients))
        return {"sender": dest.sender, "recipients": list(dest.recipients),
                "raw": base64.b64encode(raw).decode("ascii")}
    if dest.kind == "slack":
        return {"message": render_slack(digest)}
    severe = any(f.severity == "critical" for f in digest.findings)
    return {"title": digest.subject()[:DATADOG_TITLE_MAX], "text": short_text(digest, DATADOG_TEXT_MAX, markdown=True),
            "alert_type": "error" if severe else ("warning" if digest.findings else "info"),
            "tags": ["source:logpipe", *dest.tags], "aggregation_key": f"logpipe-digest-{digest.key}"[:100]}


def render_text_plain(digest: Digest) -> str:
    from rich.console import Console

    from logpipe.digest.render_text import render_text

    console = Console(record=True, width=120, file=open(os.devnull, "w"))  # noqa: SIM115
    render_text(digest, console)
    return console.export_text()


def _sns_subject(text: str) -> str:
    """SNS Subject: ASCII-ish, no line breaks, at most 100 characters."""
    text = " ".join(text.split())
    return text[:SNS_SUBJECT_MAX]


def short_text(digest: Digest, limit: int, markdown: bool = False) -> str:
    """The Markdown digest, shortened (fewer samples and findings) until it fits ``limit`` bytes."""
    from logpipe.digest.render_md import render_markdown

    for samples, findings in ((True, None), (False, None), (False, 20), (False, 5), (False, 0)):
        text = render_markdown(digest, samples=samples, max_findings=findings)
        if len(text.encode("utf-8")) <= limit:
            return text
    encoded = text.encode("utf-8")[: limit - 20]
    prefix = "%%% \n" if markdown else ""
    return prefix + encoded.decode("utf-8", errors="ignore") + "\n… (truncated)"


# -- the outbox --------------------------------------------------------------------------------------

CHANNEL = "digest"


def enqueue(conn: Connection, digest: Digest, destinations: list[DestinationConfig], job: str) -> int:
    """Queue the digest for every destination on ``conn`` (the caller's transaction); rows already
    queued for this (digest, destination) are kept as they are. Returns the rows added."""
    items = [OutboxItem(target=destination_id(dest), key=f"{job}:{digest.key}", kind=dest.kind, job=job,
                        payload=json.dumps(render_for(dest, digest)), window_start_ms=to_ms(digest.window_start),
                        window_end_ms=to_ms(digest.window_end))
             for dest in destinations]
    return Outbox(conn.engine, CHANNEL).enqueue(conn, items)


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)  # "destination (digest key)"
    failed: dict[str, str] = field(default_factory=dict)  # destination -> error
    resent_in_doubt: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class Deliverer:
    """Sends what the outbox holds; one instance per run."""

    def __init__(self, config: Config, engine: Engine, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.outbox = Outbox(engine, CHANNEL)
        self.sleep = sleep
        self.destinations = {destination_id(d): d for d in config.digest.destinations}

    def flush(self, digest_key: str | None = None) -> DeliveryReport:
        report = DeliveryReport()
        for row in self.outbox.rows(states=(PENDING, SENDING), key=digest_key):
            in_doubt = row.state == SENDING
            if in_doubt:
                report.resent_in_doubt += 1
            if not self.outbox.claim(row, durable=True):  # a delivery cannot be taken back
                continue
            error = self._send_with_retries(row, in_doubt)
            if error is None:
                self.outbox.mark_sent(row)
                report.sent.append(f"{row.target} ({row.key})")
            else:
                self.outbox.release(row, error)
                report.failed[row.target] = error
        return report

    def _send_with_retries(self, row: OutboxRow, in_doubt: bool = False) -> str | None:
        payload = json.loads(row.payload)
        # Idempotency for destinations that take a key, and a mark for a repeat after a crash.
        payload["delivery_id"] = delivery_id(row.key, row.target)
        payload["in_doubt"] = in_doubt
        attempts = self.config.digest.delivery_attempts
        error = None
        for attempt in range(attempts):
            try:
                send(row.kind, payload, self.destinations.get(row.target), self.config)
                return None
            except DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a library error we did not map: still kept and reported
                error = f"{type(exc).__name__}: {exc}"
            log.warning("digest delivery to %s failed (attempt %d of %d): %s", row.target, attempt + 1,
                        attempts, error)
            if attempt + 1 < attempts:
                self.sleep(self.config.digest.delivery_backoff_seconds * (2 ** attempt))
        return f"{row.target}: {error}"

    def status(self) -> dict[str, dict[str, int]]:
        return self.outbox.status()


# -- senders ------------------------------------------------------------------------------------------

RESENT_NOTE = ("resent: an earlier delivery of this digest was interrupted and may have arrived already "
               "(same digest id)")


def delivery_id(key: str, target: str) -> str:
    """The idempotency key of one (digest, destination): the same on every attempt and every run."""
    import hashlib

    return hashlib.sha256(f"{key}\x1f{target}".encode()).hexdigest()[:64]


def send(kind: str, payload: dict[str, Any], dest: DestinationConfig | None, config: Config) -> None:
    SENDERS[kind](payload, dest, config)


def _send_file(payload: dict[str, Any], _dest: DestinationConfig | None, _config: Config) -> None:
    path = Path(payload["path"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(payload["content"], encoding="utf-8")
        os.replace(tmp, path)  # atomic: a reader never sees half a digest
    except OSError as exc:
        raise DeliveryError(f"cannot write the digest to {path}: {exc.strerror or exc}") from exc


def _aws_error(what: str, exc: Exception) -> DeliveryError:
    return DeliveryError(f"{what}: {aws.error_code(exc)}: {exc}")


def _send_sns(payload: dict[str, Any], dest: DestinationConfig | None, config: Config) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    arn = payload["topic_arn"]
    region = arn.split(":")[3] if arn.count(":") >= 5 else config.aws.region  # the topic's own region
    extra: dict[str, str] = {}
    subject, message = payload["subject"], payload["message"]
    if arn.endswith(".fifo"):  # a FIFO topic needs a group and drops a repeated deduplication id
        extra = {"MessageGroupId": "logpipe-digest", "MessageDeduplicationId": payload.get("delivery_id") or ""}
        extra = {k: v for k, v in extra.items() if v}
    elif payload.get("in_doubt"):
        subject = _sns_subject("[resent] " + subject)
        message = RESENT_NOTE + "\n\n" + message
    try:
        aws.client("sns", region).publish(TopicArn=arn, Subject=subject, Message=message, **extra)
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(f"cannot publish the digest to SNS topic {arn}", exc) from exc


def _send_ses(payload: dict[str, Any], dest: DestinationConfig | None, config: Config) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    region = config.aws.region
    try:
        aws.client("ses", region).send_raw_email(
            Source=payload["sender"], Destinations=payload["recipients"],
            RawMessage={"Data": base64.b64decode(payload["raw"])})
    except (ClientError, BotoCoreError) as exc:
        raise _aws_error(f"cannot email the digest from {payload['sender']} through SES", exc) from exc


def slack_webhook_url(dest: DestinationConfig, config: Config) -> str:
    """The webhook URL (a secret): from the environment variable or Secrets Manager. Never logged."""
    url = aws.read_secret(env=dest.webhook_url_env, secret_id=None if dest.webhook_url_env else dest.webhook_url_secret,
                          region=config.aws.region, json_keys=("webhook_url", "url"),
                          what="the Slack webhook URL", error=DeliveryError)
    if not url.startswith("https://") and not url.startswith("http://"):
        raise DeliveryError(f"Secrets Manager secret {dest.webhook_url_secret!r} holds no webhook URL "
                            "(expected the URL itself or JSON with 'webhook_url')")
    return url


def _send_slack(payload: dict[str, Any], dest: DestinationConfig | None, config: Config) -> None:
    if dest is None:
        raise DeliveryError("the Slack destination is no longer in [[digest.destinations]]: add it back to send")
    url = slack_webhook_url(dest, config)
    where = f"${dest.webhook_url_env}" if dest.webhook_url_env else f"secret {dest.webhook_url_secret!r}"
    message = dict(payload["message"])
    if payload.get("in_doubt"):
        message["text"] = "[resent] " + str(message.get("text", ""))
        blocks = list(message.get("blocks", []))
        blocks = blocks if len(blocks) < 50 else blocks[:48] + blocks[-1:]  # Slack's limit; the footer stays
        message["blocks"] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": RESENT_NOTE}]}, *blocks]
    request = urllib.request.Request(url, data=json.dumps(message).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read(2000).decode("utf-8", errors="replace")
            if response.status >= 300:
                raise DeliveryError(f"Slack webhook ({where}) answered HTTP {response.status}: {body[:200]}")
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode("utf-8", errors="replace")
        raise DeliveryError(f"Slack webhook ({where}) answered HTTP {exc.code}: {body[:200]}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach the Slack webhook ({where}): {type(reason).__name__}") from None


def _send_datadog(payload: dict[str, Any], _dest: DestinationConfig | None, config: Config) -> None:
    require("datadog", "digest delivery to Datadog")
    from datadog_api_client import ApiClient
    from datadog_api_client.exceptions import ApiException
    from datadog_api_client.v1.api.events_api import EventsApi
    from datadog_api_client.v1.model.event_alert_type import EventAlertType
    from datadog_api_client.v1.model.event_create_request import EventCreateRequest

    from logpipe.sinks.datadog import datadog_configuration, read_api_key

    key = read_api_key(config.metrics, config.aws.region)
    configuration = datadog_configuration(config.metrics, key, retries=0)
    title = ("[resent] " + payload["title"])[:DATADOG_TITLE_MAX] if payload.get("in_doubt") else payload["title"]
    body = EventCreateRequest(title=title, text=payload["text"],
                              alert_type=EventAlertType(payload["alert_type"]), tags=payload["tags"],
                              aggregation_key=payload["aggregation_key"], source_type_name="logpipe")
    try:
        with ApiClient(configuration) as client:
            EventsApi(client).create_event(body=body)
    except ApiException as exc:
        raise DeliveryError(f"Datadog refused the digest event: HTTP {exc.status} {exc.reason}") from None
    except Exception as exc:
        text = str(exc).replace(key, "***")
        raise DeliveryError(f"cannot send the digest event to Datadog at {configuration.host}: "
                            f"{type(exc).__name__}: {text[:300]}") from None


SENDERS: dict[str, Callable[[dict[str, Any], DestinationConfig | None, Config], None]] = {
    "file": _send_file, "sns": _send_sns, "ses": _send_ses, "slack": _send_slack, "datadog": _send_datadog,
}


def no_destinations() -> ConfigError:
    """The error of ``--send`` with nothing configured (checked before the digest is built)."""
    return ConfigError("no digest destinations: add [[digest.destinations]] (kind = file, sns, ses, slack "
                       "or datadog) to the config, or write the digest with --output FILE")


def deliver_now(config: Config, digest: Digest, destinations: list[DestinationConfig] | None = None,
                job: str = "digest") -> DeliveryReport:
    """Queue (once) and send the digest to the destinations: what ``logpipe digest --send`` does."""
    from logpipe.state.db import open_state

    dests = list(destinations if destinations is not None else config.digest.destinations)
    if not dests:
        raise no_destinations()
    engine = open_state(config.state.url)
    with engine.begin() as conn:
        enqueue(conn, digest, dests, job)
    return Deliverer(config, engine).flush(f"{job}:{digest.key}")


def ledger(engine: Engine) -> list[dict[str, Any]]:
    """Delivered digests (for tests and ``/status``)."""
    return [{"digest": r.key, "destination": r.target, "attempts": r.attempts,
             "sent": iso(from_ms(r.sent_ms or 0))} for r in Outbox(engine, CHANNEL).sent()]
