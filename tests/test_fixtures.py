"""The shared fixtures do what the other tests rely on: moto is real and isolated, the fault proxy
injects faults botocore sees as the real ones, the state databases are fresh, the CLI runner captures."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.exceptions
import pytest
import sqlalchemy as sa
from botocore.config import Config as BotoConfig
from support.fault_proxy import FaultProxy, cbor_error, protocol_of


def client(service: str, endpoint: str, attempts: int = 1, **config: Any) -> Any:
    """A client through ``endpoint`` making at most ``attempts`` attempts (1: no retries at all).

    botocore's ``max_attempts`` counts retries; ``total_max_attempts`` counts the first attempt too.
    """
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint,
                        config=BotoConfig(retries={"mode": "standard", "total_max_attempts": attempts},
                                          connect_timeout=5, read_timeout=10, **config))


# -- environment and moto ------------------------------------------------------------------------------

def test_session_environment_cannot_reach_real_aws() -> None:
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert "AWS_PROFILE" not in os.environ and "AWS_SESSION_TOKEN" not in os.environ
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert not any(name.startswith(("LOGPIPE_", "DD_")) for name in os.environ)
    s3 = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        s3.list_buckets()


def test_aws_points_boto3_at_moto_and_reset_forgets(aws: str, moto_server: Any) -> None:
    assert os.environ["AWS_ENDPOINT_URL"] == aws == moto_server.endpoint_url
    s3 = boto3.client("s3", region_name="us-east-1")  # no endpoint given: taken from the environment
    s3.create_bucket(Bucket="fixture-bucket")
    s3.put_object(Bucket="fixture-bucket", Key="k", Body=b"v")
    assert s3.get_object(Bucket="fixture-bucket", Key="k")["Body"].read() == b"v"
    moto_server.reset()
    assert s3.list_buckets()["Buckets"] == []


def test_boto_client_fixture(boto_client: Any) -> None:
    sns = boto_client("sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    assert arn.startswith("arn:aws:sns:us-east-1:")


# -- the fault proxy ------------------------------------------------------------------------------------

def _exercise(endpoint: str, rounds: int) -> None:
    """S3, CloudWatch (CBOR) and SNS (query) calls that must all succeed despite faults."""
    s3 = client("s3", endpoint, attempts=12)
    cw = client("cloudwatch", endpoint, attempts=12)
    sns = client("sns", endpoint, attempts=12)
    s3.create_bucket(Bucket="faulty")
    topic = sns.create_topic(Name="faulty")["TopicArn"]
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(rounds):
        s3.put_object(Bucket="faulty", Key=f"k{i}", Body=f"body {i}".encode())
        assert s3.get_object(Bucket="faulty", Key=f"k{i}")["Body"].read() == f"body {i}".encode()
        cw.put_metric_data(Namespace="Faulty", MetricData=[
            {"MetricName": "m", "Value": 1.0, "Timestamp": now - timedelta(minutes=i), "Unit": "Count"}])
        sns.publish(TopicArn=topic, Message=f"m{i}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="faulty")["Contents"]]
    assert sorted(keys) == sorted(f"k{i}" for i in range(rounds))
    stats = cw.get_metric_statistics(Namespace="Faulty", MetricName="m", StartTime=now - timedelta(hours=1),
                                     EndTime=now + timedelta(minutes=1), Period=3600, Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) == rounds


@pytest.mark.slow  # ~5 s, most of it botocore's jittered backoff sleeps
def test_standard_retries_get_through_30_percent_faults(aws: str, fault_proxy: Any) -> None:
    proxy = fault_proxy(aws, failure_rate=0.3, modes=("throttle", "500", "cut", "delay"), seed=7,
                        delay_seconds=0.05)
    _exercise(proxy.url, rounds=8)
    # Every kind of fault really happened, and about 30% of requests were faulted.
    for mode in ("throttle", "500", "cut", "delay"):
        assert proxy.stats[mode] > 0, proxy.stats
    faulted = sum(proxy.stats[m] for m in ("throttle", "500", "cut", "delay"))
    assert 0.15 < faulted / proxy.stats["requests"] < 0.45, proxy.stats


@pytest.mark.parametrize(("service", "call", "code"), [
    ("s3", lambda c: c.list_buckets(), "SlowDown"),
    ("cloudwatch", lambda c: c.list_metrics(), "Throttling"),  # smithy rpc-v2-cbor, query-compatible
    ("sns", lambda c: c.list_topics(), "Throttling"),  # query protocol, XML
    ("firehose", lambda c: c.list_delivery_streams(), "ThrottlingException"),  # JSON protocol
    ("athena", lambda c: c.list_work_groups(), "ThrottlingException"),
    ("sesv2", lambda c: c.list_email_identities(), "ThrottlingException"),  # REST-JSON, status 429
])
def test_throttle_is_the_protocols_throttling_error_and_retried(aws: str, fault_proxy: Any, service: str,
                                                               call: Any, code: str) -> None:
    proxy = fault_proxy(aws, failure_rate=1.0, modes=("throttle",))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(client(service, proxy.url, attempts=1))
    assert info.value.response["Error"]["Code"] == code
    # botocore's standard mode classifies it as retryable (a 400 is retried only as throttling):
    # 2 attempts, 1 retry, then it gives up.
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(client(service, proxy.url, attempts=2))
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.stats["throttle"] == proxy.stats["requests"] == 3
    # And once the faults stop, the same call goes through.
    proxy.set(failure_rate=0.0)
    call(client(service, proxy.url, attempts=1))


@pytest.mark.parametrize(("service", "call", "code"), [
    ("s3", lambda c: c.list_buckets(), "InternalError"),
    ("cloudwatch", lambda c: c.list_metrics(), "InternalFailure"),
    ("sns", lambda c: c.list_topics(), "InternalFailure"),
    ("firehose", lambda c: c.list_delivery_streams(), "InternalFailure"),
])
def test_500_is_an_internal_failure(aws: str, fault_proxy: Any, service: str, call: Any, code: str) -> None:
    proxy = fault_proxy(aws, failure_rate=1.0, modes=("500",))
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call(client(service, proxy.url, attempts=1))
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_cut_is_a_connection_error_and_nothing_reached_upstream(aws: str, fault_proxy: Any) -> None:
    s3 = client("s3", aws)
    s3.create_bucket(Bucket="cut")
    proxy = fault_proxy(aws, failure_rate=1.0, modes=("cut",))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client("s3", proxy.url).put_object(Bucket="cut", Key="k", Body=b"x")
    assert proxy.stats["forwarded"] == 0
    assert "Contents" not in s3.list_objects_v2(Bucket="cut")


def test_cut_after_fails_the_client_but_upstream_did_the_work(aws: str, fault_proxy: Any) -> None:
    s3 = client("s3", aws)
    s3.create_bucket(Bucket="cut-after")
    proxy = fault_proxy(aws, failure_rate=1.0, modes=("cut_after",))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client("s3", proxy.url).put_object(Bucket="cut-after", Key="k", Body=b"done")
    assert proxy.stats["forwarded"] == 1
    assert s3.get_object(Bucket="cut-after", Key="k")["Body"].read() == b"done"


def test_delay_forwards_late(aws: str, fault_proxy: Any) -> None:
    proxy = fault_proxy(aws, failure_rate=1.0, modes=("delay",), delay_seconds=0.3)
    assert client("s3", proxy.url).list_buckets()["Buckets"] == []
    assert proxy.stats["delay"] == proxy.stats["forwarded"] == 1  # held back, then forwarded


def test_same_seed_same_faults(aws: str, fault_proxy: Any) -> None:
    outcomes = []
    for _ in range(2):
        proxy = fault_proxy(aws, failure_rate=0.5, modes=("throttle", "500"), seed=42)
        s3 = client("s3", proxy.url)
        for _ in range(12):
            with contextlib.suppress(botocore.exceptions.ClientError):
                s3.list_buckets()
        outcomes.append([outcome for _, _, outcome in proxy.log])
    assert outcomes[0] == outcomes[1]
    assert {"forwarded", "throttle", "500"} <= set(outcomes[0])


def test_proxy_forwards_bodies_both_ways_and_large(aws: str, fault_proxy: Any) -> None:
    proxy = fault_proxy(aws, failure_rate=0.0)
    s3 = client("s3", proxy.url)
    s3.create_bucket(Bucket="big")
    payload = os.urandom(3 * 1024 * 1024)
    s3.put_object(Bucket="big", Key="blob", Body=payload)
    assert s3.get_object(Bucket="big", Key="blob")["Body"].read() == payload
    head = s3.head_object(Bucket="big", Key="blob")
    assert head["ContentLength"] == len(payload)


def test_proxy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown fault modes"):
        FaultProxy("http://127.0.0.1:9", modes=("explode",))
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultProxy("http://127.0.0.1:9", failure_rate=1.5)
    with pytest.raises(ValueError, match="plain http"):
        FaultProxy("https://example.com")


def test_protocol_detection_and_cbor_shape() -> None:
    assert protocol_of({"smithy-protocol": "rpc-v2-cbor"}) == "rpc-v2-cbor"
    assert protocol_of({"X-Amz-Target": "Firehose_20150804.PutRecord"}) == "json"
    assert protocol_of({"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}) == "query"
    # {"__type": "T", "message": "m"} in CBOR, byte for byte (RFC 8949).
    assert cbor_error("T", "m") == bytes.fromhex("a2" "665f5f74797065" "6154" "676d657373616765" "616d")


# -- state databases --------------------------------------------------------------------------------------

def test_state_url_is_a_fresh_working_database(state_url: str) -> None:
    engine = sa.create_engine(state_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        table = f"t_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT)"))
            conn.execute(sa.text(f"INSERT INTO {table} (id, v) VALUES (1, 'a')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT v FROM {table}")).scalar_one() == "a"
    finally:
        engine.dispose()


def test_state_url_opens_with_logpipe_state(state_url: str) -> None:
    from logpipe.state.db import open_state

    engine = open_state(state_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    engine.dispose()


# -- the CLI runner -----------------------------------------------------------------------------------------

def test_cli_in_process_captures_output_and_exit_code(cli: Any) -> None:
    code, out, err = cli("--help")
    assert code == 0 and "Usage: logpipe" in out and err == ""
    result = cli("no-such-command")
    assert result.exit_code == 2 and "No such command" in result.stderr


def test_cli_subprocess(cli: Any) -> None:
    code, out, _ = cli.subprocess("--version")
    assert code == 0 and "logpipe" in out


def test_concurrent_multipart_upload_through_faults(aws: str, fault_proxy: Any) -> None:
    from boto3.s3.transfer import TransferConfig

    proxy = fault_proxy(aws, failure_rate=0.25, modes=("throttle", "500", "cut"), seed=3)
    s3 = client("s3", proxy.url, attempts=12)
    s3.create_bucket(Bucket="multi")
    payload = os.urandom(6 * 5 * 1024 * 1024 + 123)  # 7 parts of the 5 MiB minimum
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024,
                            max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(payload), "multi", "big", Config=config)
    proxy.set(failure_rate=0.0)
    assert s3.get_object(Bucket="multi", Key="big")["Body"].read() == payload
    assert sum(proxy.stats[m] for m in ("throttle", "500", "cut")) > 0, proxy.stats
