"""pytest-nexus: the pytest plugin for testing Nexus Platform plugins.

The fixtures, options and markers live in :mod:`pytest_nexus.plugin`, which
pytest loads through the ``nexus`` entry point; the objects they hand out
come from :mod:`nexus_testkit`.  This package stays import-light on purpose:
pytest imports it in every run.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
