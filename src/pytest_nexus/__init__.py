"""pytest-nexus: the pytest plugin for testing Nexus Platform plugins.

The fixtures, options and markers live in :mod:`pytest_nexus.plugin`, which
pytest loads through the ``nexus`` entry point; the objects they hand out
come from :mod:`nexus_testkit`.  This package stays import-light on purpose:
pytest imports it in every run.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["NexusContractWarning", "__version__", "contract_tests"]


def __getattr__(name: str) -> Any:
    # Lazy: the contract machinery imports FastAPI and friends.
    if name == "NexusContractWarning":  # the library's class, one object under both names
        from nexus_testkit._errors import NexusContractWarning

        return NexusContractWarning
    if name == "contract_tests":
        from ._contract import contract_tests

        return contract_tests
    raise AttributeError(f"module 'pytest_nexus' has no attribute {name!r}")
