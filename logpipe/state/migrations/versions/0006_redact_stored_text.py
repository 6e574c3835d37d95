"""Re-redact what earlier versions stored: templates, examples, findings, digests, results, services.

Why: before redaction was part of masking, a secret that repeated unchanged became a constant token
of its pattern's template (``Using AWS key AKIA… <*>``) and was stored as such: in ``patterns``, in
the miner's state, in findings and in queued or sent digests; query results kept for the console
and service names (metric dimensions, pattern counts) were stored as the logs had them. This
migration runs the current rules (``logpipe.redact``) over every such row once:

* templates (``patterns`` and the miner's state): secret shapes become ``<*>`` as mining now makes
  them, anything else ``redact`` finds a ``<redacted:KIND>`` marker; pattern ids stay (they are
  identities the console, findings and aliases refer to);
* example lines, findings (title and every text of the JSON body), digest payloads in the outbox
  (sent ones too: the console shows digests as sent), spooled metric dimensions, kept query
  results (every text cell of the Parquet data), and service names (rows that now share a name
  are merged, counts added).

The rows keep their keys; an example whose redacted text equals another example of its pattern is
dropped as the duplicate it now is. A raw SES email in the outbox (base64 MIME) is left alone: it is
sent once and never shown. Downgrading does nothing: redacted text cannot be restored.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from logpipe.redact import mask_secrets, redact

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_patterns = sa.table("patterns", sa.column("pattern_id", sa.String), sa.column("template", sa.Text))
_examples = sa.table("pattern_examples", sa.column("pattern_id", sa.String), sa.column("digest", sa.String),
                     sa.column("service", sa.String), sa.column("line", sa.Text))
_miner = sa.table("pattern_miner_state", sa.column("name", sa.String), sa.column("state", sa.Text))
_findings = sa.table("findings", sa.column("finding_id", sa.String), sa.column("service", sa.String),
                     sa.column("title", sa.Text), sa.column("body", sa.Text))
_outbox = sa.table("outbox", sa.column("target", sa.String), sa.column("item_key", sa.String), sa.column("channel", sa.String),
                   sa.column("payload", sa.Text), sa.column("last_error", sa.Text))
_points = sa.table("metric_points", sa.column("id", sa.Integer), sa.column("dims", sa.Text))
_results = sa.table("query_results", sa.column("result_id", sa.String), sa.column("data", sa.LargeBinary))
_counts = sa.table("pattern_counts", sa.column("pattern_id", sa.String), sa.column("service", sa.String),
                   sa.column("hour_ms", sa.BigInteger), sa.column("n", sa.BigInteger))
_service_counts = sa.table("service_counts", sa.column("service", sa.String), sa.column("hour_ms", sa.BigInteger),
                           sa.column("records", sa.BigInteger), sa.column("errors", sa.BigInteger))


def template_text(template: str) -> str:
    """A stored template as mining makes it now (secret shapes are ``<*>``), then redacted."""
    return redact(mask_secrets(template, extra=False), ip=True)


def _texts(value: Any, skip: frozenset[str] = frozenset()) -> Any:
    """Every string in a JSON value redacted (keys kept; keys in ``skip`` left as they are)."""
    if isinstance(value, str):
        return redact(value, ip=True)
    if isinstance(value, list):
        return [_texts(v, skip) for v in value]
    if isinstance(value, dict):
        return {k: (v if k in skip else _texts(v, skip)) for k, v in value.items()}
    return value


def _json_texts(text: str | None, skip: frozenset[str] = frozenset()) -> str | None:
    """The JSON text with its strings redacted; the text itself (same bytes) when nothing changes."""
    if not text:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return redact(text, ip=True)
    redacted = _texts(value, skip)
    return text if redacted == value else json.dumps(redacted, ensure_ascii=False)


def _miner_state(text: str | None) -> str | None:
    if not text:
        return text
    try:
        state = json.loads(text)
    except ValueError:
        return text
    for item in state.get("patterns", []):
        old = str(item.get("template", ""))
        new = template_text(old)
        if new == old:
            continue
        item["template"] = new
        tokens = item.get("tokens")
        if isinstance(tokens, list):
            split = new.split()
            item["tokens"] = split if len(split) == len(tokens) else [template_text(str(t)) for t in tokens]
        item["wild"] = {k: [template_text(str(x)) for x in v] for k, v in item.get("wild", {}).items()}
        item["examples"] = [redact(str(e), ip=True) for e in item.get("examples", [])]
    return json.dumps(state)


def _parquet(data: bytes) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Results kept since are Arrow IPC files (logpipe.queries.stored): met only when the database went
    # back below this revision and up again.
    ipc = bytes(data[:6]) == b"ARROW1"
    table = pa.ipc.open_file(pa.BufferReader(data)).read_all() if ipc else pq.read_table(io.BytesIO(data))
    changed = False
    for i, field in enumerate(table.schema):
        values = table.column(i).to_pylist()
        redacted = [_texts(v) for v in values]
        if redacted != values:
            table = table.set_column(i, field, pa.array(redacted, type=field.type))
            changed = True
    if not changed:
        return data
    out = io.BytesIO()
    if ipc:
        with pa.ipc.new_file(out, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, out)
    return out.getvalue()


def _merge_services(conn: sa.Connection, table: sa.TableClause, keys: list[str], sums: list[str]) -> None:
    """Rename services whose name redacts differently; rows that now share a key are added up."""
    services = [s for s in conn.execute(sa.select(table.c.service).distinct()).scalars() if s is not None]
    for service in services:
        new = redact(service, ip=True)[:255]
        if new == service:
            continue
        rows = conn.execute(sa.select(table).where(table.c.service == service)).mappings().all()
        conn.execute(sa.delete(table).where(table.c.service == service))
        for row in rows:
            key = {k: (new if k == "service" else row[k]) for k in keys}
            where = sa.and_(*[table.c[k] == v for k, v in key.items()])
            found = conn.execute(sa.select(table).where(where)).mappings().first()
            if found is None:
                conn.execute(sa.insert(table).values({**key, **{s: row[s] for s in sums}}))
            else:
                conn.execute(sa.update(table).where(where).values({s: found[s] + row[s] for s in sums}))


def upgrade() -> None:
    conn = op.get_bind()
    for pid, template in conn.execute(sa.select(_patterns.c.pattern_id, _patterns.c.template)).all():
        new = template_text(template)
        if new != template:
            conn.execute(sa.update(_patterns).where(_patterns.c.pattern_id == pid).values(template=new))
    for name, state in conn.execute(sa.select(_miner.c.name, _miner.c.state)).all():
        new_state = _miner_state(state)
        if new_state != state:
            conn.execute(sa.update(_miner).where(_miner.c.name == name).values(state=new_state))

    seen: set[tuple[str, str]] = set()
    for pid, digest, service, line in conn.execute(
            sa.select(_examples.c.pattern_id, _examples.c.digest, _examples.c.service, _examples.c.line)
            .order_by(_examples.c.pattern_id, _examples.c.digest)).all():
        new_line, new_service = redact(line, ip=True), redact(service, ip=True)[:255]
        new_digest = hashlib.sha256(new_line.encode("utf-8", "replace")).hexdigest()[:32]
        where = sa.and_(_examples.c.pattern_id == pid, _examples.c.digest == digest)
        taken = new_digest != digest and conn.execute(sa.select(_examples.c.digest).where(
            _examples.c.pattern_id == pid, _examples.c.digest == new_digest)).first() is not None
        if (pid, new_digest) in seen or taken:  # the same example as another, once redacted
            conn.execute(sa.delete(_examples).where(where))
            continue
        seen.add((pid, new_digest))
        if (new_line, new_service, new_digest) != (line, service, digest):
            conn.execute(sa.update(_examples).where(where).values(line=new_line, service=new_service,
                                                                  digest=new_digest))

    for fid, service, title, body in conn.execute(
            sa.select(_findings.c.finding_id, _findings.c.service, _findings.c.title, _findings.c.body)).all():
        values = {"service": redact(service, ip=True)[:255] if service else service,
                  "title": redact(title, ip=True), "body": _json_texts(body)}
        if values != {"service": service, "title": title, "body": body}:
            conn.execute(sa.update(_findings).where(_findings.c.finding_id == fid).values(**values))

    for target, key, payload, error in conn.execute(
            sa.select(_outbox.c.target, _outbox.c.item_key, _outbox.c.payload, _outbox.c.last_error)
            .where(_outbox.c.channel == "digest")).all():
        new_payload = _json_texts(payload, skip=frozenset({"raw", "topic_arn", "path", "sender", "recipients"}))
        new_error = redact(error, ip=True) if error else error
        if (new_payload, new_error) != (payload, error):
            conn.execute(sa.update(_outbox).where(_outbox.c.channel == "digest", _outbox.c.target == target,
                                                  _outbox.c.item_key == key)
                         .values(payload=new_payload, last_error=new_error))
    for row_id, dims in conn.execute(sa.select(_points.c.id, _points.c.dims)).all():
        new_dims = _json_texts(dims)
        if new_dims != dims:
            conn.execute(sa.update(_points).where(_points.c.id == row_id).values(dims=new_dims))
    for result_id, data in conn.execute(sa.select(_results.c.result_id, _results.c.data)).all():
        new_data = _parquet(data)
        if new_data != data:
            conn.execute(sa.update(_results).where(_results.c.result_id == result_id).values(data=new_data))

    _merge_services(conn, _counts, ["pattern_id", "service", "hour_ms"], ["n"])
    _merge_services(conn, _service_counts, ["service", "hour_ms"], ["records", "errors"])


def downgrade() -> None:
    """Nothing to undo: the redacted text cannot be restored, and the schema is unchanged."""
