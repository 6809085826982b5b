"""Hypothesis profiles nexus-dev and nexus-ci, selected without overriding the user's."""

from __future__ import annotations

import pytest

INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
PROBE = """
from hypothesis import settings

def test_profile():
    print("PROFILE", settings.get_current_profile_name(), settings.default.max_examples,
          settings.default.derandomize)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("NEXUS_HYPOTHESIS_PROFILE", raising=False)
    # With CI set, hypothesis loads its own "ci" profile, which the cases below
    # do not expect; the CI case has its own test.
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini(INI)
    pytester.makepyfile(test_probe=PROBE)
    return pytester


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--nexus-profile=nexus-ci"], None, "PROFILE nexus-ci 200 True"),
        (["--nexus-profile=nexus-dev"], None, "PROFILE nexus-dev 25 False"),
        ([], "nexus-ci", "PROFILE nexus-ci 200 True"),
        (["--hypothesis-profile=nexus-dev"], None, "PROFILE nexus-dev 25 False"),
        # The user's own choice wins over ours.
        (
            ["--hypothesis-profile=default", "--nexus-profile=nexus-ci"],
            None,
            "PROFILE default 100 False",
        ),
    ],
)
def test_profile_selection(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: str | None,
    expected: str,
) -> None:
    if env:
        monkeypatch.setenv("NEXUS_HYPOTHESIS_PROFILE", env)
    result = project.runpytest_subprocess("-s", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{expected}"])


def test_conftest_profile_is_not_overridden(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        from hypothesis import settings
        settings.register_profile("mine", max_examples=7)
        settings.load_profile("mine")
        """
    )
    result = project.runpytest_subprocess("-s", "--nexus-profile=nexus-ci")
    result.stdout.fnmatch_lines(["*PROFILE mine 7 False"])


def test_unknown_profile_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--nexus-profile=fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: 'fast' is not a nexus hypothesis profile. Valid profiles: nexus-dev, nexus-ci."]
    )


def test_nexus_profile_replaces_hypothesis_automatic_ci_profile(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    plain = project.runpytest_subprocess("-s")
    plain.stdout.fnmatch_lines(["*PROFILE ci 100 True"])
    ours = project.runpytest_subprocess("-s", "--nexus-profile=nexus-ci")
    ours.stdout.fnmatch_lines(["*PROFILE nexus-ci 200 True"])
