"""Hardware profiles: chip limits and number formats, loaded from ``hardware_profiles/*.toml``.

A profile is data (``../shared/STYLE.md`` section 3): TOML with snake_case keys, units in the
names, and a comment giving the source of every number. The loader turns it into frozen
dataclasses and rejects unknown and missing keys with a message naming the file, the key and the
accepted keys. The ``[numerics]`` table depends on ``chip.arithmetic``: each arithmetic family
registers the dataclass that describes its formats (``ARITHMETICS``). The schema is documented in
``docs/profile-schema.md``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from snn_deploy.errors import ProfileError
from snn_deploy.ir.contract import CURRENT_DRIVES, RESETS, THRESHOLDS
from snn_deploy.learning.engine import LearningEngine
from snn_deploy.numerics.fixedpoint import FixedPointNumerics
from snn_deploy.numerics.float32 import Float32Numerics
from snn_deploy.numerics.loihi import LoihiNumerics
from snn_deploy.numerics.spinnaker import SpinnakerNumerics
from snn_deploy.numerics.xylo import XyloNumerics

SCHEMA_VERSION = 1
UNKNOWN = "unknown"

# arithmetic family -> dataclass of its [numerics] table
ARITHMETICS: dict[str, type] = {
    "loihi": LoihiNumerics,
    "fixedpoint": FixedPointNumerics,
    "spinnaker": SpinnakerNumerics,
    "float32": Float32Numerics,
    "xylo": XyloNumerics,
}


@dataclass(frozen=True)
class ChipSection:
    name: str
    title: str
    arithmetic: str
    cores_per_chip: int
    max_chips: int


@dataclass(frozen=True)
class CoreSection:
    """Per-core limits. ``None`` means the profile says ``"unknown"``: not published."""

    max_neurons: int
    memory_bytes: int
    neuron_bits: int
    synapse_overhead_bits: int
    max_fan_in: int | None
    max_fan_out: int | None
    max_input_axons: int | None
    max_output_axons: int | None


@dataclass(frozen=True)
class NeuronSection:
    models: tuple[str, ...]
    reset_modes: tuple[str, ...]
    current_drives: tuple[str, ...]
    threshold_comparison: str
    per_neuron_decays: bool
    per_neuron_threshold: bool
    max_spikes_per_step: int  # spikes one neuron can emit in one step (1: binary spikes)


@dataclass(frozen=True)
class EstimatesSection:
    """Optional ``[estimates]``: per-operation energy where a source publishes it. Reports
    always print ``label`` next to the numbers: they are estimates, never measurements."""

    label: str
    synaptic_op_pj: float
    neuron_update_pj: float
    spike_pj: float


OPTIONAL_SECTIONS = {"estimates": EstimatesSection, "learning": LearningEngine}

# Accepted range of every number of the schema, per section: (lowest, highest), inclusive.
# Widths and shifts are bounded so that the integer kernels, which compute in int64, cannot
# overflow; counts and sizes so that a typo (10**18 cores per chip) is refused, not planned for.
# Where a kernel implements one format only (sPyNNaker's s16.15 and u0.32, Lava's decay
# offsets), the range is that one value. Listed in docs/profile-schema.md.
_SIZE = 1 << 32
RANGES: dict[type, dict[str, tuple[int | float, int | float]]] = {
    ChipSection: {"cores_per_chip": (1, 1 << 20), "max_chips": (1, 1 << 20)},
    CoreSection: {
        "max_neurons": (1, 1 << 24),
        "memory_bytes": (1, 1 << 40),
        "neuron_bits": (1, 1 << 16),
        "synapse_overhead_bits": (0, 1 << 10),
        "max_fan_in": (1, _SIZE),
        "max_fan_out": (1, _SIZE),
        "max_input_axons": (1, _SIZE),
        "max_output_axons": (1, _SIZE),
    },
    NeuronSection: {"max_spikes_per_step": (1, 1 << 16)},
    EstimatesSection: {
        "synaptic_op_pj": (0.0, 1e9),
        "neuron_update_pj": (0.0, 1e9),
        "spike_pj": (0.0, 1e9),
    },
    LoihiNumerics: {
        "state_bits": (2, 32),
        "decay_bits": (1, 16),
        "current_decay_offset": (0, 1),
        "voltage_decay_offset": (0, 1),
        "input_shift": (0, 16),
        "threshold_bits": (1, 32),
        "threshold_shift": (0, 16),
        "bias_mantissa_bits": (2, 32),
        "bias_exp_min": (-16, 16),
        "bias_exp_max": (-16, 16),
        "weight_mantissa_bits": (2, 16),
        "weight_exp_min": (-16, 16),
        "weight_exp_max": (-16, 16),
        "delay_bits": (0, 16),
        "synapse_delay_steps": (1, 16),
        "channel_bits": (8, 64),
    },
    FixedPointNumerics: {
        "state_bits": (2, 32),
        "decay_bits": (1, 16),
        "weight_bits": (2, 16),
        "weight_shift_min": (-16, 16),
        "weight_shift_max": (-16, 16),
        "threshold_bits": (1, 32),
        "bias_bits": (2, 32),
        "delay_bits": (0, 16),
        "synapse_delay_steps": (1, 16),
    },
    SpinnakerNumerics: {
        "accum_bits": (32, 32),
        "accum_frac_bits": (15, 15),
        "decay_frac_bits": (32, 32),
        "weight_bits": (1, 16),
        "ring_buffer_entry_bits": (1, 32),
        "max_ring_buffer_index_bits": (1, 32),
        "synapse_type_bits": (1, 4),
        "max_delay_extension_stages": (0, 64),
        "max_row_length": (1, 1 << 16),
        "synapse_delay_steps": (1, 16),
        "default_spikes_per_second": (1e-3, 1e6),
        "default_ring_buffer_sigma": (1e-3, 1e3),
        "populations_per_core": (1, 1),
    },
    Float32Numerics: {
        "weight_bits": (2, 32),
        "max_delay_bits": (0, 16),
        "synapse_delay_steps": (1, 16),
        "populations_per_core": (1, 1),
    },
    XyloNumerics: {
        "state_bits": (16, 16),
        "weight_bits": (2, 8),
        "weight_shift_min": (0, 8),
        "weight_shift_max": (0, 8),
        "threshold_min": (1, 1),
        "bias_bits": (2, 16),
        "dash_bits": (1, 4),
        "synapses_per_neuron": (1, 2),
        "output_synapses_per_neuron": (1, 1),
        "max_input_spikes": (1, 255),
        "max_hidden_spikes": (1, 255),
        "max_output_spikes": (1, 255),
        "max_input_channels": (1, 1 << 16),
        "max_hidden_neurons": (1, 1 << 16),
        "max_output_neurons": (1, 1 << 16),
        "synapse_delay_steps": (1, 1),
    },
    LearningEngine: {
        "trace_bits": (1, 16),
        "impulse_frac_bits": (0, 16),
        "weight_bits": (1, 16),
        "tag_bits": (1, 16),
        "delay_tag_bits": (1, 16),
        "constant_bits": (1, 16),
        "scale_mantissa_bits": (1, 8),
        "scale_exp_min": (-16, 16),
        "scale_exp_max": (-16, 16),
        "accumulator_bits": (1, 32),
        "mac_bits": (8, 64),
        "epoch_bits": (1, 16),
        "max_decimation_exp": (0, 9),
        "three_factor_trace_tau": (1, (1 << 16) - 1),
        "rounding_seed": (0, _SIZE - 1),
        "max_products": (1, 1 << 10),
        "max_factors": (1, 1 << 10),
    },
}
# (low, high) key pairs of one section where low must not exceed high
ORDERED: dict[type, tuple[tuple[str, str], ...]] = {
    LoihiNumerics: (("bias_exp_min", "bias_exp_max"), ("weight_exp_min", "weight_exp_max")),
    FixedPointNumerics: (("weight_shift_min", "weight_shift_max"),),
    XyloNumerics: (("weight_shift_min", "weight_shift_max"),),
    LearningEngine: (("scale_exp_min", "scale_exp_max"),),
}
# strings (or lists of strings) the emulators implement
CHOICES: dict[type, dict[str, tuple[str, ...]]] = {
    NeuronSection: {
        "reset_modes": RESETS,
        "current_drives": CURRENT_DRIVES,
        "threshold_comparison": THRESHOLDS,
    },
}


@dataclass(frozen=True)
class HardwareProfile:
    """One chip: its limits (``chip``, ``core``, ``neurons``) and number formats (``numerics``).

    ``sources`` maps ``"section.key"`` to the comment that cites where the number comes from.
    """

    name: str
    path: str
    chip: ChipSection
    core: CoreSection
    neurons: NeuronSection
    numerics: typing.Any
    sources: typing.Mapping[str, str] = field(default_factory=dict)
    estimates: EstimatesSection | None = None
    learning: LearningEngine | None = None  # optional [learning]: the on-chip learning engine

    def key(self, section: str, key: str) -> str:
        """How messages cite a limit: ``loihi2.toml [core].max_neurons``."""
        return f"{Path(self.path).name} [{section}].{key}"

    def source(self, section: str, key: str) -> str:
        return self.sources.get(f"{section}.{key}", "")

    def with_chips(self, n: int) -> HardwareProfile:
        """The same chip in a system of ``n`` chips."""
        low, high = RANGES[ChipSection]["max_chips"]
        if not low <= n <= high:
            raise ProfileError(
                f"--chips must be in {low:,}..{high:,}, got {n:,}",
                hint="give the number of chips of the system",
            )
        return dataclasses.replace(self, chip=dataclasses.replace(self.chip, max_chips=n))

    def numerics_fingerprint(self) -> str:
        """sha256 of the arithmetic (``[chip].arithmetic`` and ``[numerics]``): what an
        artifact's integers mean. Comments and limits do not change it."""
        import hashlib
        import json

        body = {"arithmetic": self.chip.arithmetic, **dataclasses.asdict(self.numerics)}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    @property
    def total_cores(self) -> int:
        return self.chip.cores_per_chip * self.chip.max_chips


