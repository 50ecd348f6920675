"""The suite's plugins, one concern each (see fixtures/)."""

import pytest

# Helpers in fixtures/ assert too (the verdict, ls/touch); give them pytest's messages.
pytest.register_assert_rewrite("fixtures", "labkit")

pytest_plugins = [
    "fixtures.redaction",
    "fixtures.options",
    "fixtures.outcomes",
    "fixtures.summary",
    "fixtures.transcript",
    "fixtures.diagnostics",
    "fixtures.cleanup",
    "fixtures.cluster",
    "fixtures.parametrize",
    "fixtures.needs",
    "fixtures.deploy",
    "fixtures.pages",
    "fixtures.modules",
    "fixtures.eks.plugin",
]
