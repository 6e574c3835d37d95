"""The CloudFormation templates, built from the configuration as plain dicts.

Two stacks, because they change at different speeds and fail differently:

* **stateful** — the bucket (and its access-log bucket), the KMS key, the Glue database and table, the
  Athena workgroup. Deleting or replacing any of these loses data or history, so this stack is
  deployed rarely and carefully.
* **stateless** — the Firehose delivery stream, its log group and the IAM roles. Any of these can be
  deleted and created again without losing a record that is already in S3.

The stateless stack imports what it needs from the stateful one (``Fn::ImportValue`` of the exports
``<stateful stack>-BucketName`` etc.), so the link is checked by CloudFormation itself: the stateful
stack cannot drop an export the stateless stack still uses.

Paths are never typed here: the Firehose prefixes and the Glue partition projection come from
:class:`logpipe.layout.Layout`, and the table's columns from :data:`logpipe.schema.RAW_COLUMNS`, so the
stacks, the local store and the engines describe the same objects.

Intrinsic functions use the long form (``{"Fn::Sub": ...}``) so the dicts dump to YAML and JSON alike
without custom tags.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logpipe.config import Config
from logpipe.errors import ConfigError
from logpipe.infra.athena import glue_view_input
from logpipe.layout import Layout, daily_table_name
from logpipe.schema import COMPACTED_COLUMNS, RAW_COLUMNS

TEMPLATE_VERSION = "2010-09-09"
ATHENA_RESULTS_PREFIX = "athena-results"
ATHENA_RESULTS_DAYS = 7
FIREHOSE_LOG_STREAM = "DestinationDelivery"
FIREHOSE_LOG_RETENTION_DAYS = 30
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# Records without a ``service`` still get a partition (instead of failing into the error prefix,
# where no query would see them): the reader derives the real service from container_name.
SERVICE_PARTITION_QUERY = '{service: (.service // "unknown")}'
# Firehose's own rule: dynamic partitioning needs a buffer of at least 64 MiB.
DYNAMIC_PARTITIONING_MIN_BUFFER_MB = 64
# S3's rule: objects go to STANDARD_IA no sooner than 30 days, and stay there 30 days.
IA_MIN_STAY_DAYS = 30

STACK_KINDS = ("stateful", "stateless")


def Sub(text: str | list[Any]) -> dict[str, Any]:
    """``Fn::Sub`` (the helpers are named like the CloudFormation functions they write)."""
    return {"Fn::Sub": text}


def Ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def GetAtt(resource: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def ImportValue(name: str) -> dict[str, Any]:
    """An export of the stateful stack, whose name is the ``StatefulStackName`` parameter."""
    return {"Fn::ImportValue": Sub(f"${{StatefulStackName}}-{name}")}


def SubIfNeeded(text: str) -> str | dict[str, Any]:
    """``Fn::Sub`` only when the text names a variable (cfn-lint warns about a needless one)."""
    return Sub(text) if "${" in text else text


def sub_literal(text: str) -> str:
    """Text that ``Fn::Sub`` must leave as it is: ``${x}`` becomes ``${!x}``."""
    return text.replace("${", "${!")


@dataclass(frozen=True)
class Names:
    """Every name the two stacks share, derived once from the config."""

    stack_prefix: str
    stateful_stack: str
    stateless_stack: str
    bucket: str | None  # None: a name from the account and region (see bucket_name_sub)
    database: str
    table: str
    parquet_table: str  # the compacted hours ([compact] table)
    daily_table: str  # the merged days ([compact] table + "_daily")
    workgroup: str
    delivery_stream: str
    log_prefix: str
    namespace: str

    @property
    def bucket_name_sub(self) -> str:
        """The bucket name as ``Fn::Sub`` text (the account id makes a default name unique)."""
        return self.bucket or f"{self.stack_prefix}-logs-${{AWS::AccountId}}-${{AWS::Region}}"

    @property
    def access_log_bucket_sub(self) -> str:
        if self.bucket:
            return f"{self.bucket[:51]}-access-logs"
        return f"{self.stack_prefix}-access-logs-${{AWS::AccountId}}-${{AWS::Region}}"


def names_for(config: Config) -> Names:
    infra = config.infra
    # "primary" is every account's built-in workgroup: we cannot create (or enforce limits on) it.
    workgroup = config.engine.workgroup if config.engine.workgroup != "primary" else infra.stack_prefix
    return Names(
        stack_prefix=infra.stack_prefix,
        stateful_stack=f"{infra.stack_prefix}-stateful",
        stateless_stack=f"{infra.stack_prefix}-stateless",
        bucket=infra.bucket,
        database=config.engine.database,
        table=config.engine.table,
        parquet_table=config.compact.table,
        daily_table=daily_table_name(config.compact.table),
        workgroup=workgroup,
        delivery_stream=config.firelens.firehose_stream,
        log_prefix=config.store.prefix,
        namespace=config.metrics.namespace,
    )


def layout_for(config: Config) -> Layout:
    """The layout the stacks write and describe: the store's, with Firehose's service level if on."""
    infra, store = config.infra, config.store
    if infra.dynamic_partitioning != store.service_partition:
        raise ConfigError(
            f"infra.dynamic_partitioning = {str(infra.dynamic_partitioning).lower()} but "
            f"store.service_partition = {str(store.service_partition).lower()} in {config.source}: "
            "Firehose would write a different layout from the one logpipe reads; set both the same")
    return Layout(store.prefix, store.service_partition)


def _check(config: Config) -> None:
    infra = config.infra
    if infra.dynamic_partitioning and infra.firehose_buffer_mb < DYNAMIC_PARTITIONING_MIN_BUFFER_MB:
        raise ConfigError(
            f"infra.firehose_buffer_mb = {infra.firehose_buffer_mb} in {config.source}: Firehose needs at "
            f"least {DYNAMIC_PARTITIONING_MIN_BUFFER_MB} with dynamic partitioning; raise it or turn "
            "dynamic_partitioning off")
    if infra.glacier_days < infra.infrequent_access_days + IA_MIN_STAY_DAYS:
        raise ConfigError(
            f"infra.glacier_days = {infra.glacier_days} in {config.source}: objects must stay "
            f"{IA_MIN_STAY_DAYS} days in STANDARD_IA (from day {infra.infrequent_access_days}), so use at "
            f"least {infra.infrequent_access_days + IA_MIN_STAY_DAYS}")
    if infra.retention_days <= infra.infrequent_access_days:
        raise ConfigError(
            f"infra.retention_days = {infra.retention_days} in {config.source} expires objects before "
            f"they move to STANDARD_IA at day {infra.infrequent_access_days}: raise retention_days or "
            "infrequent_access_days")
    if infra.bucket is not None and (infra.bucket != infra.bucket.lower() or not 3 <= len(infra.bucket) <= 63):
        raise ConfigError(f"infra.bucket = {infra.bucket!r} in {config.source}: S3 bucket names are "
                          "3 to 63 lowercase letters, digits, dots and hyphens")
    if infra.stack_prefix != infra.stack_prefix.lower() or len(infra.stack_prefix) > 20:
        raise ConfigError(f"infra.stack_prefix = {infra.stack_prefix!r} in {config.source}: use at most 20 "
                          "lowercase letters, digits and hyphens (it becomes part of bucket names)")


# -- stateful ----------------------------------------------------------------------------------------

def _tls_only_statement(bucket_ref: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [GetAtt(bucket_ref, "Arn"), Sub(f"${{{bucket_ref}.Arn}}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _public_access_block() -> dict[str, bool]:
    return {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}


def _lifecycle_rules(config: Config, layout: Layout) -> list[dict[str, Any]]:
    infra = config.infra
    transitions = [{"StorageClass": "STANDARD_IA", "TransitionInDays": infra.infrequent_access_days}]
    if infra.glacier_days < infra.retention_days:
        # Glacier Instant Retrieval: still readable by Athena and DuckDB in milliseconds (unlike
        # Flexible Retrieval or Deep Archive, which queries would have to restore first).
        transitions.append({"StorageClass": "GLACIER_IR", "TransitionInDays": infra.glacier_days})
    common = {"Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
              "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}
    return [
        {"Id": "logs-tiering-and-expiry", "Prefix": f"{layout.prefix}/", "Transitions": transitions,
         "ExpirationInDays": infra.retention_days, **common},
        # The compacted hours (logpipe compact) are a copy of the raw hours: they go with them.
        {"Id": "compacted-hours-expiry", "Prefix": f"{layout.compacted_prefix}/",
         "ExpirationInDays": infra.retention_days, **common},
        {"Id": "compacted-days-expiry", "Prefix": f"{layout.daily_prefix}/",
         "ExpirationInDays": infra.retention_days, **common},
        {"Id": "delivery-errors-expiry", "Prefix": f"{layout.prefix}-errors/",
         "ExpirationInDays": infra.retention_days, **common},
        {"Id": "athena-results-expiry", "Prefix": f"{ATHENA_RESULTS_PREFIX}/",
         "ExpirationInDays": ATHENA_RESULTS_DAYS, **common},
    ]


def _glue_table(config: Config, names: Names, layout: Layout) -> dict[str, Any]:
    parameters = _table_parameters(layout.glue_projection,
                                   {"classification": "json", "EXTERNAL": "TRUE", "compressionType": "gzip"})
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": Ref("AWS::AccountId"),
            "DatabaseName": Ref("GlueDatabase"),
            "TableInput": {
                "Name": names.table,
                "Description": "ECS container logs as FireLens delivers them through Firehose (logpipe record contract)",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "PartitionKeys": [{"Name": key, "Type": "string"} for key in layout.partition_keys()],
                "StorageDescriptor": {
                    # Every column a string: a record with a wrong type must not fail the object.
                    "Columns": [{"Name": column, "Type": "string"} for column in RAW_COLUMNS],
                    "Location": Sub(f"s3://${{LogBucket}}/{layout.prefix}/"),
                    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    "Compressed": True,
                    "SerdeInfo": {
                        "SerializationLibrary": JSON_SERDE,
                        # A bad line becomes a row of NULLs instead of failing the whole query.
                        "Parameters": {"ignore.malformed.json": "true", "case.insensitive": "true"},
                    },
                },
            },
        },
    }


# The Parquet tables' columns are strings, as delivered, but the compaction's epoch milliseconds.
_PARQUET_TYPES = {"lp_ts_ms": "bigint"}


_PARQUET_FORMAT = {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"}


def _table_parameters(projection: Callable[[str], dict[str, str]], data_format: dict[str, str]) -> dict[str, Any]:
    """A Glue table's parameters: its data format and its partition projection (``projection(bucket)``,
    the bucket then written as the stack's ``${LogBucket}``)."""
    marker = "LOGPIPEBUCKET"
    parameters: dict[str, Any] = dict(data_format)
    for key, value in projection(marker).items():
        if "${" in value or marker in value:
            parameters[key] = Sub(sub_literal(value).replace(marker, "${LogBucket}"))
        else:
            parameters[key] = value
    return parameters


