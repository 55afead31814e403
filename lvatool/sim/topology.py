"""Reading an LVA (1.0, 2.0) or AVA topology: the settings of its gRPC extension node.

Topologies name things in varied case (``SharedMemorySizeMiB`` or
``sharedMemorySizeMiB``, ``Embedded`` or ``embedded``), so every key and enumerated
value is matched case-insensitively (F1). ``${name}`` references are resolved from
``--param`` values first and the topology's parameter defaults second.

Values are judged here, where the error can name both the topology field and the
parameter it came from ("image.scale.width is 0 (from parameter frameWidth)"), not
inside a stream where a width of 0 crashed the scaler mid-run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvatool.addresses import AddressError, parse_target
from lvatool.media import Encoding, PixelFormat, ScaleMode
from lvatool.sim.prepare import MAX_SIDE

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

    @staticmethod
    def origin(raw: Any) -> str:
        """`` (from parameter NAME)`` when ``raw`` refers to parameters, else nothing."""
        names = _REFERENCE.findall(raw) if isinstance(raw, str) else []
        return f" (from parameter {', '.join(names)})" if names else ""


def _number(value: Any, where: str, kind: type[int] | type[float]) -> Any:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise TopologyError(f"{where} is {value!r}, not a number") from None


def _ranged(
    resolve: _Resolver,
    raw: Any,
    where: str,
    kind: type[int] | type[float],
    low: float,
    high: float,
    *,
    low_open: bool = False,
) -> Any:
    """The number at ``where``, which must lie in ``low``-``high``; None when absent."""
    value = _number(resolve(raw, where), where + resolve.origin(raw), kind)
    if value is None:
        return None
    if value < low or value > high or (low_open and value == low):
        bounds = f"above {low:g} and at most {high:g}" if low_open else f"{low:g}-{high:g}"
        raise TopologyError(f"{where} is {value:g}{resolve.origin(raw)}; expected {bounds}")
    return value


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
    raw_url = _get(endpoint, "url")
    url = resolve(raw_url, f"{at} endpoint.url")
    target = None
    if isinstance(url, str) and url:
        try:
            target = parse_target(url)
        except AddressError as error:
            raise TopologyError(f"{at} endpoint.url{resolve.origin(raw_url)} {error}") from None
    credentials = _get(endpoint, "credentials") or {}
    username = resolve(_get(credentials, "username"), f"{at} credentials.username")
    password = resolve(_get(credentials, "password"), f"{at} credentials.password")

    transfer = _get(node, "dataTransfer") or {}
    mode = str(resolve(_get(transfer, "mode"), f"{at} dataTransfer.mode") or "embedded")
    shm_mib = None
    if mode.casefold() == "sharedmemory":
        size = _get(transfer, "sharedMemorySizeMiB")
        where = f"{at} dataTransfer.sharedMemorySizeMiB"
        shm_mib = _ranged(resolve, size, where, float, 0, 1024, low_open=True) or 64.0
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
        width=_ranged(resolve, _get(scale, "width"), f"{at} image.scale.width", int, 1, MAX_SIDE),
        height=_ranged(
            resolve, _get(scale, "height"), f"{at} image.scale.height", int, 1, MAX_SIDE
        ),
        scale_mode=scale_mode,
        encoding=encoding,
        quality=_ranged(
            resolve, _get(image_format, "quality"), f"{at} image.format.quality", int, 0, 100
        ),
        pixel_format=pixel_format,
        max_fps=_ranged(
            resolve,
            _get(sampling, "maximumSamplesPerSecond"),
            f"{at} samplingOptions.maximumSamplesPerSecond",
            float,
            0,
            1e6,
            low_open=True,
        ),
        skip_without_annotation=str(skip).casefold() == "true",
        extension_configuration=config if isinstance(config, str) else None,
    )
