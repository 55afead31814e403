"""Reading an LVA (1.0, 2.0) or AVA topology: the settings of its gRPC extension node.

Topologies name things in varied case (``SharedMemorySizeMiB`` or
``sharedMemorySizeMiB``, ``Embedded`` or ``embedded``), so every key and enumerated
value is matched case-insensitively (F1). ``${name}`` references are resolved from
``--param`` values first and the topology's parameter defaults second.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvatool.media import Encoding, PixelFormat, ScaleMode

_REFERENCE = re.compile(r"\$\{([^}]+)\}")
_ENCODINGS = {"jpeg": Encoding.JPG, "jpg": Encoding.JPG, "bmp": Encoding.BMP,
              "png": Encoding.PNG, "raw": Encoding.RAW}  # fmt: skip


class TopologyError(ValueError):
    """The topology file cannot be used; the message names the place."""


@dataclass(frozen=True)
class ExtensionSettings:
    """What the topology's gRPC extension node asks of LVA; None where it is silent."""

    node_name: str
    topology_name: str
    target: str | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = None
    shm_mib: float | None = None
    width: int | None = None
    height: int | None = None
    scale_mode: ScaleMode | None = None
    encoding: Encoding | None = None
    quality: int | None = None
    pixel_format: PixelFormat | None = None
    max_fps: float | None = None
    skip_without_annotation: bool = False
    extension_configuration: str | None = None


def _get(mapping: Any, key: str) -> Any:
    """``mapping[key]`` with the key matched case-insensitively; None when absent."""
    if not isinstance(mapping, dict):
        return None
    wanted = key.casefold()
    for name, value in mapping.items():
        if isinstance(name, str) and name.casefold() == wanted:
            return value
    return None


class _Resolver:
    def __init__(self, parameters: Any, overrides: dict[str, str]) -> None:
        self.values: dict[str, str] = {}
        for parameter in parameters if isinstance(parameters, list) else []:
            name = _get(parameter, "name")
            default = _get(parameter, "default")
            if isinstance(name, str) and default is not None:
                self.values[name.casefold()] = str(default)
        self.values.update({k.casefold(): v for k, v in overrides.items()})

    def __call__(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.casefold() not in self.values:
                raise TopologyError(
                    f"{where} uses ${{{name}}}, which has no default: give --param {name}=VALUE"
                )
            return self.values[name.casefold()]

        return _REFERENCE.sub(substitute, value)


def _number(value: Any, where: str, kind: type[int] | type[float]) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise TopologyError(f"{where} is {value!r}, not a number") from None


def _find_extension(document: Any) -> dict[str, Any]:
    properties = _get(document, "properties") or {}
    processors = _get(properties, "processors") or []
    for processor in processors if isinstance(processors, list) else []:
        kind = str(_get(processor, "@type") or "")
        if kind.casefold().endswith("grpcextension"):
            return processor  # type: ignore[no-any-return]
    raise TopologyError("the topology has no gRPC extension processor (…GrpcExtension)")


def read_topology(path: Path, params: dict[str, str] | None = None) -> ExtensionSettings:
    """The settings of the first gRPC extension node of the topology in ``path``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TopologyError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise TopologyError(f"{path} is not JSON: {error}") from None
    properties = _get(document, "properties")
    resolve = _Resolver(_get(properties, "parameters"), params or {})
    node = _find_extension(document)
    name = str(_get(node, "name") or "grpcExtension")
    at = f"processor {name!r}"

    endpoint = _get(node, "endpoint") or {}
    url = resolve(_get(endpoint, "url"), f"{at} endpoint.url")
    target = None
    if isinstance(url, str) and url:
        target = re.sub(r"^[a-z]+://", "", url.strip(), flags=re.IGNORECASE).rstrip("/")
    credentials = _get(endpoint, "credentials") or {}
    username = resolve(_get(credentials, "username"), f"{at} credentials.username")
    password = resolve(_get(credentials, "password"), f"{at} credentials.password")

    transfer = _get(node, "dataTransfer") or {}
    mode = str(resolve(_get(transfer, "mode"), f"{at} dataTransfer.mode") or "embedded")
    shm_mib = None
    if mode.casefold() == "sharedmemory":
        size = resolve(_get(transfer, "sharedMemorySizeMiB"), f"{at} dataTransfer")
        shm_mib = _number(size, f"{at} dataTransfer.sharedMemorySizeMiB", float) or 64.0
    elif mode.casefold() != "embedded":
        raise TopologyError(
            f"{at} dataTransfer.mode is {mode!r}; expected embedded or sharedMemory"
        )

    image = _get(node, "image") or {}
    scale = _get(image, "scale") or {}
    image_format = _get(image, "format") or {}
    scale_text = resolve(_get(scale, "mode"), f"{at} image.scale.mode")
    format_kind = str(_get(image_format, "@type") or "")
    encoding = None
    if format_kind:
        suffix = format_kind.rsplit("ImageFormat", 1)[-1].casefold()
        if suffix not in _ENCODINGS:
            raise TopologyError(f"{at} image.format @type {format_kind!r} is not known")
        encoding = _ENCODINGS[suffix]
    pixel_text = resolve(_get(image_format, "pixelFormat"), f"{at} image.format.pixelFormat")
    pixel_format = None
    if pixel_text:
        try:
            pixel_format = PixelFormat[str(pixel_text).upper()]
        except KeyError:
            raise TopologyError(
                f"{at} image.format.pixelFormat {pixel_text!r} is not known"
            ) from None
    try:
        scale_mode = ScaleMode.parse(scale_text) if scale_text else None
    except ValueError as error:
        raise TopologyError(f"{at} image.scale.mode: {error}") from None

    sampling = _get(node, "samplingOptions") or {}
    skip = resolve(_get(sampling, "skipSamplesWithoutAnnotation"), f"{at} samplingOptions")
    config = resolve(_get(node, "extensionConfiguration"), f"{at} extensionConfiguration")
    return ExtensionSettings(
        node_name=name,
        topology_name=str(_get(document, "name") or path.stem),
        target=target,
        tls="tls" in str(_get(endpoint, "@type") or "").casefold(),
        username=username or None,
        password=password or None,
        shm_mib=shm_mib,
        width=_number(resolve(_get(scale, "width"), at), f"{at} image.scale.width", int),
        height=_number(resolve(_get(scale, "height"), at), f"{at} image.scale.height", int),
        scale_mode=scale_mode,
        encoding=encoding,
        quality=_number(
            resolve(_get(image_format, "quality"), at), f"{at} image.format.quality", int
        ),
        pixel_format=pixel_format,
        max_fps=_number(
            resolve(_get(sampling, "maximumSamplesPerSecond"), at),
            f"{at} samplingOptions.maximumSamplesPerSecond",
            float,
        ),
        skip_without_annotation=str(skip).casefold() == "true",
        extension_configuration=config if isinstance(config, str) else None,
    )
