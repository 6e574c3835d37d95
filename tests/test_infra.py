"""The CloudFormation templates: what they contain, that cfn-lint accepts them, that their paths are
the store's paths, and how ``logpipe infra`` renders and deploys them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from support.infra import full_config

from logpipe.config import Config, StoreConfig
from logpipe.errors import ConfigError
from logpipe.infra.deploy import DeployError, cloudformation_client, deploy_stack
from logpipe.infra.render import (
    JSON_SERDE,
    dump_template,
    render_stateful,
    render_stateless,
    render_templates,
    template_body,
)
from logpipe.layout import Layout
from logpipe.schema import RAW_COLUMNS
from logpipe.store import Store, gzip_lines

REPO_ROOT = Path(__file__).resolve().parents[1]


CONFIGS = {"default": Config(), "full": full_config()}


def resource(template: dict[str, Any], type_: str, name: str | None = None) -> dict[str, Any]:
    """The one resource of a type (or, where there are several, the one of that logical name)."""
    found = [r for key, r in template["Resources"].items() if r["Type"] == type_ and name in (None, key)]
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0]["Properties"]


def statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    return template["Resources"][logical_id]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def sub_text(value: Any) -> str:
    """The text of a ``Fn::Sub`` (either form) or a plain string."""
    if isinstance(value, str):
        return value
    sub = value["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]


# -- stateful -----------------------------------------------------------------------------------------

def test_glue_table_follows_the_record_contract_and_the_layout() -> None:
    config = Config()
    table = render_stateful(config)["Resources"]["GlueTable"]["Properties"]["TableInput"]
    storage = table["StorageDescriptor"]
    assert [c["Name"] for c in storage["Columns"]] == list(RAW_COLUMNS)
    assert {c["Type"] for c in storage["Columns"]} == {"string"}
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}, {"Name": "hour", "Type": "string"}]
    assert storage["SerdeInfo"]["SerializationLibrary"] == JSON_SERDE == "org.openx.data.jsonserde.JsonSerDe"
    assert storage["SerdeInfo"]["Parameters"]["ignore.malformed.json"] == "true"
    # Every projection parameter of the layout is there, the location template with the bucket filled in.
    expected = Layout("logs").glue_projection("BUCKET")
    params = table["Parameters"]
    for key, value in expected.items():
        got = params[key] if isinstance(params[key], str) else sub_text(params[key]).replace("${!", "${")
        assert got == value.replace("BUCKET", "${LogBucket}"), key


def test_service_partitioning_adds_the_service_key_everywhere() -> None:
    stateful, stateless = render_stateful(full_config()), render_stateless(full_config())
    table = stateful["Resources"]["GlueTable"]["Properties"]["TableInput"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["service", "dt", "hour"]
    assert table["Parameters"]["projection.service.type"] == "injected"
    destination = resource(stateless, "AWS::KinesisFirehose::DeliveryStream")["ExtendedS3DestinationConfiguration"]
    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert destination["Prefix"].startswith("ecs/logs/service=!{partitionKeyFromQuery:service}/dt=")
    extraction = destination["ProcessingConfiguration"]["Processors"][0]
    assert extraction["Type"] == "MetadataExtraction"
    query = {p["ParameterName"]: p["ParameterValue"] for p in extraction["Parameters"]}
    assert query["MetadataExtractionQuery"].startswith("{service: (.service")


def test_bucket_is_encrypted_private_tls_only_and_tiered() -> None:
    config = Config.model_validate({"infra": {"retention_days": 365, "infrequent_access_days": 45,
                                              "glacier_days": 120}})
    template = render_stateful(config)
    bucket = template["Resources"]["LogBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    lifecycle = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    logs = lifecycle["logs-tiering-and-expiry"]
    assert logs["Prefix"] == "logs/"
    assert [(t["StorageClass"], t["TransitionInDays"]) for t in logs["Transitions"]] == [
        ("STANDARD_IA", 45), ("GLACIER_IR", 120)]
    assert logs["ExpirationInDays"] == 365
    assert lifecycle["athena-results-expiry"]["ExpirationInDays"] <= 30
    policy = template["Resources"]["LogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in policy if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_glacier_transition_is_left_out_when_logs_expire_first() -> None:
    config = Config.model_validate({"infra": {"retention_days": 60, "glacier_days": 90}})
    logs = render_stateful(config)["Resources"]["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert [t["StorageClass"] for t in logs["Transitions"]] == ["STANDARD_IA"]


def test_workgroup_enforces_results_encryption_and_scan_limit() -> None:
    config = Config.model_validate({"infra": {"athena_bytes_scanned_cutoff": 50 * 1024**3}})
    workgroup = resource(render_stateful(config), "AWS::Athena::WorkGroup")
    assert workgroup["Name"] == "logpipe"  # "primary" cannot be created: the stack prefix instead
    settings = workgroup["WorkGroupConfiguration"]
    assert settings["EnforceWorkGroupConfiguration"] is True
    assert settings["BytesScannedCutoffPerQuery"] == 50 * 1024**3
    assert sub_text(settings["ResultConfiguration"]["OutputLocation"]) == "s3://${LogBucket}/athena-results/"
    assert settings["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"


# -- stateless ----------------------------------------------------------------------------------------

def test_firehose_writes_gzip_lines_under_the_layout_prefix() -> None:
    config = Config.model_validate({"infra": {"firehose_buffer_mb": 16, "firehose_buffer_seconds": 120}})
    stream = resource(render_stateless(config), "AWS::KinesisFirehose::DeliveryStream")
    assert stream["DeliveryStreamName"] == config.firelens.firehose_stream
    destination = stream["ExtendedS3DestinationConfiguration"]
    layout = Layout("logs")
    assert destination["Prefix"] == layout.firehose_prefix()
    assert destination["ErrorOutputPrefix"] == layout.firehose_error_prefix()
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["BufferingHints"] == {"SizeInMBs": 16, "IntervalInSeconds": 120}
    assert destination["CloudWatchLoggingOptions"]["Enabled"] is True
    processors = destination["ProcessingConfiguration"]["Processors"]
    assert [p["Type"] for p in processors] == ["AppendDelimiterToRecord"]
    assert processors[0]["Parameters"] == [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}]
    assert "DynamicPartitioningConfiguration" not in destination
    # The bucket comes from the stateful stack's export.
    assert destination["BucketARN"] == {"Fn::ImportValue": {"Fn::Sub": "${StatefulStackName}-BucketArn"}}


def test_router_may_put_records_into_its_stream_only() -> None:
    (statement,) = statements(render_stateless(Config()), "RouterTaskRole")
    assert sorted(statement["Action"]) == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    assert statement["Resource"] == {"Fn::GetAtt": ["DeliveryStream", "Arn"]}


def test_service_role_is_least_privilege() -> None:
    template = render_stateless(full_config())
    by_sid = {s["Sid"]: s for s in statements(template, "ServiceTaskRole")}
    metrics = by_sid["PutMetricsInOurNamespaceOnly"]
    assert metrics["Action"] == "cloudwatch:PutMetricData"
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Shop/Logs"}}
    assert sorted(map(sub_text, by_sid["ReadConfiguredSecrets"]["Resource"])) == sorted([
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:logpipe/datadog-??????",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dd-AbCdEf"])
    assert by_sid["PublishDigests"]["Resource"] == ["arn:aws:sns:eu-west-1:111122223333:digests"]
    assert sub_text(by_sid["ReadTheLogs"]["Resource"]) == "${Bucket}/ecs/logs/*"
    assert sub_text(by_sid["WriteAndReadAthenaResults"]["Resource"]) == "${Bucket}/athena-results/*"
    assert "s3:PutObject" not in by_sid["ReadTheLogs"]["Action"]
    workgroup = by_sid["RunQueriesInTheWorkgroup"]["Resource"]["Fn::Sub"]
    assert workgroup[0].endswith(":workgroup/${WorkGroup}")
    assert workgroup[1]["WorkGroup"] == {"Fn::ImportValue": {"Fn::Sub": "${StatefulStackName}-WorkGroupName"}}
    # Nothing in any role is granted on "*" except the namespace-bound metrics call.
    for logical_id in ("ServiceTaskRole", "RouterTaskRole", "FirehoseRole"):
        for statement in statements(template, logical_id):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a.endswith("*") for a in actions), statement
            if statement["Resource"] == "*":
                assert statement["Action"] == "cloudwatch:PutMetricData" and "Condition" in statement


def test_no_secrets_statement_without_configured_secrets() -> None:
    sids = {s["Sid"] for s in statements(render_stateless(Config()), "ServiceTaskRole")}
    assert "ReadConfiguredSecrets" not in sids and "PublishDigests" not in sids


def test_stateless_imports_only_what_stateful_exports() -> None:
    for config in CONFIGS.values():
        stateful, stateless = render_stateful(config), render_stateless(config)
        exported = {o["Export"]["Name"]["Fn::Sub"].replace("${AWS::StackName}-", "")
                    for o in stateful["Outputs"].values()}
        imported = set(re.findall(r'"\$\{StatefulStackName\}-(\w+)"', json.dumps(stateless)))
        assert imported and imported <= exported


# -- the same paths everywhere ------------------------------------------------------------------------

JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}


def expand_firehose_prefix(prefix: str, moment: datetime, service: str | None) -> str:
    """What Firehose makes of a prefix for a record arriving at ``moment`` (UTC)."""
    def timestamp(match: re.Match[str]) -> str:
        fmt = match.group(1)
        for java, py in JAVA_TO_STRFTIME.items():
            fmt = fmt.replace(java, py)
        return moment.strftime(fmt)

    out = re.sub(r"!\{timestamp:([^}]+)\}", timestamp, prefix)
    out = out.replace("!{partitionKeyFromQuery:service}", service or "")
    assert "!{" not in out, out
    return out


def expand_glue_location(template: str, params: dict[str, Any], moment: datetime, service: str | None) -> str:
    """What Athena's partition projection makes of the location template for one partition."""
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    values = {"dt": moment.strftime("%Y-%m-%d"),
              "hour": str(moment.hour).zfill(int(params["projection.hour.digits"])),
              "service": service or ""}
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], template)


