"""End to end against moto in server mode: deploy the stacks, ship records the way the router does,
read them back from s3:// through the store and the query path.

moto's CloudFormation creates the bucket and the KMS key but not the Glue, Athena or Firehose
resources, and registers no exports for stacks made through change sets. So the stateful stack goes
through ``logpipe.infra.deploy`` (the real change-set path), and the resources moto's CloudFormation
skips are created with boto3 from the *rendered templates' own properties* (intrinsic functions
resolved below), so what is tested is what would be deployed. moto's Firehose does not gzip, does not
expand ``!{timestamp:..}`` and adds no delimiter (STACK-NOTES), so the read-back also writes gzip
objects into the layout through ``Store``, as Firehose would.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from logpipe.config import Config, StoreConfig
from logpipe.infra.athena import decode_view, sync_named_queries
from logpipe.infra.deploy import DeployError, deploy_stack
from logpipe.infra.render import dump_template, render_templates, stack_names
from logpipe.queries.loader import load_queries
from logpipe.schema import logs_view_sql
from logpipe.store import ReadStats, Store, gzip_lines

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


class Resolver:
    """Resolves the intrinsic functions our templates use, the way CloudFormation would."""

    def __init__(self, stack_name: str, refs: dict[str, str], attrs: dict[tuple[str, str], str],
                 imports: dict[str, str] | None = None, parameters: dict[str, str] | None = None):
        self.refs = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
                     "AWS::StackName": stack_name, **(parameters or {}), **refs}
        self.attrs = attrs
        self.imports = imports or {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.refs[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            return self.attrs[tuple(value["Fn::GetAtt"])]
        if set(value) == {"Fn::ImportValue"}:
            return self.imports[self(value["Fn::ImportValue"])]
        if set(value) == {"Fn::Sub"}:
            text, local = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            local = {k: self(v) for k, v in local.items()}

            def var(match: re.Match[str]) -> str:
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name in local:
                    return local[name]
                if "." in name:
                    return self.attrs[tuple(name.split(".", 1))]  # type: ignore[index]
                return self.refs[name]

            return re.sub(r"\$\{([^}]+)\}", var, text)
        return {k: self(v) for k, v in value.items()}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def router_lines(services: list[str], start: datetime, count: int) -> list[bytes]:
    """FireLens-shaped records, each a JSON line ending with a newline (as the router sends them)."""
    lines = []
    for i in range(count):
        service = services[i % len(services)]
        level = "ERROR" if i % 10 == 0 else "INFO"
        record = {"log": f"{level} request {i}", "source": "stdout", "container_name": service,
                  "container_id": f"c{i:04d}", "ecs_cluster": "prod", "ecs_task_arn": f"arn:aws:ecs:task/{i}",
                  "ecs_task_definition": f"{service}:7", "time": (start + timedelta(seconds=80 * i)).isoformat(),
                  "service": service, "level": level, "message": f"request {i} done"}
        lines.append((json.dumps(record) + "\n").encode())
    return lines


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips those types: see above
def test_stacks_records_and_read_back_on_moto(aws: str, cli: Any, tmp_path: Path) -> None:
    config = Config.model_validate({"infra": {"stack_prefix": "e2e"}})
    templates = render_templates(config)
    names = stack_names(config)
    stateful, stateless = templates["stateful"], templates["stateless"]

    # 1. The stateful stack through change sets; a second deploy changes nothing.
    first = deploy_stack(names["stateful"], dump_template(stateful), region=REGION, poll_seconds=0.05)
    assert (first.action, first.status) == ("create", "CREATE_COMPLETE")
    again = deploy_stack(names["stateful"], dump_template(stateful), region=REGION, poll_seconds=0.05)
    assert again.action == "unchanged"

    s3 = boto3.client("s3", region_name=REGION)
    bucket = f"e2e-logs-{ACCOUNT}-{REGION}"
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    key_arn = sse["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    kms = boto3.client("kms", region_name=REGION)
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True

    # 2. What moto's CloudFormation skipped, from the same template: Glue database and table, workgroup.
    res = Resolver(names["stateful"], refs={"LogBucket": bucket, "LogKey": key_arn.rsplit("/", 1)[1],
                                            "GlueDatabase": config.engine.database, "WorkGroup": "e2e"},
                   attrs={("LogBucket", "Arn"): f"arn:aws:s3:::{bucket}", ("LogKey", "Arn"): key_arn})
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput=res(props(stateful, "GlueDatabase")["DatabaseInput"]))
    table_input = res(props(stateful, "GlueTable")["TableInput"])
    glue.create_table(DatabaseName=config.engine.database, TableInput=table_input)
    table = glue.get_table(DatabaseName=config.engine.database, Name=config.engine.table)["Table"]
    assert table["Parameters"]["storage.location.template"] == f"s3://{bucket}/logs/dt=${{dt}}/hour=${{hour}}/"
    assert table["StorageDescriptor"]["SerdeInfo"]["Parameters"]["ignore.malformed.json"] == "true"
    workgroup = res(props(stateful, "WorkGroup"))
    athena = boto3.client("athena", region_name=REGION)
    athena.create_work_group(Name=workgroup["Name"], Configuration=workgroup["WorkGroupConfiguration"],
                             Description=workgroup["Description"])
    wg = athena.get_work_group(WorkGroup="e2e")["WorkGroup"]["Configuration"]
    assert wg["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/athena-results/"
    assert wg["BytesScannedCutoffPerQuery"] == config.infra.athena_bytes_scanned_cutoff

    # The public Athena side: the logs view (as Athena itself stores a view) and the named queries.
    glue.create_table(DatabaseName=config.engine.database, TableInput=res(props(stateful, "LogsView")["TableInput"]))
    view = glue.get_table(DatabaseName=config.engine.database, Name="logs_view")["Table"]
    assert view["TableType"] == "VIRTUAL_VIEW" and view["Parameters"]["presto_view"] == "true"
    presto = decode_view(view)
    assert presto["schema"] == config.engine.database and presto["catalog"] == "awsdatacatalog"
    assert logs_view_sql('"logpipe"."logs"').strip() in presto["originalSql"]
    assert [c["name"] for c in presto["columns"]] == [c["Name"] for c in view["StorageDescriptor"]["Columns"]]
    assert presto["columns"][0] == {"name": "ts", "type": "timestamp(3)"}
    first_sync = sync_named_queries(config)
    assert len(first_sync.created) == len(load_queries(config)) and not first_sync.updated
    assert sync_named_queries(config).unchanged == first_sync.created  # in sync: nothing to do
    ids = athena.list_named_queries(WorkGroup="e2e")["NamedQueryIds"]
    stored = {q["Name"]: q for q in (athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids)}
    errors = stored["e2e-errors_by_service"]
    assert errors["Database"] == "logpipe" and 'FROM "logpipe"."logs_view"' in errors["QueryString"]
    assert ":window_start" not in errors["QueryString"] and "INTERVAL '3600' SECOND" in errors["QueryString"]

    # The stateful outputs are what the stateless stack imports.
    exports = {res(o["Export"]["Name"]): res(o["Value"]) for o in stateful["Outputs"].values()}
    assert exports["e2e-stateful-BucketArn"] == f"arn:aws:s3:::{bucket}"

    # 3. The stateless resources from their template: log group, roles (moto checks the policy
    # documents' syntax), delivery stream.
    iam = boto3.client("iam", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    stream_name = config.firelens.firehose_stream
    log_group = props(stateless, "FirehoseLogGroup")["LogGroupName"]
    attrs: dict[tuple[str, str], str] = {
        ("FirehoseLogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_group}",
        ("DeliveryStream", "Arn"): f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{stream_name}",
    }
    refs = {"FirehoseLogGroup": log_group, "FirehoseLogStream": "DestinationDelivery", "DeliveryStream": stream_name}
    for role in ("FirehoseRole", "RouterTaskRole", "ServiceTaskRole"):
        attrs[(role, "Arn")] = f"arn:aws:iam::{ACCOUNT}:role/e2e-{role}"
    res2 = Resolver(names["stateless"], refs=refs, attrs=attrs, imports=exports,
                    parameters={"StatefulStackName": names["stateful"]})
    logs.create_log_group(logGroupName=log_group, kmsKeyId=key_arn)
    logs.create_log_stream(logGroupName=log_group, logStreamName=props(stateless, "FirehoseLogStream")["LogStreamName"])
    for role in ("FirehoseRole", "RouterTaskRole", "ServiceTaskRole"):
        role_props = res2(props(stateless, role))
        iam.create_role(RoleName=f"e2e-{role}", AssumeRolePolicyDocument=json.dumps(role_props["AssumeRolePolicyDocument"]))
        for policy in role_props["Policies"]:
            iam.put_role_policy(RoleName=f"e2e-{role}", PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps(policy["PolicyDocument"]))
    router_policy = res2(props(stateless, "RouterTaskRole"))["Policies"][0]["PolicyDocument"]
    assert router_policy["Statement"][0]["Resource"] == attrs[("DeliveryStream", "Arn")]

    stream = res2(props(stateless, "DeliveryStream"))
    firehose = boto3.client("firehose", region_name=REGION)
    firehose.create_delivery_stream(
        DeliveryStreamName=stream["DeliveryStreamName"], DeliveryStreamType=stream["DeliveryStreamType"],
        DeliveryStreamEncryptionConfigurationInput=stream["DeliveryStreamEncryptionConfigurationInput"],
        ExtendedS3DestinationConfiguration=stream["ExtendedS3DestinationConfiguration"])
    described = firehose.describe_delivery_stream(DeliveryStreamName=stream_name)["DeliveryStreamDescription"]
    destination = described["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["Prefix"] == "logs/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    assert destination["CompressionFormat"] == "GZIP"

    # 4. Records in, as the router sends them: PutRecordBatch of newline-terminated JSON lines.
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    lines = router_lines(["checkout", "payments", "search"], start, 120)
    for chunk in range(0, len(lines), 50):  # the router batches up to 500 records / 4 MiB
        batch = firehose.put_record_batch(DeliveryStreamName=stream_name,
                                          Records=[{"Data": line} for line in lines[chunk:chunk + 50]])
        assert batch["FailedPutCount"] == 0
    delivered = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="logs/")["Contents"]]
    assert delivered, "moto's Firehose delivered nothing to the bucket"
    body = b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in delivered)
    assert sorted(body.splitlines(keepends=True)) == sorted(lines)  # every record, each on its own line

    # 5. What real Firehose writes (gzip, expanded prefix), written through the store's layout.
    store = Store(StoreConfig(root=f"s3://{bucket}", cache_dir=str(tmp_path / "cache")), region=REGION)
    by_hour: dict[datetime, list[bytes]] = {}
    for line in lines:
        moment = datetime.fromisoformat(json.loads(line)["time"])
        by_hour.setdefault(moment.replace(minute=0, second=0, microsecond=0), []).append(line)
    bad = b'{"service": "checkout", "message": "cut off'  # a truncated record: counted, not a crash
    for seq, (hour, hour_lines) in enumerate(sorted(by_hour.items())):
        store.write_object(store.layout.object_key(hour, stream=stream_name, seq=seq), gzip_lines([*hour_lines, bad]))
    objects = store.list_objects(start, start + timedelta(hours=3))
    assert len(by_hour) == 3
    assert [o.partition.hour for o in objects] == sorted(by_hour)
    stats = ReadStats()
    records = [r for _, r in store.iter_records(objects, stats)]
    assert len(records) == len(lines) and stats.records == len(lines)
    assert sum(stats.bad.values()) == len(by_hour)
    assert gzip.decompress(s3.get_object(Bucket=bucket, Key=objects[0].key)["Body"].read()).count(b"\n") == len(
        by_hour[objects[0].partition.hour]) + 1

    # 6. The query path reads them back from s3:// (DuckDB over the cached window).
    Path(cli.cwd, "logpipe.toml").write_text(
        f'[aws]\nregion = "{REGION}"\n[store]\nroot = "s3://{bucket}"\ncache_dir = "{tmp_path / "qcache"}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n')
    result = cli("query", "run", "records_by_service", "--since", start.isoformat(),
                 "--until", (start + timedelta(hours=3)).isoformat(), "--format", "json")
    assert result.exit_code == 0, result
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]  # JSON lines
    totals: dict[str, int] = {}
    errors: dict[str, int] = {}
    for row in rows:
        totals[row["service"]] = totals.get(row["service"], 0) + int(row["records"])
        errors[row["service"]] = errors.get(row["service"], 0) + int(row["errors"])
    assert totals == {"checkout": 40, "payments": 40, "search": 40}
    assert sum(errors.values()) == 12


@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_cli_deploy_order_and_what_the_stand_in_left_out(aws: str, cli: Any) -> None:
    """The first hour's row 16: on moto's CloudFormation `infra deploy --stack stateful` used to print
    "create" and no outputs, and the stateless deploy then failed with "No export named ... deploy
    that first" right after it. Now the stateful deploy itself fails, naming the resources and
    outputs missing and why, and the stateless deploy names the exports it lacks and the state of
    the stack that owes them - before it creates anything."""
    Path(cli.cwd, "logpipe.toml").write_text('[infra]\nstack_prefix = "clitest"\n')
    # The stateless stack first: its imports do not exist yet. One line naming them and what to do.
    result = cli("infra", "deploy", "--stack", "stateless", "--poll-seconds", "0")
    assert result.exit_code == 1
    assert "clitest-stateless imports clitest-stateful-BucketArn" in result.stderr
    assert "clitest-stateful does not exist: deploy it first" in result.stderr and "--stack stateful" in result.stderr
    assert "Traceback" not in result.stderr
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]] == []

    result = cli("infra", "deploy", "--stack", "stateful", "--poll-seconds", "0")
    assert result.exit_code == 1
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error
    assert "clitest-stateful reports CREATE_COMPLETE" in error
    assert "GlueDatabase (AWS::Glue::Database)" in error and "WorkGroup (AWS::Athena::WorkGroup)" in error
    assert "outputs are missing (BucketName" in error and aws in error
    result = cli("infra", "deploy", "--stack", "stateless", "--poll-seconds", "0")
    assert result.exit_code == 1
    assert "clitest-stateful is CREATE_COMPLETE but does not export them" in result.stderr

    # The named queries alone (what deploy runs after a complete stateful stack): the workgroup is
    # made by hand, as moto's CloudFormation skips it.
    boto3.client("athena", region_name=REGION).create_work_group(Name="clitest")
    shipped = len(load_queries(Config()))
    result = cli("infra", "named-queries")
    assert result.exit_code == 0, result
    assert f"named queries in workgroup clitest: {shipped} created, 0 updated, 0 deleted" in result.stdout
    result = cli("infra", "named-queries")
    assert f"0 created, 0 updated, 0 deleted, {shipped} unchanged" in result.stdout


def test_stateless_imports_are_checked_before_its_change_set(aws: str) -> None:
    """Missing exports are named before anything is created; once a stack exports them, the check passes."""
    from logpipe.infra.deploy import check_imports

    cfn = boto3.client("cloudformation", region_name=REGION)
    template = render_templates(Config())["stateless"]
    parameters = {"StatefulStackName": "logpipe-stateful"}
    with pytest.raises(DeployError, match="logpipe-stateful does not exist: deploy it first"):
        check_imports(cfn, "logpipe-stateless", template, parameters, "logpipe-stateful")
    assert cfn.list_stacks()["StackSummaries"] == []
    names = ["BucketArn", "KeyArn", "DatabaseName", "TableName", "ParquetTableName", "DailyTableName", "WorkGroupName"]
    exporter = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}}},
                "Outputs": {name: {"Value": f"v-{name}", "Export": {"Name": f"logpipe-stateful-{name}"}}
                            for name in names}}
    cfn.create_stack(StackName="logpipe-stateful", TemplateBody=json.dumps(exporter))
    check_imports(cfn, "logpipe-stateless", template, parameters, "logpipe-stateful")


def test_stack_outputs_become_the_config_to_paste() -> None:
    """`infra deploy` prints the stack outputs as logpipe.toml lines; they are valid config."""
    import tomllib

    from logpipe.infra.deploy import config_snippet

    snippet = config_snippet({"BucketName": "logpipe-logs-1-us-east-1", "LogPrefix": "logs",
                              "DatabaseName": "logpipe", "TableName": "logs", "WorkGroupName": "logpipe",
                              "AthenaOutputLocation": "s3://logpipe-athena-1/results/",
                              "DeliveryStreamName": "logpipe-logs", "KeyArn": "arn:aws:kms:k"})
    config = Config.model_validate(tomllib.loads(snippet))
    assert config.store.root == "s3://logpipe-logs-1-us-east-1"
    assert (config.engine.kind, config.engine.workgroup, config.engine.output_location) == (
        "athena", "logpipe", "s3://logpipe-athena-1/results/")
    assert config.firelens.firehose_stream == "logpipe-logs"
    assert config_snippet({}) == ""
