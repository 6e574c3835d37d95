"""Infra test material: a config with every optional part of the stacks on."""

from __future__ import annotations

from typing import Any

from logpipe.config import Config


def full_config(**infra: Any) -> Config:
    """Every optional part on: dynamic partitioning, secrets, an SNS digest, the alarm topic."""
    return Config.model_validate({
        "store": {"prefix": "ecs/logs", "service_partition": True},
        "engine": {"workgroup": "logs-wg", "database": "applogs", "table": "records"},
        "metrics": {"namespace": "Shop/Logs", "datadog_api_key_secret": "logpipe/datadog"},
        "firelens": {"firehose_stream": "shop-logs", "datadog": {
            "api_key_secret_arn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-AbCdEf"}},
        "digest": {"destinations": [{"kind": "sns", "topic_arn": "arn:aws:sns:eu-west-1:111122223333:digests"}]},
        "alarms": {"create_topic": True, "topic_emails": ["oncall@example.com"]},
        "infra": {"stack_prefix": "shop", "bucket": "shop-ecs-logs", "dynamic_partitioning": True,
                  "firehose_buffer_mb": 128, **infra},
    })