def _glue_parquet_table(config: Config, names: Names, layout: Layout) -> dict[str, Any]:
    """The compacted hours (``logpipe compact``) as a Parquet table with the same partition projection.

    Its columns are the raw table's (strings, as delivered) and the derived fields the compaction
    computed once with the ``logs`` view's expressions (logpipe.schema.COMPACTED_COLUMNS). Athena
    reads the hours before the compaction watermark from here and the rest from the JSON table
    (logpipe.engines.athena): only the columns a query uses are scanned."""
    parameters = _table_parameters(layout.glue_projection_compacted, _PARQUET_FORMAT)
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": Ref("AWS::AccountId"),
            "DatabaseName": Ref("GlueDatabase"),
            "TableInput": {
                "Name": names.parquet_table,
                "Description": "Closed hours of the log table as zstd Parquet, sorted by service, level and time "
                               "(logpipe compact)",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "PartitionKeys": [{"Name": key, "Type": "string"} for key in ("dt", "hour")],
                "StorageDescriptor": {
                    "Columns": [{"Name": column, "Type": _PARQUET_TYPES.get(column, "string")}
                                for column in (*RAW_COLUMNS, *COMPACTED_COLUMNS)],
                    "Location": Sub(f"s3://${{LogBucket}}/{layout.compacted_prefix}/"),
                    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
                },
            },
        },
    }


