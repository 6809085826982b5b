"""What a failing test's report shows: the "nexus: recorded by <plugin>" sections.

Nothing recorded is lost: a failing test's report lists what the plugin
published and wrote before the failure (secrets masked).

Secrets are masked on every channel pytest reports through: the values of
the secret keys of every host of the session are kept, and each test
report's sections (captured stdout, stderr and log), its longrepr (the
E-lines, the short summary) and each recorded warning are masked before the
terminal, JUnit XML or any other reporter sees them.  Session-wide, because
a plugin's leftover task can log its secret during a later test.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["mask_secrets_of", "track"]

_HOSTS_KEY = pytest.StashKey[list[Any]]()
#: The secrets of every host of the session (a Masker once a host had any: nexus_testkit
#: is imported when a test first builds a host, not when pytest loads this plugin).
_SECRETS: Any = None


def mask_secrets_of(host: Any) -> None:
    """Mask ``host``'s secrets (a PluginHost's ``masker``) in every report of the session."""
    global _SECRETS
    masker = getattr(host, "masker", None)
    if not masker:
        return
    if _SECRETS is None:
        from nexus_testkit._masking import Masker

        _SECRETS = Masker()
    _SECRETS.update(masker)


def track(node: pytest.Item, host: Any) -> None:
    """Report what ``host`` (a PluginHost, or a HostFactory's hosts) recorded if the test fails."""
    node.stash.setdefault(_HOSTS_KEY, []).append(host)
    mask_secrets_of(host)


def _mask_report(report: pytest.TestReport) -> None:
    masker = _SECRETS
    assert masker is not None
    report.sections = [(title, masker(text)) for title, text in report.sections]
    longrepr = report.longrepr
    if longrepr is None:
        return
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, masker(reason))
        return
    text = str(longrepr)
    if masker.contains_secret(text):
        # Plain text from here on: the one rendering that can be masked whole.
        report.longrepr = masker(text)


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: Any, when: str, nodeid: str, location: Any) -> None:
    if not _SECRETS:
        return
    message = warning_message.message
    text = str(message)
    if not _SECRETS.contains_secret(text):
        return
    masked = _SECRETS(text)
    category = type(message) if isinstance(message, Warning) else UserWarning
    try:
        warning_message.message = category(masked)
    except Exception:  # a warning class with a constructor of its own
        warning_message.message = UserWarning(masked)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    tracked = item.stash.get(_HOSTS_KEY, None)
    for obj in tracked or ():
        for host in getattr(obj, "hosts", [obj]):  # a factory's hosts are built in the test
            mask_secrets_of(host)
    if _SECRETS:
        _mask_report(report)
    if tracked is None:
        return report
    if report.failed:
        for obj in tracked:
            for host in getattr(obj, "hosts", [obj]):
                if host.plugin is None:
                    continue
                recorded = host.describe_recorded()
                if recorded:
                    report.sections.append(
                        (f"nexus: recorded by {_names(host)} ({call.when})", recorded)
                    )
    if call.when == "teardown":
        # Items live until the session ends: hosts kept here would keep every
        # plugin, app and fake of the run alive (and the collector busy).
        del item.stash[_HOSTS_KEY]
    return report


def _names(host: Any) -> str:
    # A host of several plugins records for all of them.
    names = getattr(host, "names", None)
    return ", ".join(names) if names else str(host.name)
