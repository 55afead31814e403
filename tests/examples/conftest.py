"""The ``lvatool`` pytest plugin's fixtures, for these tests.

Once the plugin is registered through its ``pytest11`` entry point the fixtures exist
everywhere; importing them here makes these tests independent of that registration (a
``pytest_plugins`` list is allowed only in the root conftest, and naming the plugin's
module there would register it twice next to the entry point).
"""

from lvatool.testing.pytest_plugin import lvatool_address, lvatool_server

__all__ = ["lvatool_address", "lvatool_server"]
