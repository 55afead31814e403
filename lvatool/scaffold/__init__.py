"""``lvatool init``: a ready project for a new extension, from templates inside the package.

The templates are package data (``lvatool/scaffold/templates``), so a wheel carries them
and ``lvatool init`` works wherever lvatool is installed, with no network and no new
dependency: they are filled in with :class:`string.Template` (see :mod:`.project`).
"""

from lvatool.scaffold.project import (
    LVA_MODULE,
    PORT,
    PROJECT_FILES,
    SHARED_MEMORY_MIB,
    ScaffoldError,
    create_project,
    module_name_for,
    shm_size_bytes,
)

__all__ = [
    "LVA_MODULE",
    "PORT",
    "PROJECT_FILES",
    "SHARED_MEMORY_MIB",
    "ScaffoldError",
    "create_project",
    "module_name_for",
    "shm_size_bytes",
]