def profiles_dir() -> Path:
    """Where the shipped profiles are: ``$SNN_DEPLOY_PROFILES``, the source tree, or the wheel."""
    env = os.environ.get("SNN_DEPLOY_PROFILES")
    if env:
        return Path(env)
    source_tree = Path(__file__).resolve().parents[2] / "hardware_profiles"
    if source_tree.is_dir():
        return source_tree
    from importlib import resources

    return Path(str(resources.files("snn_deploy.hardware_profiles")))


def available_targets() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


def load_profile(target: str | os.PathLike) -> HardwareProfile:
    """Load a profile by target name (``"loihi2"``) or by path to a ``.toml`` file."""
    text_target = str(target)
    if text_target.endswith(".toml") or os.sep in text_target:
        path = Path(text_target)
        if not path.is_file():
            raise ProfileError(
                f"hardware profile {path} does not exist",
                hint="give the path of a .toml profile (see docs/profile-schema.md)",
            )
    else:
        path = profiles_dir() / f"{text_target}.toml"
        if not path.is_file():
            known = ", ".join(available_targets()) or "none"
            raise ProfileError(
                f"unknown target '{text_target}'; known targets: {known}",
                hint="pass --target with one of the known targets, or --profile my_chip.toml",
            )
    return _parse(path)


