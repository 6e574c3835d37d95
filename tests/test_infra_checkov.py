"""checkov on the CloudFormation templates: no failed check, and every skip says why.

checkov runs from its own virtual environment (``support.checkov``); the first run installs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.checkov import failed_checks, run_checkov, skipped_checks
from support.infra import full_config

from logpipe.config import Config
from logpipe.infra.render import render_templates, write_templates

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _assert_clean(report: dict, where: str) -> None:
    assert report["summary"]["parsing_errors"] == 0, report["results"]["parsing_errors"]
    assert report["summary"]["passed"] > 0, f"checkov checked nothing in {where}"
    assert failed_checks(report) == [], where
    assert len(skipped_checks(report)) == report["summary"]["skipped"]
    for skipped in skipped_checks(report):
        # A skip is allowed only with a written reason next to it in the template.
        comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert comment and len(comment) > 20, f"skip of {skipped['check_id']} without a reason"


def test_checkov_passes_on_infra_folder() -> None:
    _assert_clean(run_checkov(REPO_ROOT / "infra", "cloudformation", quiet=False), "infra/")


def test_checkov_passes_with_every_option_on(tmp_path: Path) -> None:
    write_templates(full_config(), tmp_path)
    _assert_clean(run_checkov(tmp_path, "cloudformation", quiet=False), "full config")


def test_checkov_can_fail(tmp_path: Path) -> None:
    """The checks above are real: an unencrypted, unversioned bucket fails them."""
    template = render_templates(Config())["stateful"]
    props = template["Resources"]["LogBucket"]["Properties"]
    del props["VersioningConfiguration"], props["PublicAccessBlockConfiguration"]
    import yaml

    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
    failed = {c.split()[0] for c in failed_checks(run_checkov(tmp_path / "bad.yaml", "cloudformation"))}
    assert {"CKV_AWS_21", "CKV_AWS_53"} <= failed