def _glue_daily_table(config: Config, names: Names, layout: Layout) -> dict[str, Any]:
    """The merged days (``logpipe compact``) as a Parquet table partitioned by ``dt`` only: ``hour`` is
    a column of its files. Athena reads the days before the day watermark from here, the hours from
    there to the compaction watermark from the hours' table (logpipe.engines.athena). A window over a
    part of a day scans that day's file: partition projection prunes by ``dt``, then the row groups
    whose ``hour``/``lp_ts_ms`` statistics miss the window are skipped (the files are sorted by service,
    level and time, so at a large fleet a service's run of rows spans a few hours per row group; at a
    small one a day is one row group and read whole - still one object instead of 24)."""
    table = _glue_parquet_table(config, names, layout)
    parameters = _table_parameters(layout.glue_projection_daily, _PARQUET_FORMAT)
    table_input = table["Properties"]["TableInput"]
    table_input.update({
        "Name": names.daily_table,
        # short: the stateful template sits near CloudFormation's inline limit (template_body)
        "Description": "Closed days of the log table as zstd Parquet, one file a day (logpipe compact)",
        "Parameters": parameters,
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
    })
    table_input["StorageDescriptor"] = {
        **table_input["StorageDescriptor"],
        "Columns": [{"Name": column, "Type": _PARQUET_TYPES.get(column, "string")}
                    for column in (*RAW_COLUMNS, "hour", *COMPACTED_COLUMNS)],
        "Location": Sub(f"s3://${{LogBucket}}/{layout.daily_prefix}/"),
    }
    return table