def _parse(path: Path) -> HardwareProfile:
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"hardware profile {path}: not valid TOML ({exc})") from None
    file = path.name
    top_keys = {"schema_version", "chip", "core", "neurons", "numerics"}
    _check_keys(
        file,
        "",
        {k: v for k, v in data.items() if k not in OPTIONAL_SECTIONS},
        top_keys,
        optional=set(OPTIONAL_SECTIONS),
    )
    if data["schema_version"] != SCHEMA_VERSION:
        raise ProfileError(
            f"hardware profile {file}: schema_version {data['schema_version']!r} is not supported; "
            f"this snn-deploy reads schema_version {SCHEMA_VERSION}"
        )
    chip = _build(file, "chip", data["chip"], ChipSection)
    numerics_cls = ARITHMETICS.get(chip.arithmetic)
    if numerics_cls is None:
        raise ProfileError(
            f"hardware profile {file}: [chip].arithmetic {chip.arithmetic!r} is not implemented; "
            f"accepted: {', '.join(sorted(ARITHMETICS))}",
            hint="a chip with new arithmetic needs a backend module (docs/profile-schema.md)",
        )
    return HardwareProfile(
        name=chip.name,
        path=str(path),
        chip=chip,
        core=_build(file, "core", data["core"], CoreSection),
        neurons=_build(file, "neurons", data["neurons"], NeuronSection),
        numerics=_build(file, "numerics", data["numerics"], numerics_cls),
        sources=MappingProxyType(_scrape_sources(raw.decode("utf-8"))),
        estimates=(
            _build(file, "estimates", data["estimates"], EstimatesSection)
            if "estimates" in data
            else None
        ),
        learning=(
            _build(file, "learning", data["learning"], LearningEngine)
            if "learning" in data
            else None
        ),
    )


