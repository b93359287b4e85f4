"""State overflow measured on data: counts of the emulator's arithmetic events -> violations.

A wrap-around of a state word turns a large value into one of the opposite sign, which no float
model does: any is a violation. Saturation is milder (a saturated voltage above threshold still
spikes and resets) and is reported as a note by the flow, not refused.
"""

from __future__ import annotations

from snn_deploy.errors import Violation

FIX = (
    "give the state more headroom (calibrate on data closer to what the chip will see), or "
    "make the weights into this layer smaller"
)


def overflow_violations(events: dict, profile) -> list[Violation]:
    num, key = profile.numerics, profile.key
    out = []
    if profile.chip.arithmetic == "loihi":
        if events.get("u_wraps"):
            out.append(
                Violation(
                    "",
                    "current (u) wrap-arounds measured on calibration data",
                    events["u_wraps"],
                    0,
                    key("numerics", "state_bits"),
                    FIX,
                )
            )
        if events.get("int32_wraps"):
            out.append(
                Violation(
                    "",
                    "int32 synaptic-word wrap-arounds measured on calibration data",
                    events["int32_wraps"],
                    0,
                    key("numerics", "channel_bits"),
                    FIX,
                )
            )
    elif profile.chip.arithmetic == "spinnaker" and events.get("accum_wraps"):
        out.append(
            Violation(
                "",
                "s16.15 word wrap-arounds measured on calibration data",
                events["accum_wraps"],
                0,
                key("numerics", "accum_bits"),
                FIX,
            )
        )
    elif profile.chip.arithmetic == "fixedpoint" and num.state_overflow == "wrap":
        for k in ("i_saturations", "v_saturations"):
            if events.get(k):
                out.append(
                    Violation(
                        "",
                        f"state wrap-arounds ({k[0]}) measured on calibration data",
                        events[k],
                        0,
                        key("numerics", "state_overflow"),
                        FIX,
                    )
                )
    return out
