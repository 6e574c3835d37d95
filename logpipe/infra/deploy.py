"""Apply a rendered template with a change set, wait, and explain a failure.

Why change sets rather than ``create_stack``/``update_stack``: one path covers both (the change set
type says which), the change set can be inspected before it runs, and "nothing to change" arrives as
a clear status of the change set instead of a ``ValidationError`` to pattern-match. A failed deploy
is reported with the reasons CloudFormation gives for each failed resource
(``ResourceStatusReason`` in the stack events), because "UPDATE_ROLLBACK_COMPLETE" alone tells a
user nothing they can fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from logpipe import aws
from logpipe.errors import LogpipeError

CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
# Change sets that fail for these reasons changed nothing: not an error.
NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed", "no changes")
STACK_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
STACK_FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_COMPLETE", "DELETE_FAILED",
                "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}
# A stack in one of these states cannot take a change set: it must be deleted first.
STACK_DEAD = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"}


class DeployError(LogpipeError):
    """A stack could not be created or updated."""


@dataclass
class DeployResult:
    stack_name: str
    action: str  # "create", "update" or "unchanged"
    status: str
    outputs: dict[str, str] = field(default_factory=dict)


def cloudformation_client(region: str | None = None) -> Any:
    """A CloudFormation client (endpoint from ``AWS_ENDPOINT_URL`` when set) with standard retries."""
    return aws.client("cloudformation", region)


def _describe_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise DeployError(f"cannot describe stack {stack_name}: {exc}") from exc
    return stacks[0] if stacks else None


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def failure_reasons(cfn: Any, stack_name: str, since: datetime | None = None) -> list[str]:
    """``LogicalId (Type): reason`` for each failed resource event of the stack, oldest first."""
    reasons: list[str] = []
    paginator = cfn.get_paginator("describe_stack_events")
    # Events come newest first. This operation's events end (going back) at the stack's own
    # CREATE/UPDATE_IN_PROGRESS; ``since`` (minus a margin for clock skew) is the fallback bound.
    since = since - timedelta(minutes=5) if since is not None else None
    for page in paginator.paginate(StackName=stack_name):
        for event in page["StackEvents"]:
            if since is not None and event["Timestamp"] < since:
                break
            status = event.get("ResourceStatus", "")
            reason = event.get("ResourceStatusReason")
            if status.endswith("FAILED") and reason:
                reasons.append(f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {reason}")
            if (event.get("ResourceType") == "AWS::CloudFormation::Stack"
                    and status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS")):
                break
        else:
            continue
        break
    reasons.reverse()
    # The stack's own event only repeats "resource(s) failed": keep the resource reasons first.
    return reasons


def deploy_stack(
    stack_name: str,
    template_body: str,
    *,
    parameters: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    cfn: Any = None,
    region: str | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    on_status: Callable[[str], None] | None = None,
) -> DeployResult:
    """Create or update ``stack_name`` from ``template_body`` through a change set and wait for it.

    "No changes" returns ``action="unchanged"``. A failure raises :class:`DeployError` naming the
    failed resources and CloudFormation's reasons.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    cfn = cfn or cloudformation_client(region)
    say = on_status or (lambda _text: None)
    started = datetime.now(UTC)
    stack = _describe_stack(cfn, stack_name)
    status = stack["StackStatus"] if stack else None
    if status in STACK_DEAD:
        raise DeployError(
            f"stack {stack_name} is {status} from an earlier failed deploy and cannot be updated: "
            f"delete it (aws cloudformation delete-stack --stack-name {stack_name}) and deploy again"
            + _reasons_suffix(cfn, stack_name, None))
    if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"stack {stack_name} is {status}: wait for that operation to finish, then deploy again")
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    change_set = f"logpipe-{started:%Y%m%d%H%M%S}"
    request: dict[str, Any] = {
        "StackName": stack_name, "ChangeSetName": change_set, "ChangeSetType": change_type,
        "TemplateBody": template_body, "Capabilities": CAPABILITIES,
        "Description": "logpipe infra deploy",
    }
    if parameters:
        request["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    try:
        say(f"{stack_name}: creating change set ({change_type.lower()})")
        cfn.create_change_set(**request)
        described = _wait_change_set(cfn, stack_name, change_set, poll_seconds, timeout_seconds)
        if described["Status"] == "FAILED":
            reason = described.get("StatusReason", "")
            if any(text.lower() in reason.lower() for text in NO_CHANGE_REASONS):
                cfn.delete_change_set(StackName=stack_name, ChangeSetName=change_set)
                say(f"{stack_name}: no changes")
                return DeployResult(stack_name, "unchanged", status or "", _outputs(stack or {}))
            raise DeployError(f"change set for stack {stack_name} failed: {reason}")
        changes = [c.get("ResourceChange", {}) for c in described.get("Changes", [])]
        say(f"{stack_name}: executing {len(changes)} change(s)")
        cfn.execute_change_set(StackName=stack_name, ChangeSetName=change_set)
        final = _wait_stack(cfn, stack_name, poll_seconds, timeout_seconds, say)
    except (ClientError, BotoCoreError) as exc:
        hint = ""
        if "No export named" in str(exc):
            hint = " (the stateful stack exports it: deploy that first, `logpipe infra deploy --stack stateful`)"
        raise DeployError(f"deploying stack {stack_name} failed: {exc}{hint}") from exc
    if final["StackStatus"] not in STACK_DONE:
        raise DeployError(f"stack {stack_name} ended {final['StackStatus']}"
                          + _reasons_suffix(cfn, stack_name, started))
    action = "create" if change_type == "CREATE" else "update"
    return DeployResult(stack_name, action, final["StackStatus"], _outputs(final))


def _reasons_suffix(cfn: Any, stack_name: str, since: datetime | None) -> str:
    try:
        reasons = failure_reasons(cfn, stack_name, since)
    except Exception:  # the events are a courtesy: never hide the first error behind a second one
        return ""
    return (": " + "; ".join(reasons)) if reasons else ""


def _wait_change_set(cfn: Any, stack_name: str, change_set: str, poll: float, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = cfn.describe_change_set(StackName=stack_name, ChangeSetName=change_set)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        if time.monotonic() > deadline:
            raise DeployError(f"change set {change_set} of stack {stack_name} still {described['Status']} "
                              f"after {timeout:.0f}s")
        time.sleep(poll)


def _wait_stack(cfn: Any, stack_name: str, poll: float, timeout: float, say: Callable[[str], None]) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        stack = _describe_stack(cfn, stack_name)
        if stack is None:
            raise DeployError(f"stack {stack_name} disappeared while deploying (deleted by someone else?)")
        status = stack["StackStatus"]
        if status != last:
            say(f"{stack_name}: {status}")
            last = status
        if status in STACK_DONE or status in STACK_FAILED:
            return stack
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} still {status} after {timeout:.0f}s; "
                              "see the stack's events in the CloudFormation console")
        time.sleep(poll)


def deploy_all(
    templates: dict[str, str],
    stack_names: dict[str, str],
    *,
    kinds: tuple[str, ...] = ("stateful", "stateless"),
    **kwargs: Any,
) -> list[DeployResult]:
    """Deploy the stacks in dependency order (stateful first: stateless imports its exports)."""
    results = []
    for kind in ("stateful", "stateless"):
        if kind not in kinds:
            continue
        parameters = {"StatefulStackName": stack_names["stateful"]} if kind == "stateless" else None
        results.append(deploy_stack(stack_names[kind], templates[kind], parameters=parameters,
                                    tags={"app": "logpipe", "logpipe:stack": kind}, **kwargs))
    return results