@pytest.mark.parametrize("config_name", ["default", "full"])
@pytest.mark.parametrize("moment", [
    datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
])
def test_firehose_prefix_glue_projection_and_local_store_agree(config_name: str, moment: datetime,
                                                              tmp_path: Path) -> None:
    config = CONFIGS[config_name]
    service = "checkout" if config.store.service_partition else None
    templates = render_templates(config)
    destination = resource(templates["stateless"], "AWS::KinesisFirehose::DeliveryStream")[
        "ExtendedS3DestinationConfiguration"]
    firehose_dir = expand_firehose_prefix(destination["Prefix"], moment, service).rstrip("/")

    params = templates["stateful"]["Resources"]["GlueTable"]["Properties"]["TableInput"]["Parameters"]
    location = sub_text(params["storage.location.template"]).replace("${!", "${")
    bucket = "bucket-x"
    location = location.replace("${LogBucket}", bucket)
    glue_dir = expand_glue_location(location, params, moment, service).removeprefix(f"s3://{bucket}/").rstrip("/")

    store = Store(StoreConfig(root=str(tmp_path), prefix=config.store.prefix,
                              service_partition=config.store.service_partition))
    key = store.layout.object_key(moment, service=service)
    store.write_object(key, gzip_lines([b'{"message": "x"}']))
    hour_start = moment.replace(minute=0, second=0)
    (written,) = store.list_objects(hour_start, hour_start + timedelta(hours=1))
    local_dir = written.key.rsplit("/", 1)[0]
    assert Path(tmp_path, written.key).exists()

    assert firehose_dir == glue_dir == local_dir
    assert store.layout.parse_key(f"{firehose_dir}/shop-logs-1-2026-01-01-00-00-00-abc.gz") is not None