def _kms_key(config: Config) -> dict[str, Any]:
    key: dict[str, Any] = {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": "logpipe: encrypts the log bucket, Athena results, the Firehose stream and its log group",
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {   # IAM policies in this account decide who may use the key (least privilege there).
                        "Sid": "AccountAdministersThroughIam",
                        "Effect": "Allow",
                        "Principal": {"AWS": Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {   # CloudWatch Logs encrypts the Firehose error log group of this account only.
                        "Sid": "CloudWatchLogsOfThisAccount",
                        "Effect": "Allow",
                        "Principal": {"Service": Sub("logs.${AWS::Region}.amazonaws.com")},
                        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                   "kms:Describe*"],
                        "Resource": "*",
                        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Sub(
                            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")}},
                    },
                ],
            },
        },
    }
    if config.alarms.create_topic:
        # CloudWatch alarms publish to the encrypted alarm topic: SNS asks KMS on CloudWatch's behalf,
        # which the AWS-managed SNS key never allows (alarms to such a topic fail silently).
        key["Properties"]["KeyPolicy"]["Statement"].append({
            "Sid": "CloudWatchAlarmsOfThisAccountPublishToTheAlarmTopic",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
        })
    return key


def render_stateful(config: Config) -> dict[str, Any]:
    """Bucket, KMS key, Glue database and table, Athena workgroup."""
    _check(config)
    names, layout, infra = names_for(config), layout_for(config), config.infra
    encryption = {"ServerSideEncryptionConfiguration": [{
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": GetAtt("LogKey", "Arn")},
        "BucketKeyEnabled": True,  # one KMS call per object batch, not per object: cheaper
    }]}
    resources: dict[str, Any] = {
        "LogKey": _kms_key(config),
        "LogKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": f"alias/{names.stack_prefix}-logs", "TargetKeyId": Ref("LogKey")}},
        "AccessLogBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": {"checkov": {"skip": [{
                "id": "CKV_AWS_18",
                "comment": "this is the access-log bucket itself: logging it would log its own log writes"}]}},
            "Properties": {
                "BucketName": SubIfNeeded(names.access_log_bucket_sub),
                # Server access log delivery supports only SSE-S3 on the target bucket.
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
                "PublicAccessBlockConfiguration": _public_access_block(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": [{
                    "Id": "access-logs-expiry", "Status": "Enabled", "ExpirationInDays": 90,
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]},
            },
        },
        "AccessLogBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": Ref("AccessLogBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    _tls_only_statement("AccessLogBucket"),
                    {
                        "Sid": "S3ServerAccessLogsFromTheLogBucket",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": Sub("${AccessLogBucket.Arn}/*"),
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")},
                            "ArnLike": {"aws:SourceArn": Sub(f"arn:${{AWS::Partition}}:s3:::{names.bucket_name_sub}")},
                        },
                    },
                ]},
            },
        },
        "LogBucket": {
            "Type": "AWS::S3::Bucket",
            # Access logs are delivered under the target bucket's policy: have it in place first.
            "DependsOn": "AccessLogBucketPolicy",
            "DeletionPolicy": "Retain",  # the logs outlive the stack
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": SubIfNeeded(names.bucket_name_sub),
                "BucketEncryption": encryption,
                "PublicAccessBlockConfiguration": _public_access_block(),
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                # Versioning guards against an overwrite or a delete by mistake; old versions of
                # write-once log objects cost nothing until something replaces them, and expire a day later.
                "VersioningConfiguration": {"Status": "Enabled"},
                "LoggingConfiguration": {"DestinationBucketName": Ref("AccessLogBucket"),
                                         "LogFilePrefix": "log-bucket/"},
                "LifecycleConfiguration": {"Rules": _lifecycle_rules(config, layout)},
            },
        },
        "LogBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": Ref("LogBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [_tls_only_statement("LogBucket")]},
            },
        },
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": Ref("AWS::AccountId"),
                "DatabaseInput": {"Name": names.database, "Description": "logpipe: ECS container logs"},
            },
        },
        "GlueTable": _glue_table(config, names, layout),
        # The saved queries' ``logs`` as a view anyone can query (logpipe.infra.athena).
        "LogsView": {"Type": "AWS::Glue::Table", "DependsOn": "GlueTable", "Properties": {
            "CatalogId": Ref("AWS::AccountId"), "DatabaseName": Ref("GlueDatabase"),
            "TableInput": glue_view_input(config)}},
        "GlueParquetTable": _glue_parquet_table(config, names, layout),
        "GlueDailyTable": _glue_daily_table(config, names, layout),
        "WorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": names.workgroup,
                "Description": "logpipe saved queries: results location, encryption and scan limit enforced",
                "State": "ENABLED",
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "BytesScannedCutoffPerQuery": infra.athena_bytes_scanned_cutoff,
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": Sub(f"s3://${{LogBucket}}/{ATHENA_RESULTS_PREFIX}/"),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS",
                                                    "KmsKey": GetAtt("LogKey", "Arn")},
                    },
                },
            },
        },
    }

    def export(value: Any, name: str, description: str) -> dict[str, Any]:
        return {"Description": description, "Value": value, "Export": {"Name": Sub(f"${{AWS::StackName}}-{name}")}}

    outputs = {
        "BucketName": export(Ref("LogBucket"), "BucketName", "The log bucket"),
        "BucketArn": export(GetAtt("LogBucket", "Arn"), "BucketArn", "The log bucket's ARN"),
        "KeyArn": export(GetAtt("LogKey", "Arn"), "KeyArn", "The KMS key of the bucket, results and stream"),
        "LogPrefix": export(layout.prefix, "LogPrefix", "Where Firehose writes under the bucket"),
        "DatabaseName": export(Ref("GlueDatabase"), "DatabaseName", "Glue database ([engine] database)"),
        "TableName": export(names.table, "TableName", "Glue table ([engine] table)"),
        "ViewName": export(config.infra.athena_view, "ViewName", "Glue view: the saved queries' logs table"),
        "ParquetTableName": export(names.parquet_table, "ParquetTableName",
                                   "Glue table of the compacted hours ([compact] table)"),
        "DailyTableName": export(names.daily_table, "DailyTableName",
                                 "Glue table of the merged days"),
        "WorkGroupName": export(Ref("WorkGroup"), "WorkGroupName", "Athena workgroup ([engine] workgroup)"),
        "AthenaOutputLocation": export(Sub(f"s3://${{LogBucket}}/{ATHENA_RESULTS_PREFIX}/"),
                                       "AthenaOutputLocation", "Athena results ([engine] output_location)"),
    }
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": "logpipe stateful stack: log bucket, KMS key, Glue table with partition projection, Athena workgroup",
        "Resources": resources,
        "Outputs": outputs,
    }


# -- stateless ---------------------------------------------------------------------------------------

def _ecs_task_trust() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}},
    }]}


def _secret_arns(config: Config) -> list[Any]:
    """ARNs of the secrets the service reads; a bare name gets Secrets Manager's 6-character suffix."""
    ids = [config.metrics.datadog_api_key_secret, config.firelens.datadog.api_key_secret_arn]
    ids += [d.webhook_url_secret for d in config.digest.destinations]
    arns: list[Any] = []
    for secret in dict.fromkeys(i for i in ids if i):
        if secret.startswith("arn:"):
            arns.append(secret)
        else:
            arns.append(Sub(f"arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{secret}-??????"))
    return arns


def _service_statements(config: Config, names: Names, layout: Layout) -> list[dict[str, Any]]:
    bucket_arn = ImportValue("BucketArn")
    statements: list[dict[str, Any]] = [
        {"Sid": "RunQueriesInTheWorkgroup", "Effect": "Allow",
         "Action": ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                    "athena:StopQueryExecution", "athena:GetWorkGroup"],
         "Resource": Sub("arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/"
                         "${WorkGroup}")},
        {"Sid": "ReadTheLogTable", "Effect": "Allow",
         "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
         "Resource": [
             Sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
             Sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/${Database}"),
             Sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${Database}/${Table}"),
             Sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${Database}/${ParquetTable}"),
             Sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/${Database}/${DailyTable}"),
         ]},
        {"Sid": "LocateTheBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket_arn},
        {"Sid": "ListTheLogsAndResults", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{layout.prefix}/*", f"{layout.compacted_prefix}/*",
                                                    f"{layout.daily_prefix}/*", f"{ATHENA_RESULTS_PREFIX}/*"]}}},
        {"Sid": "ReadTheLogs", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": Sub([f"${{Bucket}}/{layout.prefix}/*", {"Bucket": bucket_arn}])},
        # logpipe compact: the Parquet hours and days and the watermarks beside them (never the raw objects)
        {"Sid": "WriteTheCompactedHours", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": Sub([f"${{Bucket}}/{layout.compacted_prefix}/*", {"Bucket": bucket_arn}])},
        {"Sid": "WriteTheCompactedDays", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": Sub([f"${{Bucket}}/{layout.daily_prefix}/*", {"Bucket": bucket_arn}])},
        {"Sid": "WriteAndReadAthenaResults", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": Sub([f"${{Bucket}}/{ATHENA_RESULTS_PREFIX}/*", {"Bucket": bucket_arn}])},
        {"Sid": "UseTheLogKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": ImportValue("KeyArn")},
        {"Sid": "PutMetricsInOurNamespaceOnly", "Effect": "Allow", "Action": "cloudwatch:PutMetricData",
         # PutMetricData has no resource type: the namespace condition is the restriction.
         "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": names.namespace}}},
    ]
    secrets = _secret_arns(config)
    if secrets:
        statements.append({"Sid": "ReadConfiguredSecrets", "Effect": "Allow",
                           "Action": "secretsmanager:GetSecretValue", "Resource": secrets})
    topics = list(dict.fromkeys(d.topic_arn for d in config.digest.destinations if d.kind == "sns" and d.topic_arn))
    if topics:
        statements.append({"Sid": "PublishDigests", "Effect": "Allow", "Action": "sns:Publish", "Resource": topics})
    return statements


def _processors(config: Config) -> list[dict[str, Any]]:
    processors: list[dict[str, Any]] = []
    if config.infra.dynamic_partitioning:
        processors.append({"Type": "MetadataExtraction", "Parameters": [
            {"ParameterName": "MetadataExtractionQuery", "ParameterValue": SERVICE_PARTITION_QUERY},
            {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
        ]})
    # A newline between records, so Athena's line reader sees one record per line.
    if config.infra.firehose_append_delimiter:
        processors.append({"Type": "AppendDelimiterToRecord", "Parameters": [
            {"ParameterName": "Delimiter", "ParameterValue": "\\n"}]})
    return processors


def render_stateless(config: Config) -> dict[str, Any]:
    """Firehose delivery stream, its log group, and the roles of Firehose, the router and the service."""
    _check(config)
    names, layout, infra = names_for(config), layout_for(config), config.infra
    bucket_arn = ImportValue("BucketArn")
    key_arn = ImportValue("KeyArn")
    destination: dict[str, Any] = {
        "BucketARN": bucket_arn,
        "RoleARN": GetAtt("FirehoseRole", "Arn"),
        "Prefix": layout.firehose_prefix(),
        "ErrorOutputPrefix": layout.firehose_error_prefix(),
        "CompressionFormat": "GZIP",
        "BufferingHints": {"SizeInMBs": infra.firehose_buffer_mb, "IntervalInSeconds": infra.firehose_buffer_seconds},
        "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": key_arn}},
        "CloudWatchLoggingOptions": {"Enabled": True, "LogGroupName": Ref("FirehoseLogGroup"),
                                     "LogStreamName": Ref("FirehoseLogStream")},
    }
    processors = _processors(config)
    if processors:
        destination["ProcessingConfiguration"] = {"Enabled": True, "Processors": processors}
    if infra.dynamic_partitioning:
        destination["DynamicPartitioningConfiguration"] = {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}}
    prefixes = [layout.prefix, f"{layout.prefix}-errors"]
    resources: dict[str, Any] = {
        "FirehoseLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            # Delivery error messages are for debugging now, not records to keep: this stack stays
            # disposable.
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": f"/aws/kinesisfirehose/{names.delivery_stream}",
                           "RetentionInDays": FIREHOSE_LOG_RETENTION_DAYS, "KmsKeyId": key_arn},
        },
        "FirehoseLogStream": {
            "Type": "AWS::Logs::LogStream",
            "Properties": {"LogGroupName": Ref("FirehoseLogGroup"), "LogStreamName": FIREHOSE_LOG_STREAM},
        },
        "FirehoseRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Firehose writes the log stream to the log bucket",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": Ref("AWS::AccountId")}}}]},
                "Policies": [{"PolicyName": "deliver-to-log-bucket", "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "BucketLevel", "Effect": "Allow",
                         "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                         "Resource": bucket_arn},
                        {"Sid": "WriteUnderTheLogPrefixes", "Effect": "Allow",
                         "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                         "Resource": [Sub([f"${{Bucket}}/{p}/*", {"Bucket": bucket_arn}]) for p in prefixes]},
                        {"Sid": "EncryptWithTheLogKey", "Effect": "Allow",
                         "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn,
                         "Condition": {"StringEquals": {"kms:ViaService": Sub("s3.${AWS::Region}.amazonaws.com")}}},
                        {"Sid": "LogDeliveryErrors", "Effect": "Allow", "Action": "logs:PutLogEvents",
                         "Resource": Sub("${FirehoseLogGroup.Arn}:log-stream:" + FIREHOSE_LOG_STREAM)},
                    ],
                }}],
            },
        },
        "DeliveryStream": {
            "Type": "AWS::KinesisFirehose::DeliveryStream",
            "Properties": {
                "DeliveryStreamName": names.delivery_stream,
                "DeliveryStreamType": "DirectPut",
                "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": key_arn},
                "ExtendedS3DestinationConfiguration": destination,
            },
        },
        "RouterTaskRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "The FireLens log router (Fluent Bit) puts records into the one log stream",
                "AssumeRolePolicyDocument": _ecs_task_trust(),
                "Policies": [{"PolicyName": "put-records", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "PutIntoTheLogStreamOnly", "Effect": "Allow",
                    "Action": ["firehose:PutRecordBatch", "firehose:PutRecord"],
                    "Resource": GetAtt("DeliveryStream", "Arn")}]}}],
            },
        },
        "ServiceTaskRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "logpipe service: saved queries on Athena, metrics, digests",
                "AssumeRolePolicyDocument": _ecs_task_trust(),
                "Policies": [{"PolicyName": "analyse-logs", "PolicyDocument": {
                    "Version": "2012-10-17", "Statement": _service_statements(config, names, layout)}}],
            },
        },
    }
    outputs_extra: dict[str, Any] = {}
    if config.alarms.create_topic:
        resources.update(_alarm_topic(config, names, key_arn))
        outputs_extra["AlarmTopicArn"] = {"Description": "Every logpipe alarm notifies this topic ([alarms] create_topic)",
                                          "Value": Ref("AlarmTopic"),
                                          "Export": {"Name": Sub("${AWS::StackName}-AlarmTopicArn")}}
    # The service statements name the workgroup, database and table through Sub variables.
    sub_vars = {"WorkGroup": ImportValue("WorkGroupName"), "Database": ImportValue("DatabaseName"),
                "Table": ImportValue("TableName"), "ParquetTable": ImportValue("ParquetTableName"),
                "DailyTable": ImportValue("DailyTableName")}
    for statement in resources["ServiceTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
        statement["Resource"] = _bind_sub_vars(statement["Resource"], sub_vars)
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": "logpipe stateless stack: Firehose delivery stream to the log bucket and least-privilege IAM roles",
        "Parameters": {
            "StatefulStackName": {"Type": "String", "Default": names.stateful_stack,
                                  "Description": "The stateful stack whose exports this stack imports"},
        },
        "Resources": resources,
        "Outputs": {
            "DeliveryStreamName": {"Description": "For [firelens] firehose_stream", "Value": Ref("DeliveryStream"),
                                   "Export": {"Name": Sub("${AWS::StackName}-DeliveryStreamName")}},
            "DeliveryStreamArn": {"Value": GetAtt("DeliveryStream", "Arn"),
                                  "Export": {"Name": Sub("${AWS::StackName}-DeliveryStreamArn")}},
            "RouterTaskRoleArn": {"Description": "taskRoleArn of services with the FireLens router",
                                  "Value": GetAtt("RouterTaskRole", "Arn"),
                                  "Export": {"Name": Sub("${AWS::StackName}-RouterTaskRoleArn")}},
            "ServiceTaskRoleArn": {"Description": "taskRoleArn of the logpipe service",
                                   "Value": GetAtt("ServiceTaskRole", "Arn"),
                                   "Export": {"Name": Sub("${AWS::StackName}-ServiceTaskRoleArn")}},
            **outputs_extra,
        },
    }


def _alarm_topic(config: Config, names: Names, key_arn: Any) -> dict[str, Any]:
    """The SNS topic every generated alarm notifies (``[alarms] create_topic``): encrypted with the log
    key, publishable only by this account's CloudWatch alarms of this stack prefix."""
    topic: dict[str, Any] = {"TopicName": f"{names.stack_prefix}-alarms", "KmsMasterKeyId": key_arn,
                             "DisplayName": f"{names.stack_prefix} alarms"}
    if config.alarms.topic_emails:
        topic["Subscription"] = [{"Protocol": "email", "Endpoint": e} for e in config.alarms.topic_emails]
    return {
        "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": topic},
        "AlarmTopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
            "Topics": [Ref("AlarmTopic")],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "CloudWatchAlarmsOfThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": Ref("AlarmTopic"),
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")},
                    "ArnLike": {"aws:SourceArn": Sub(
                        f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{names.stack_prefix}-*")},
                },
            }]},
        }},
    }


def _bind_sub_vars(resource: Any, variables: dict[str, Any]) -> Any:
    """Give a plain ``Fn::Sub`` string the variables it names from ``variables`` (two-argument form)."""
    if isinstance(resource, list):
        return [_bind_sub_vars(r, variables) for r in resource]
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        text = resource["Fn::Sub"]
        used = {name: value for name, value in variables.items() if f"${{{name}}}" in text}
        if used:
            return {"Fn::Sub": [text, used]}
    return resource


# -- output ------------------------------------------------------------------------------------------

def render_templates(config: Config) -> dict[str, dict[str, Any]]:
    """Both templates, by stack kind (``stateful``, ``stateless``)."""
    return {"stateful": render_stateful(config), "stateless": render_stateless(config)}


def stack_names(config: Config) -> dict[str, str]:
    names = names_for(config)
    return {"stateful": names.stateful_stack, "stateless": names.stateless_stack}


def dump_template(template: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(template, indent=2) + "\n"
    import yaml

    class _Dumper(yaml.SafeDumper):
        # Shared dicts (one ImportValue used twice) must be written out again: CloudFormation
        # rejects YAML anchors and aliases.
        def ignore_aliases(self, data: Any) -> bool:
            return True

    # Keep the order we wrote (Type before Properties) and block style throughout.
    return yaml.dump(template, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                     allow_unicode=True)


# CloudFormation's limit on a template sent inline (TemplateBody); a larger one must come from S3.
TEMPLATE_BODY_LIMIT = 51_200


def template_body(template: dict[str, Any]) -> str:
    """The text ``infra deploy`` sends: the YAML as rendered, or the same template as compact JSON
    when the YAML passes the inline limit (the stateful stack's Athena view holds the whole ``logs``
    view with its masks, base64-encoded as Athena stores views, and sits near the limit)."""
    text = dump_template(template)
    if len(text.encode()) <= TEMPLATE_BODY_LIMIT:
        return text
    compact = json.dumps(template, separators=(",", ":"))
    if len(compact.encode()) > TEMPLATE_BODY_LIMIT:
        raise ConfigError(
            f"the rendered template is {len(compact.encode()):,} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT:,}-byte "
            "inline limit even as compact JSON: turn off [infra] athena_view or render it and deploy from S3 "
            "(aws cloudformation deploy --s3-bucket ...)")
    return compact


def write_templates(config: Config, out_dir: str | Path, fmt: str = "yaml") -> list[Path]:
    """Write ``stateful.<fmt>`` and ``stateless.<fmt>`` into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = ("# Rendered by `logpipe infra render` from {source}. Edit logpipe.toml ([infra], [store],\n"
              "# [engine], [firelens], [metrics]) and render again rather than editing this file.\n")
    paths = []
    for kind, template in render_templates(config).items():
        path = out / f"{kind}.{'json' if fmt == 'json' else 'yaml'}"
        text = dump_template(template, fmt)
        if fmt != "json":
            text = header.format(source=config.source or "the embedded default") + text
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
