"""Writing a new extension project: which files, filled in with what, and when to refuse.

Every file of the project comes from one template in ``templates/``, filled in with
:class:`string.Template` under the delimiter ``@@`` (``@@name``): the files themselves are
full of ``$``, in topology parameters (``${grpcUrl}``), IoT Edge variables
(``$CONTAINER_REGISTRY_ADDRESS``), GitHub expressions (``${{ ... }}``) and shell, which the
default delimiter would mistake for placeholders. Substitution is strict: a placeholder
without a value is a bug caught by the tests, never a file shipped with ``@@`` in it.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path

from lvatool import __version__

# The LVA module's name in the deployment manifest: the extension joins its IPC namespace
# (IpcMode container:lvaEdge, M6), so the two names must agree. LVA's own samples use it.
LVA_MODULE = "lvaEdge"
PORT = 5001
# The topologies' sharedMemorySizeMiB (LVA allows 0-100, M1), and how many live pipelines
# (cameras) with that buffer the LVA module's /dev/shm is sized for.
SHARED_MEMORY_MIB = 64
PIPELINES = 4
# Room beyond the pipelines' buffers: a pipeline being re-activated can create its new
# buffer before the old one is gone, and the LVA runtime keeps small files of its own there.
SHM_MARGIN_MIB = 64

# (where the file goes in the project, which template it comes from)
PROJECT_FILES: tuple[tuple[str, str], ...] = (
    ("processor.py", "processor.py.tmpl"),
    ("tests/test_processor.py", "test_processor.py.tmpl"),
    ("pyproject.toml", "pyproject.toml.tmpl"),
    ("requirements.txt", "requirements.txt.tmpl"),
    ("Dockerfile", "Dockerfile.tmpl"),
    (".dockerignore", "dockerignore.tmpl"),
    ("wheels/README.md", "wheels-README.md.tmpl"),
    ("deployment.template.json", "deployment.template.json.tmpl"),
    ("deployment.embedded.template.json", "deployment.embedded.template.json.tmpl"),
    ("topologies/lva-topology.json", "lva-topology.json.tmpl"),
    ("topologies/ava-topology.json", "ava-topology.json.tmpl"),
    (".github/workflows/ci.yml", "ci.yml.tmpl"),
    (".gitignore", "gitignore.tmpl"),
    ("README.md", "README.md.tmpl"),
)

# IoT Edge module names become Docker container names, image repository names (which
# must be lower case) and the host name the LVA module dials (tcp://NAME:5001): so lower
# case letters, digits and hyphens, starting with a letter, one DNS label long.
_MODULE_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
_RESERVED = {"edgeagent", "edgehub", LVA_MODULE.casefold()}


class ScaffoldError(ValueError):
    """The project cannot be written as asked; the message names the directory or option."""


class _Template(string.Template):
    delimiter = "@@"


def shm_size_bytes(
    shared_memory_mib: int = SHARED_MEMORY_MIB,
    pipelines: int = PIPELINES,
    margin_mib: int = SHM_MARGIN_MIB,
) -> int:
    """The LVA module's ``HostConfig.ShmSize``: every pipeline's buffer plus the margin."""
    return (shared_memory_mib * pipelines + margin_mib) * 2**20


def _sanitized(text: str) -> str:
    """``text`` made into a module name: lower case, other characters to hyphens."""
    name = re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")
    if not name:
        return "extension"
    if not name[0].isalpha():
        name = "ext-" + name
    return name[:63].rstrip("-")


def module_name_for(directory: Path, name: str | None = None) -> str:
    """The IoT Edge module name: ``name`` as given (checked), or made from the directory's.

    A ``--name`` the user typed is refused rather than silently changed, with the
    sanitized form offered; a name taken from the directory is sanitized quietly.
    """
    if name is None:
        chosen = _sanitized(directory.resolve().name)
        return chosen if chosen.casefold() not in _RESERVED else chosen + "-extension"
    if name.casefold() in _RESERVED:
        raise ScaffoldError(
            f"--name {name!r} is taken by an IoT Edge or LVA module of the manifest; choose another"
        )
    if not _MODULE_NAME.fullmatch(name):
        raise ScaffoldError(
            f"--name {name!r} is not a usable IoT Edge module name (lower-case letters, "
            f"digits and hyphens, starting with a letter, at most 63); try {_sanitized(name)!r}"
        )
    return name


def _values(directory: Path, module: str) -> dict[str, str]:
    return {
        "module": module,
        "project": directory.resolve().name or module,
        "lvatool_version": __version__,
        "port": str(PORT),
        "lva_module": LVA_MODULE,
        "shared_memory_mib": str(SHARED_MEMORY_MIB),
        "pipelines": str(PIPELINES),
        "shm_margin_mib": str(SHM_MARGIN_MIB),
        "shm_size_bytes": str(shm_size_bytes()),
    }


def render(template_name: str, values: dict[str, str]) -> str:
    """The text of one template with ``values`` filled in (strict: every ``@@key`` set)."""
    folder = resources.files("lvatool.scaffold").joinpath("templates")
    text = folder.joinpath(template_name).read_text("utf-8")
    return _Template(text).substitute(values)


def _check_directory(directory: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} exists and is not a directory")
    if directory.is_dir() and not force and any(directory.iterdir()):
        raise ScaffoldError(
            f"{directory} is not empty; give --force to overwrite the files lvatool init "
            "writes there (other files are left alone)"
        )


def create_project(directory: Path, *, name: str | None = None, force: bool = False) -> list[Path]:
    """Write a new extension project into ``directory``; the paths written, in order.

    The directory is created if missing. A non-empty one is refused unless ``force``, which
    overwrites the project's own files and leaves every other file alone.
    """
    _check_directory(directory, force)
    module = module_name_for(directory, name)
    values = _values(directory, module)
    # Render everything before writing anything: a broken template leaves no half project.
    texts = [(directory / target, render(source, values)) for target, source in PROJECT_FILES]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ScaffoldError(f"cannot create {directory}: {error.strerror or error}") from None
    written: list[Path] = []
    for path, text in texts:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise ScaffoldError(f"cannot write {path}: {error.strerror or error}") from None
        written.append(path)
    return written
