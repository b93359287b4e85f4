"""The shared integer arithmetic, against hand-computed values and Lava's verified edge cases."""

import numpy as np
import pytest

from snn_deploy.numerics import IntFormat, ManExpFormat
from snn_deploy.numerics.loihi import (
    clip_weights,
    determine_sign_mode,
    prepare_weights,
    truncate_weights,
)
from snn_deploy.numerics.ops import (
    decay_toward_zero,
    round_nearest,
    saturate_symmetric,
    shift,
    wrap,
    wrap_int32,
    wrap_once,
)


def test_format_names_and_ranges():
    assert IntFormat(24).name == "fixed<24,0>"
    assert (IntFormat(24).min_int, IntFormat(24).max_int) == (-(2**23), 2**23 - 1)
    assert IntFormat(12, signed=False).name == "ufixed<12,0>"
    assert IntFormat(12, signed=False).max_int == 4095
    assert ManExpFormat(IntFormat(13), 0, 7).name == "manexp<13,0..7>"
    np.testing.assert_array_equal(
        IntFormat(8).fits([-128, 127, 128, -129]), [True, True, False, False]
    )


def test_shift_floors_negative_values():
    np.testing.assert_array_equal(shift([-7, 7, -8, 5], -1), [-4, 3, -4, 2])
    np.testing.assert_array_equal(shift([3, -3], 2), [12, -12])
    np.testing.assert_array_equal(shift([100, 100], np.array([-2, 3])), [25, 800])


def test_decay_rounds_toward_zero():
    # 1000 * (4096 - 410) / 4096 = 899.90 -> 899 ; -1000 -> -899 (not -900: toward zero)
    np.testing.assert_array_equal(
        decay_toward_zero([1000, -1000, 1, -1], 4096 - 410, 12), [899, -899, 0, 0]
    )
    np.testing.assert_array_equal(decay_toward_zero([4096], 0, 12), [0])


def test_wrap_once_matches_lavas_verified_edges():
    # loihi2-lava.md 1.3: a_in = 131072 -> u = 8388608 (2**23 survives), a_in = 132096 ->
    # u = -8323072, a_in = 1044480 -> u = 50069504 (one wrap only)
    got = wrap_once(np.array([131072, 132096, 1044480]) << 6, 24)
    np.testing.assert_array_equal(got, [8388608, -8323072, 50069504])
    np.testing.assert_array_equal(wrap_once([-(2**23), -(2**23) + 1], 24), [2**23, -(2**23) + 1])


def test_full_wrap_and_saturation():
    np.testing.assert_array_equal(wrap([2**31, -(2**31) - 1, 5], 32), [-(2**31), 2**31 - 1, 5])
    np.testing.assert_array_equal(wrap_int32([2**32 + 7]), [7])
    np.testing.assert_array_equal(
        saturate_symmetric([2**23, -(2**23), 12], 24), [2**23 - 1, -(2**23) + 1, 12]
    )


def test_rounding_is_half_to_even_and_refuses_nothing_silently():
    np.testing.assert_array_equal(round_nearest([0.5, 1.5, -0.5, 2.49]), [0, 2, 0, 2])
    with pytest.raises(TypeError):
        shift(np.array([1.5]), 1)


def test_sign_modes_and_weight_preparation_match_lava(loihi2):
    num = loihi2.numerics
    assert determine_sign_mode([[0, 3]]) == "excitatory"
    assert determine_sign_mode([[0, -3]]) == "inhibitory"
    assert determine_sign_mode([[1, -3]]) == "mixed"
    w = np.array([[3, -3, 255], [7, -7, 300]])
    # loihi2-lava.md 1.4 test vector, MIXED, 8 and 6 weight bits
    np.testing.assert_array_equal(prepare_weights(w, "mixed", 8, num), [[2, -4, 254], [6, -8, 254]])
    np.testing.assert_array_equal(prepare_weights(w, "mixed", 6, num), [[0, -8, 248], [0, -8, 248]])
    np.testing.assert_array_equal(clip_weights([[-5, 300]], "excitatory", num), [[0, 255]])
    np.testing.assert_array_equal(clip_weights([[5, -300]], "inhibitory", num), [[0, -255]])
    np.testing.assert_array_equal(
        truncate_weights([[-7, -255]], "inhibitory", 6, num), [[-4, -252]]
    )
    assert num.weight_step("mixed", 8) == 2 and num.weight_step("excitatory", 8) == 1