# -- configuration errors ------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "words"), [
    ({"infra": {"dynamic_partitioning": True, "firehose_buffer_mb": 128}}, "store.service_partition"),
    ({"infra": {"dynamic_partitioning": True, "firehose_buffer_mb": 8},
      "store": {"service_partition": True}}, "at least 64"),
    ({"infra": {"infrequent_access_days": 60, "glacier_days": 70}}, "at least 90"),
    ({"infra": {"retention_days": 20}}, "retention_days"),
    ({"infra": {"bucket": "My_Bucket"}}, "lowercase"),
])
def test_inconsistent_infra_settings_are_config_errors(data: dict[str, Any], words: str) -> None:
    config = Config.model_validate(data)
    with pytest.raises(ConfigError, match=re.escape(words)):
        render_templates(config)


# -- cfn-lint --------------------------------------------------------------------------------------------

def cfn_lint(text: str) -> list[str]:
    """Every cfn-lint finding (errors, warnings and informational) for a template, as text."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]))
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


@pytest.mark.parametrize("config_name", ["default", "full"])
def test_cfn_lint_finds_nothing(config_name: str) -> None:
    for kind, template in render_templates(CONFIGS[config_name]).items():
        assert cfn_lint(dump_template(template)) == [], kind


def test_cfn_lint_catches_a_broken_template() -> None:
    """The lint test above can fail: a misspelt property is an error."""
    template = render_stateful(Config())
    template["Resources"]["WorkGroup"]["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoff"] = 1
    findings = cfn_lint(dump_template(template))
    assert any(f.startswith("E") and "BytesScannedCutoff" in f for f in findings), findings


def test_committed_templates_are_the_rendered_defaults() -> None:
    """infra/*.yaml is what `logpipe infra render` writes for the embedded default: no drift."""
    for kind, template in render_templates(Config()).items():
        committed = yaml.safe_load((REPO_ROOT / "infra" / f"{kind}.yaml").read_text())
        assert committed == template, f"infra/{kind}.yaml is stale: run `logpipe infra render`"


def test_yaml_has_no_aliases() -> None:
    for template in render_templates(full_config()).values():
        text = dump_template(template)
        assert not re.search(r"[&*]id\d+", text)
        assert yaml.safe_load(text) == template
        assert json.loads(dump_template(template, "json")) == template


# -- CLI ---------------------------------------------------------------------------------------------

def test_cli_render_writes_both_templates(cli: Any) -> None:
    Path(cli.cwd, "logpipe.toml").write_text('[infra]\nstack_prefix = "acme"\n[store]\nprefix = "app/logs"\n')
    result = cli("infra", "render", "--out", "out")
    assert result.exit_code == 0, result
    stateful = yaml.safe_load(Path(cli.cwd, "out", "stateful.yaml").read_text())
    stateless = yaml.safe_load(Path(cli.cwd, "out", "stateless.yaml").read_text())
    assert stateful["Resources"]["LogBucket"]["Properties"]["BucketName"] == {
        "Fn::Sub": "acme-logs-${AWS::AccountId}-${AWS::Region}"}
    assert stateless["Parameters"]["StatefulStackName"]["Default"] == "acme-stateful"
    assert resource(stateless, "AWS::KinesisFirehose::DeliveryStream")[
        "ExtendedS3DestinationConfiguration"]["Prefix"].startswith("app/logs/dt=")
    result = cli("infra", "render", "--out", "json-out", "--format", "json")
    assert result.exit_code == 0, result
    assert json.loads(Path(cli.cwd, "json-out", "stateless.json").read_text())["Resources"]


def test_cli_render_bad_config_is_one_line_exit_2(cli: Any) -> None:
    Path(cli.cwd, "logpipe.toml").write_text("[infra]\ndynamic_partitioning = true\nfirehose_buffer_mb = 128\n")
    result = cli("infra", "render", "--out", "out")
    assert result.exit_code == 2
    assert "service_partition" in result.stderr and "Traceback" not in result.stderr
    assert not Path(cli.cwd, "out").exists() or not any(Path(cli.cwd, "out").iterdir())


# -- deploy: the paths moto cannot show (a rollback with reasons) -----------------------------------------
# moto runs every change set to *_COMPLETE and never writes FAILED events, so these use botocore's own
# Stubber: real request validation against the CloudFormation model, canned responses.

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/logpipe-stateful/1"


def _stubbed(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Stubber]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never contacted
    cfn = cloudformation_client("us-east-1")
    return cfn, Stubber(cfn)


def _stack(status: str) -> dict[str, Any]:
    return {"Stacks": [{"StackName": "logpipe-stateful", "StackId": STACK_ID, "StackStatus": status,
                        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC)}]}


def test_deploy_failure_names_the_failed_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    cfn, stub = _stubbed(monkeypatch)
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
    stub.add_response("create_change_set", {"Id": "cs-1", "StackId": STACK_ID})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "ChangeSetName": "x",
                                              "Changes": [{"Type": "Resource", "ResourceChange": {}}]})
    stub.add_response("execute_change_set", {})
    stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"))
    now = datetime.now(UTC).replace(year=2099)
    events = [
        {"StackId": STACK_ID, "EventId": "3", "StackName": "logpipe-stateful", "Timestamp": now,
         "LogicalResourceId": "logpipe-stateful", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE"},
        {"StackId": STACK_ID, "EventId": "2", "StackName": "logpipe-stateful", "Timestamp": now,
         "LogicalResourceId": "WorkGroup", "ResourceType": "AWS::Athena::WorkGroup",
         "ResourceStatus": "UPDATE_FAILED",
         "ResourceStatusReason": "Invalid request provided: BytesScannedCutoffPerQuery is too small"},
        {"StackId": STACK_ID, "EventId": "1", "StackName": "logpipe-stateful", "Timestamp": now,
         "LogicalResourceId": "LogBucket", "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "UPDATE_COMPLETE"},
        {"StackId": STACK_ID, "EventId": "0", "StackName": "logpipe-stateful", "Timestamp": now,
         "LogicalResourceId": "logpipe-stateful", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_IN_PROGRESS", "ResourceStatusReason": "User Initiated"},
        # An earlier deploy's failure: not this deploy's reason.
        {"StackId": STACK_ID, "EventId": "-1", "StackName": "logpipe-stateful", "Timestamp": now,
         "LogicalResourceId": "GlueTable", "ResourceType": "AWS::Glue::Table", "ResourceStatus": "UPDATE_FAILED",
         "ResourceStatusReason": "an old failure"},
    ]
    stub.add_response("describe_stack_events", {"StackEvents": events})
    with stub, pytest.raises(DeployError) as info:
        deploy_stack("logpipe-stateful", "{}", cfn=cfn, poll_seconds=0)
    message = str(info.value)
    assert "UPDATE_ROLLBACK_COMPLETE" in message
    assert "WorkGroup (AWS::Athena::WorkGroup): Invalid request provided: BytesScannedCutoffPerQuery is too small" in message
    assert "LogBucket" not in message and "old failure" not in message


def test_deploy_refuses_a_rolled_back_stack_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    cfn, stub = _stubbed(monkeypatch)
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    stub.add_response("describe_stack_events", {"StackEvents": [
        {"StackId": STACK_ID, "EventId": "1", "StackName": "logpipe-stateful",
         "Timestamp": datetime(2026, 1, 1, tzinfo=UTC), "LogicalResourceId": "LogBucket",
         "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "CREATE_FAILED",
         "ResourceStatusReason": "logpipe-logs already exists"}]})
    with stub, pytest.raises(DeployError, match=r"delete-stack --stack-name logpipe-stateful.*already exists"):
        deploy_stack("logpipe-stateful", "{}", cfn=cfn, poll_seconds=0)


def test_deploy_rejected_change_set_is_an_error_not_no_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    cfn, stub = _stubbed(monkeypatch)
    stub.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    stub.add_response("create_change_set", {"Id": "cs-1", "StackId": STACK_ID})
    stub.add_response("describe_change_set", {"Status": "FAILED", "StatusReason": "Template format error: bad"})
    with stub, pytest.raises(DeployError, match="Template format error"):
        deploy_stack("logpipe-stateful", "{}", cfn=cfn, poll_seconds=0)


def test_delimiter_processor_can_be_turned_off() -> None:
    config = Config.model_validate({"infra": {"firehose_append_delimiter": False}})
    destination = resource(render_stateless(config), "AWS::KinesisFirehose::DeliveryStream")[
        "ExtendedS3DestinationConfiguration"]
    assert "ProcessingConfiguration" not in destination
    assert cfn_lint(dump_template(render_stateless(config))) == []


def test_alarm_topic_is_encrypted_and_only_this_accounts_alarms_publish() -> None:
    config = full_config()
    stateless, stateful = render_stateless(config), render_stateful(config)
    topic = resource(stateless, "AWS::SNS::Topic")
    assert topic["TopicName"] == "shop-alarms" and topic["KmsMasterKeyId"]
    assert topic["Subscription"] == [{"Protocol": "email", "Endpoint": "oncall@example.com"}]
    statement = resource(stateless, "AWS::SNS::TopicPolicy")["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and statement["Action"] == "sns:Publish"
    assert "alarm:shop-*" in sub_text(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    key_sids = [s["Sid"] for s in stateful["Resources"]["LogKey"]["Properties"]["KeyPolicy"]["Statement"]]
    assert "CloudWatchAlarmsOfThisAccountPublishToTheAlarmTopic" in key_sids
    assert "AlarmTopicArn" in stateless["Outputs"]
    # Off by default: no topic, no key statement.
    assert not [r for r in render_stateless(Config())["Resources"].values() if r["Type"] == "AWS::SNS::Topic"]


def test_logs_view_is_the_engines_projection_and_named_queries_read_it(tmp_path: Path) -> None:
    """The view's SQL wraps the engines' own logs view; each named query reads the view, runs the last
    window before now and has its parameters' defaults (typed NULL for none); an extra queries folder
    adds its own."""
    from logpipe.infra.athena import decode_view, named_queries, view_columns
    from logpipe.schema import logs_view_sql

    config = full_config()
    view = render_stateful(config)["Resources"]["LogsView"]
    assert view["DependsOn"] == "GlueTable"
    presto = decode_view(view["Properties"]["TableInput"])
    assert logs_view_sql('"applogs"."records"').strip() in presto["originalSql"]
    assert [c["name"] for c in presto["columns"]] == [n for n, _, _ in view_columns()]
    assert [n for n, _, _ in view_columns()][-2:] == ["shape", "pattern_id"]  # the miner's masks, in the view
    # the view (with its masks) keeps the body infra deploy sends within CloudFormation's 51,200-byte limit
    stateful = render_stateful(config)
    body = template_body(stateful)
    assert len(body.encode()) < 51_200
    assert yaml.safe_load(body) == json.loads(json.dumps(stateful))  # the same template, YAML or compact JSON
    (tmp_path / "mine.sql").write_text("-- name: mine\n-- description: mine\n"
                                       "-- param svc: string, default=it's\n"
                                       "SELECT count(*) AS n FROM logs l WHERE l.service = :svc "
                                       "AND ts >= :window_start AND ts < :window_end\n")
    config = Config.model_validate({"queries": {"dirs": [str(tmp_path)]}})
    found = {q.name: q for q in named_queries(config)}
    mine = found["logpipe-mine"].sql
    assert 'FROM "logpipe"."logs_view" AS l' in mine and "l.service = 'it''s'" in mine
    assert "INTERVAL '3600' SECOND" in mine and ":" not in mine.split("\n", 3)[3].replace("':", "")
    assert "CAST(NULL AS VARCHAR) IS NULL" in found["logpipe-errors_by_service"].sql
    with pytest.raises(ConfigError, match="athena_view"):
        render_stateful(Config.model_validate({"infra": {"athena_view": "logs"}}))
