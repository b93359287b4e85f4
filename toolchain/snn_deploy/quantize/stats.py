"""What quantization did to each layer: the numbers the report shows (nothing is silent)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class WeightStats:
    """One projection: its format, its error, and every value the format altered."""

    projection: str
    source: str
    target: str
    count: int
    format: str
    weight_exp: int
    mantissa_bits_used: int  # bits of the mantissa that the largest weight occupies
    max_abs_error: float  # in float weight units
    rms_error_relative: float  # RMS error / max |w|
    saturated: int  # clipped to the format's range
    zeroed: int  # non-zero float weights that became 0
    zeroed_examples: tuple = field(default=())  # (row, col, float value) of the first few
    # SpiNNaker 1 only: non-zero weights that sPyNNaker's default ring-buffer scaling (no
    # max_expected_summed_weight) would round to 0; None where the chip has no such default.
    default_scaling_zeroed: int | None = None


@dataclass(frozen=True)
class PopulationStats:
    """One population: state scale, parameter errors, headroom of the state words."""

    population: str
    size: int
    scale: float  # integer state units per float unit
    threshold_float: float
    threshold_int: int
    threshold_rel_error: float
    alpha_float: float
    alpha_int: float
    beta_float: float
    beta_int: float
    bias_max_abs_error: float
    bias_saturated: int
    current_headroom: float  # largest expected |I| * scale / state range (< 1 fits)
    voltage_headroom: float
    calibration: str  # where the state ranges came from
    limited_by: str  # which constraint fixed the scale
    weights: tuple[WeightStats, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QuantizationReport:
    target: str
    populations: tuple[PopulationStats, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "populations": [p.to_dict() for p in self.populations],
            "notes": list(self.notes),
        }
