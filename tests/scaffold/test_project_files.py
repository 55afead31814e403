"""``create_project``: the files it writes, what is in them, and when it refuses."""

from __future__ import annotations

import ast
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lvatool.scaffold import (
    LVA_MODULE,
    PORT,
    PROJECT_FILES,
    SHARED_MEMORY_MIB,
    ScaffoldError,
    create_project,
    module_name_for,
    shm_size_bytes,
)
from lvatool.sim.topology import read_topology

JSON_FILES = [target for target, _ in PROJECT_FILES if target.endswith(".json")]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "Vehicle Counter"
    create_project(directory, name="vehicle-counter")
    return directory


def _create_options(manifest: dict[str, Any], module: str) -> dict[str, Any]:
    """A module's createOptions, which IoT Edge keeps as a JSON string inside the JSON."""
    modules = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    options = json.loads(modules[module]["settings"]["createOptions"])
    assert isinstance(options, dict)
    return options


def _load(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_every_file_is_written_and_returned_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "project"

    written = create_project(directory)

    assert written == [directory / target for target, _ in PROJECT_FILES]
    assert all(path.is_file() and path.stat().st_size > 0 for path in written)


def test_every_template_is_package_data_and_used() -> None:
    # Read through importlib.resources, as from an installed wheel: a template missing
    # from the package, or one no file is made from, is a mistake in the list.
    folder = resources.files("lvatool.scaffold").joinpath("templates")
    shipped = {entry.name for entry in folder.iterdir() if entry.name.endswith(".tmpl")}

    assert shipped == {source for _, source in PROJECT_FILES}


def test_no_placeholder_is_left_in_any_file(project: Path) -> None:
    for target, _ in PROJECT_FILES:
        text = (project / target).read_text(encoding="utf-8")
        assert "@@" not in text, target


@pytest.mark.parametrize("target", JSON_FILES)
def test_json_files_are_json(project: Path, target: str) -> None:
    _load(project / target)


def test_shared_memory_manifest_shares_ipc_and_sizes_dev_shm(project: Path) -> None:
    manifest = _load(project / "deployment.template.json")

    lva = _create_options(manifest, LVA_MODULE)["HostConfig"]
    extension = _create_options(manifest, "vehicle-counter")["HostConfig"]

    # M6: the extension joins the LVA module's IPC namespace, so its /dev/shm is the
    # LVA module's: the size is set where that /dev/shm is made.
    assert lva["IpcMode"] == "shareable"
    assert extension["IpcMode"] == f"container:{LVA_MODULE}"
    assert lva["ShmSize"] == shm_size_bytes()
    assert lva["ShmSize"] > SHARED_MEMORY_MIB * 2**20
    assert "ShmSize" not in extension  # Docker ignores it on a container that joins another


def test_shared_memory_manifest_starts_lva_before_the_extension(project: Path) -> None:
    modules = _load(project / "deployment.template.json")["modulesContent"]["$edgeAgent"][
        "properties.desired"
    ]["modules"]

    assert modules[LVA_MODULE]["startupOrder"] < modules["vehicle-counter"]["startupOrder"]


def test_embedded_manifest_shares_nothing(project: Path) -> None:
    manifest = _load(project / "deployment.embedded.template.json")

    for module in (LVA_MODULE, "vehicle-counter"):
        host = _create_options(manifest, module)["HostConfig"]
        assert "IpcMode" not in host and "ShmSize" not in host


@pytest.mark.parametrize(
    ("target", "extension_type"),
    [
        ("topologies/lva-topology.json", "#Microsoft.Media.MediaGraphGrpcExtension"),
        ("topologies/ava-topology.json", "#Microsoft.VideoAnalyzer.GrpcExtension"),
    ],
)
def test_topologies_point_at_the_module_through_shared_memory(
    project: Path, target: str, extension_type: str
) -> None:
    processors = _load(project / target)["properties"]["processors"]
    assert [node["@type"] for node in processors] == [extension_type]

    settings = read_topology(project / target)

    assert settings.target == f"vehicle-counter:{PORT}"
    assert settings.shm_mib == SHARED_MEMORY_MIB
    assert json.loads(settings.extension_configuration or "") == {"threshold": 127}


def test_python_files_parse(project: Path) -> None:
    for target in ("processor.py", "tests/test_processor.py"):
        ast.parse((project / target).read_text(encoding="utf-8"), filename=target)


def test_dockerfile_serves_the_processor_as_a_non_root_user_with_a_health_check(
    project: Path,
) -> None:
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")

    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert f"EXPOSE {PORT}" in dockerfile
    assert f'"grpc_health_probe", "-addr=localhost:{PORT}"' in dockerfile
    assert re.search(r"GRPC_HEALTH_PROBE_VERSION=v\d+\.\d+\.\d+", dockerfile)
    assert '"--processor", "processor.py:process"' in dockerfile
    assert "pip install /tmp/wheels/lvatool-" in dockerfile


def test_ci_installs_lvatool_from_the_project_and_runs_tests_and_conformance(
    project: Path,
) -> None:
    workflow = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")

    assert "pip install wheels/lvatool-*.whl" in workflow
    assert "pip install lvatool\n" not in workflow  # not on PyPI
    assert "python -m pytest" in workflow
    assert "lvatool serve --processor processor.py:process" in workflow
    assert f"lvatool conformance server --target localhost:{PORT}" in workflow


def test_a_non_empty_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(ScaffoldError, match=r"is not empty; give --force"):
        create_project(tmp_path)

    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_force_overwrites_the_project_files_and_keeps_the_others(project: Path) -> None:
    (project / "processor.py").write_text("edited")
    (project / "model.onnx").write_text("weights")

    create_project(project, name="vehicle-counter", force=True)

    assert "BrightnessProcessor" in (project / "processor.py").read_text(encoding="utf-8")
    assert (project / "model.onnx").read_text() == "weights"


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")

    with pytest.raises(ScaffoldError, match="is not a directory"):
        create_project(tmp_path / "taken")


def test_a_directory_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(ScaffoldError, match=r"cannot create .*file/project: Not a directory"):
        create_project(tmp_path / "file" / "project")


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("Vehicle Counter", "vehicle-counter"),
        ("my_ext.v2", "my-ext-v2"),
        ("2cams", "ext-2cams"),
        ("___", "extension"),
        ("edgeHub", "edgehub-extension"),
        ("x" * 80, "x" * 63),
    ],
)
def test_module_names_from_the_directory_are_sanitized(
    tmp_path: Path, directory: str, expected: str
) -> None:
    assert module_name_for(tmp_path / directory) == expected


@pytest.mark.parametrize("name", ["Bad Name", "UPPER", "-lead", "9lives", "a" * 64, LVA_MODULE])
def test_an_unusable_name_is_refused_before_anything_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(ScaffoldError, match=f"--name {re.escape(repr(name))}"):
        create_project(tmp_path / "p", name=name)

    assert not (tmp_path / "p").exists()
