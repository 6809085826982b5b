"""The documentation's examples run, and its generated parts are up to date."""

from __future__ import annotations

import re
import shutil

import pytest

from nexus_testkit.contract._report import checks_markdown, ecosystem_markdown

from ._helpers import EXAMPLES, REPO, needs_platform

DOCS = REPO / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text())


@needs_platform
@pytest.mark.parametrize("page", ["fixtures.md", "property-testing.md", "time-http-errors.md"])
def test_every_example_runs(pytester: pytest.Pytester, page: str) -> None:
    plugin = pytester.path / "my_awesome_plugin"
    shutil.copytree(EXAMPLES / "my_awesome_plugin", plugin, ignore=shutil.ignore_patterns("tests"))
    (plugin / "tests").mkdir()
    blocks = _blocks(page)
    assert blocks
    expected = 0
    for i, block in enumerate(blocks):
        (plugin / "tests" / f"test_doc_{i}.py").write_text(block)
        expected += len(re.findall(r"^(?:async )?def test_", block, re.MULTILINE))
    pytester.makeini(
        # pytest-asyncio's strict mode and warnings as errors: the examples need
        # neither asyncio_mode = auto nor a filter for the platform's warnings.
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "addopts = --import-mode=importlib\nfilterwarnings = error\n"
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=expected)


def test_contract_table_is_generated_from_the_checks() -> None:
    text = (DOCS / "contract.md").read_text()
    for table in (checks_markdown(), ecosystem_markdown()):
        assert table in text, (
            "docs/contract.md is out of date: regenerate the tables with "
            "`python -m nexus_testkit checks --markdown`"
        )
