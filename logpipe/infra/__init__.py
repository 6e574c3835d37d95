"""The CloudFormation stacks: rendered from the config (a stateful and a stateless stack) and deployed."""

from __future__ import annotations

from logpipe.infra.deploy import DeployError, DeployResult, deploy_all, deploy_stack
from logpipe.infra.render import render_templates, stack_names, write_templates

__all__ = ["DeployError", "DeployResult", "deploy_all", "deploy_stack", "render_templates", "stack_names",
           "write_templates"]
