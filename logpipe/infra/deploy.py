"""Apply a rendered template with a change set, wait, and explain a failure.

Why change sets rather than ``create_stack``/``update_stack``: one path covers both (the change set
type says which), the change set can be inspected before it runs, and "nothing to change" arrives as
a clear status of the change set instead of a ``ValidationError`` to pattern-match. A failed deploy
is reported with the reasons CloudFormation gives for each failed resource
(``ResourceStatusReason`` in the stack events), because "UPDATE_ROLLBACK_COMPLETE" alone tells a
user nothing they can fix.
"""

from __future__ import annotations

import os
import re
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
    rendered: dict[str, dict[str, Any]] | None = None,
    **kwargs: Any,
) -> list[DeployResult]:
    """Deploy the stacks in dependency order (stateful first: stateless imports its exports).

    With ``rendered`` (the templates as dicts), each stack is checked before and after: the exports
    a stack imports must exist before its change set is made, and a stack that reports success must
    hold every resource and output of its template. Why: a "CREATE_COMPLETE" stack without its
    outputs (a CloudFormation stand-in that skips resource types, a stack deployed from an older
    template) otherwise surfaces one command later as "No export named ...", right after the user
    deployed the stack that should export it.
    """
    cfn = kwargs.get("cfn")
    results = []
    for kind in ("stateful", "stateless"):
        if kind not in kinds:
            continue
        parameters = {"StatefulStackName": stack_names["stateful"]} if kind == "stateless" else None
        template = (rendered or {}).get(kind)
        if template is not None and cfn is not None:
            check_imports(cfn, stack_names[kind], template, parameters or {}, stack_names["stateful"])
        result = deploy_stack(stack_names[kind], templates[kind], parameters=parameters,
                              tags={"app": "logpipe", "logpipe:stack": kind}, **kwargs)
        if template is not None and cfn is not None:
            check_complete(cfn, result, template)
        results.append(result)
    return results


def _endpoint_note() -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_CLOUDFORMATION") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return "see the stack's events in the CloudFormation console"
    return (f"CloudFormation here is {endpoint} (AWS_ENDPOINT_URL), a stand-in that does not implement "
            "every resource type (moto's CloudFormation creates no Glue, Athena or bucket-policy resources "
            "and registers no outputs for stacks made through change sets); deploy against AWS itself")


def check_complete(cfn: Any, result: DeployResult, template: dict[str, Any]) -> None:
    """Raise :class:`DeployError` when the stack lacks resources or outputs its template declares."""
    if result.action == "unchanged" and not template.get("Outputs"):
        return
    expected = {logical: str(resource.get("Type", "?"))
                for logical, resource in (template.get("Resources") or {}).items()
                if "Condition" not in resource}
    created: set[str] = set()
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=result.stack_name):
        for summary in page.get("StackResourceSummaries", []):
            status = str(summary.get("ResourceStatus", ""))
            if summary.get("LogicalResourceId") and status.endswith("_COMPLETE") and not status.startswith("DELETE"):
                created.add(summary["LogicalResourceId"])
    missing = [f"{logical} ({kind})" for logical, kind in expected.items() if logical not in created]
    wanted = [key for key, output in (template.get("Outputs") or {}).items() if "Condition" not in output]
    absent = [key for key in wanted if key not in result.outputs]
    if not missing and not absent:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} of its {len(expected)} resources were not created ({', '.join(missing)})")
    if absent:
        parts.append(f"{len(absent)} of its {len(wanted)} outputs are missing ({', '.join(absent)})")
    raise DeployError(f"stack {result.stack_name} reports {result.status or 'no changes'}, but "
                      f"{' and '.join(parts)}: {_endpoint_note()}")


def _imports(value: Any, parameters: dict[str, str]) -> set[str]:
    """The export names a template imports (``Fn::ImportValue`` of a string or ``Fn::Sub`` of parameters)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _imports(item, parameters)
    elif isinstance(value, dict):
        if set(value) == {"Fn::ImportValue"}:
            name = value["Fn::ImportValue"]
            if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
                name = re.sub(r"\$\{([^}!]+)\}", lambda m: parameters.get(m[1], m[0]), name["Fn::Sub"])
            if isinstance(name, str):
                found.add(name)
            return found
        for item in value.values():
            found |= _imports(item, parameters)
    return found


def check_imports(cfn: Any, stack_name: str, template: dict[str, Any], parameters: dict[str, str],
                  exporting_stack: str) -> None:
    """Raise :class:`DeployError` naming the exports ``template`` imports that do not exist yet."""
    needed = _imports(template.get("Resources") or {}, parameters)
    if not needed:
        return
    exported: set[str] = set()
    for page in cfn.get_paginator("list_exports").paginate():
        exported.update(export["Name"] for export in page.get("Exports", []))
    missing = sorted(needed - exported)
    if not missing:
        return
    stack = _describe_stack(cfn, exporting_stack)
    if stack is None:
        why = f"stack {exporting_stack} does not exist: deploy it first (`logpipe infra deploy --stack stateful`)"
    else:
        why = (f"stack {exporting_stack} is {stack['StackStatus']} but does not export them: redeploy it "
               f"(`logpipe infra deploy --stack stateful`) and check that it prints its outputs; {_endpoint_note()}")
    raise DeployError(f"stack {stack_name} imports {', '.join(missing)}, which no stack exports: {why}")


# Which stack output goes to which logpipe.toml key: what the README's "put the stack outputs into
# logpipe.toml" means, printed ready to paste.
CONFIG_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("BucketName", "store", "root", "s3://{}"),
    ("LogPrefix", "store", "prefix", "{}"),
    ("DatabaseName", "engine", "database", "{}"),
    ("TableName", "engine", "table", "{}"),
    ("WorkGroupName", "engine", "workgroup", "{}"),
    ("AthenaOutputLocation", "engine", "output_location", "{}"),
    ("DeliveryStreamName", "firelens", "firehose_stream", "{}"),
)


def config_snippet(outputs: dict[str, str]) -> str:
    """The ``logpipe.toml`` lines the stacks' outputs give (empty when they give none)."""
    sections: dict[str, list[str]] = {}
    for output, section, key, form in CONFIG_KEYS:
        if output in outputs:
            value = form.format(outputs[output]).replace("\\", "\\\\").replace('"', '\\"')
            sections.setdefault(section, []).append(f'{key} = "{value}"')
    if "engine" in sections:
        sections["engine"].insert(0, 'kind = "athena"')
    return "\n".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items()).rstrip("\n")