def _check_keys(
    file: str, section: str, table: object, accepted: set[str], optional: set[str] = frozenset()
) -> None:
    where = f"[{section}]" if section else "top level"
    if not isinstance(table, dict):
        raise ProfileError(f"hardware profile {file}: {where} must be a table")
    unknown = sorted(set(table) - accepted)
    missing = sorted(accepted - set(table))

    def name(key: str) -> str:
        return f"{where}.{key}" if section else key

    inside = f"in {where}" if section else "at the top level"
    if unknown:
        also = f" (optional: {', '.join(sorted(optional))})" if optional else ""
        raise ProfileError(
            f"hardware profile {file}: unknown key {name(unknown[0])}; "
            f"accepted keys {inside}: {', '.join(sorted(accepted))}{also}"
        )
    if missing:
        raise ProfileError(
            f"hardware profile {file}: missing key {name(missing[0])}; "
            f"accepted keys {inside}: {', '.join(sorted(accepted))}"
        )


def _build(file: str, section: str, table: object, cls: type):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    _check_keys(file, section, table, set(names))
    values = {}
    for name in names:
        values[name] = _coerce(file, section, name, table[name], hints[name])
        _check_value(file, section, name, values[name], cls)
    for low, high in ORDERED.get(cls, ()):
        if values[low] is not None and values[high] is not None and values[low] > values[high]:
            raise ProfileError(
                f"hardware profile {file}: [{section}].{low} = {values[low]} is greater than "
                f"[{section}].{high} = {values[high]}",
                hint=f"{low} must be at most {high} (docs/profile-schema.md)",
            )
    try:
        return cls(**values)
    except ProfileError as exc:
        raise ProfileError(f"hardware profile {file}: {exc.message}", hint=exc.hint) from None


def _number(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _check_value(file: str, section: str, name: str, value, cls: type) -> None:
    """Refuse a number outside ``RANGES`` (or not finite) and a string outside ``CHOICES``."""
    if value is None:
        return
    where = f"hardware profile {file}: [{section}].{name}"
    if isinstance(value, float) and not math.isfinite(value):
        raise ProfileError(
            f"{where} = {value} is not a finite number",
            hint="give a number (docs/profile-schema.md)",
        )
    bounds = RANGES.get(cls, {}).get(name)
    if bounds is not None and not (bounds[0] <= value <= bounds[1]):
        raise ProfileError(
            f"{where} = {_number(value)} is outside the accepted range "
            f"{_number(bounds[0])}..{_number(bounds[1])}",
            hint="correct the value; the ranges are listed in docs/profile-schema.md",
        )
    choices = CHOICES.get(cls, {}).get(name)
    if choices is not None:
        given = value if isinstance(value, tuple) else (value,)
        bad = [v for v in given if v not in choices]
        if bad or not given:
            shown = repr(bad[0]) if bad else "an empty list"
            raise ProfileError(
                f"{where}: {shown} is not accepted; accepted: {', '.join(choices)}",
                hint="docs/profile-schema.md lists the accepted values",
            )


def _coerce(file: str, section: str, name: str, value, hint):
    where = f"hardware profile {file}: [{section}].{name}"
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if optional and value == UNKNOWN:
        return None
    origin = typing.get_origin(base)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProfileError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if base is bool:
        if not isinstance(value, bool):
            raise ProfileError(f"{where} must be true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            extra = ' or "unknown"' if optional else ""
            raise ProfileError(f"{where} must be an integer{extra}, got {value!r}")
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{where} must be a number, got {value!r}")
        return float(value)
    if base is str:
        if not isinstance(value, str):
            raise ProfileError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"no coercion for {hint}")  # a schema bug, not a user error


_SECTION = re.compile(r"^\s*\[([A-Za-z0-9_.]+)\]")
_KEY_COMMENT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*[^#]*#\s*(.+?)\s*$")


def _scrape_sources(text: str) -> dict[str, str]:
    """``section.key`` -> the trailing comment on its line (the cited source)."""
    sources, section = {}, ""
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        m = _KEY_COMMENT.match(line)
        if m:
            sources[f"{section}.{m.group(1)}" if section else m.group(1)] = m.group(2)
    return sources
