"""Hardware profiles: loading, schema errors that name file, key and accepted keys, sources."""

import re
from pathlib import Path

import pytest

from snn_deploy.errors import ProfileError
from snn_deploy.profiles import available_targets, load_profile, profiles_dir


def test_loihi2_profile_values(loihi2):
    assert loihi2.name == "loihi2"
    assert loihi2.core.max_neurons == 8192
    assert loihi2.core.memory_bytes == 192 * 1024
    assert loihi2.core.max_fan_in is None  # "unknown": not published
    n = loihi2.numerics
    assert (n.state_bits, n.decay_bits, n.threshold_bits, n.threshold_shift) == (24, 12, 17, 6)
    assert (n.bias_mantissa_bits, n.bias_exp_min, n.bias_exp_max) == (13, 0, 7)
    assert (n.weight_mantissa_bits, n.delay_bits, n.synapse_delay_steps) == (8, 6, 1)
    assert loihi2.total_cores == 128
    assert loihi2.with_chips(8).total_cores == 1024


def test_every_number_in_every_profile_cites_a_source():
    number = re.compile(r"^\s*[a-z_0-9]+\s*=\s*(-?\d|\[|\"unknown\"|true|false)")
    for path in profiles_dir().glob("*.toml"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if number.match(line):
                assert "#" in line and len(line.split("#", 1)[1].strip()) > 5, (
                    f"{path.name}:{i} has no source comment: {line!r}"
                )


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "chip.toml"
    p.write_text(text)
    return p


def _loihi2_text() -> str:
    return (profiles_dir() / "loihi2.toml").read_text()


def test_unknown_key_is_named_with_accepted_keys(tmp_path):
    text = _loihi2_text().replace("max_neurons = 8192", "max_neuron = 8192")
    with pytest.raises(
        ProfileError,
        match=r"chip.toml: unknown key \[core\]\.max_neuron; "
        r"accepted keys in \[core\]: .*max_neurons",
    ):
        load_profile(_write(tmp_path, text))


def test_missing_key_is_named(tmp_path):
    text = "\n".join(ln for ln in _loihi2_text().splitlines() if not ln.startswith("delay_bits"))
    with pytest.raises(ProfileError, match=r"missing key \[numerics\]\.delay_bits; accepted keys"):
        load_profile(_write(tmp_path, text))


def test_wrong_type_and_bad_toml(tmp_path):
    text = _loihi2_text().replace("max_neurons = 8192", 'max_neurons = "many"')
    with pytest.raises(ProfileError, match=r"\[core\]\.max_neurons must be an integer"):
        load_profile(_write(tmp_path, text))
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(_write(tmp_path, "[core\nmax = "))


def test_unknown_target_lists_known_ones():
    assert "loihi2" in available_targets()
    with pytest.raises(ProfileError, match="unknown target 'loihi9'; known targets: .*loihi2"):
        load_profile("loihi9")


def test_every_number_of_the_schema_has_an_accepted_range():
    """A new key cannot skip validation: every int and float field of every section has a
    range in ``RANGES``, and every range names a field that exists."""
    import dataclasses
    import types
    import typing

    from snn_deploy.profiles import (
        ARITHMETICS,
        OPTIONAL_SECTIONS,
        RANGES,
        ChipSection,
        CoreSection,
        NeuronSection,
    )

    def numeric(hint) -> bool:
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        return any(a in (int, float) for a in args)

    for cls in (
        ChipSection,
        CoreSection,
        NeuronSection,
        *OPTIONAL_SECTIONS.values(),
        *ARITHMETICS.values(),
    ):
        hints = typing.get_type_hints(cls)
        numbers = {f.name for f in dataclasses.fields(cls) if numeric(hints[f.name])}
        assert numbers == set(RANGES[cls]), (cls.__name__, numbers ^ set(RANGES[cls]))
        for low, high in RANGES[cls].values():
            assert low <= high


def test_out_of_range_values_name_file_key_value_and_range(tmp_path):
    text = _loihi2_text().replace("cores_per_chip = 128", "cores_per_chip = 1000000000000000000")
    with pytest.raises(
        ProfileError,
        match=r"hardware profile chip\.toml: \[chip\]\.cores_per_chip = "
        r"1,000,000,000,000,000,000 is outside the accepted range 1\.\.1,048,576",
    ):
        load_profile(_write(tmp_path, text))
    text = _loihi2_text().replace("weight_exp_min = -7", "weight_exp_min = 9")
    with pytest.raises(ProfileError, match=r"\[numerics\]\.weight_exp_min = 9 is greater than"):
        load_profile(_write(tmp_path, text))
    text = _loihi2_text().replace('reset_modes = ["zero"]', 'reset_modes = ["zero", "hold"]')
    with pytest.raises(ProfileError, match=r"\[neurons\]\.reset_modes: 'hold' is not accepted"):
        load_profile(_write(tmp_path, text))


def test_the_documented_ranges_are_the_enforced_ones():
    from snn_deploy.profiles import RANGES

    doc = (Path(__file__).resolve().parents[1] / "docs" / "profile-schema.md").read_text()

    def n(x):
        return f"{x:,}" if isinstance(x, int) else f"{x:g}"

    for cls, table in RANGES.items():
        for key, (low, high) in table.items():
            assert f"`{key}` | {n(low)} .. {n(high)} |" in doc, (cls.__name__, key)
