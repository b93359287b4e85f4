"""Exporter conventions: how each framework's NIR graphs mean to be discretized.

NIR has no dt, integrator or reset mode (../shared/reference/nir.md sections 3-5), so a graph
without snn-deploy's contract in its metadata is read through a *convention*: stated by the user
(``--convention``), or recognised from the parameters when their signature is unambiguous. If
neither works, snn-deploy refuses to guess and asks for ``--dt``. Every decision is written into
the contract's ``source`` and the compile report.

- ``snntorch``: dt 1e-4 s (hard-coded by snnTorch 1.0.0), euler, reset not encoded (NIR: to
  v_reset); recognised by ``r = tau/1e-4`` (and ``w_in = tau_syn/1e-4``) on every neuron.
- ``sinabs``: dt 1 (tau in steps), exact, reset by subtraction, spike at ``V >= threshold``
  (``SingleSpike``, ``MultiSpike``), several spikes per step (``MultiSpike``, the default
  ``spike_fn`` of Sinabs 3.1.3's IAF and LIF; ``--spikes single`` for ``SingleSpike``);
  recognised when there are only IF/LIF neurons with ``r = 1`` and every ``tau >= 1``.
- ``rockpool``: dt solved from ``r = tau exp(-dt/tau)/dt``, exact, reset to zero; recognised when
  one round dt solves it for every neuron (``r != 1``).
- ``norse-1.1``: Norse 1.1.0's ``to_nir``: ``tau = dt * tau_true`` (norse#411: tau is divided by
  dt), ``r = 1``; its IAF adds its input unscaled (``v += x``: IF gain ``r``, not ``r dt``), its
  ``LIFCell`` current jumps by its input (``i += x``: no ``dt/tau_syn`` gain) and drives V in the
  same step; Euler, reset to ``v_reset`` (Norse's ``reset_value``), spike at ``V > threshold``;
  dt 1e-3 s, Norse's default (``to_nir`` and every cell), which the file does not record.
  Recognised when every neuron is LIF/CubaLIF/LI/IF with ``r = 1`` and every time constant lies
  in ``[dt^2, dt]`` (``tau_true`` between dt and 1 s), dt = 1e-3 or the user's ``--dt``.
- ``norse`` (user dt; Norse's default 1e-3), ``spikingjelly`` (user dt; its default 1e-4),
  ``nir`` (user dt): euler, reset to zero; stated by the user only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import nir
import numpy as np

from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract

SNNTORCH_DT = 1e-4
NORSE_DT = 1e-3  # norse.torch.to_nir(..., dt=0.001) and every Norse cell's default dt
_REL = 1e-4  # float32 parameters: relative agreement accepted as equality


@dataclass(frozen=True)
class Convention:
    name: str
    integrator: str
    dt_seconds: float | None  # None: the user must state it (or it is solved from parameters)
    reset: str
    note: str
    tau_divided_by_dt: bool = False
    threshold: str = ">"
    spikes: str = "single"
    if_gain_per_step: bool = False  # IF adds its input as it is (v += r x), not r dt x
    current_jump: bool = False  # CubaLIF's current jumps by w_in x, not w_in dt/tau_syn x


CONVENTIONS = {
    "nir": Convention("nir", "euler", None, "zero", "NIR semantics: reset to v_reset"),
    "snntorch": Convention(
        "snntorch",
        "euler",
        SNNTORCH_DT,
        "zero",
        "snnTorch 1.0.0 writes tau = dt/(1-beta), r = tau/dt with dt = 1e-4 and does not export "
        "its reset mechanism or reset_delay: NIR's reset to v_reset is used; if the model reset "
        "by subtraction, pass --reset subtract (and --reset-delay for snnTorch's default "
        "reset_delay=True)",
    ),
    "sinabs": Convention(
        "sinabs",
        "exact",
        1.0,
        "subtract",
        "Sinabs writes tau in time steps (dt = 1); its IAF/LIF reset by subtraction and spike "
        "at V >= threshold; the file does not say the spike function: Sinabs' default "
        "MultiSpike (several spikes per step) is assumed unless --spikes single states "
        "SingleSpike",
        threshold=">=",
        spikes="multi",
    ),
    "rockpool": Convention(
        "rockpool",
        "exact",
        None,
        "zero",
        "Rockpool encodes dt in r = tau exp(-dt/tau)/dt; its input gain is "
        "taken as NIR's (unverified against Rockpool itself)",
    ),
    "norse": Convention("norse", "euler", None, "zero", "Norse: forward Euler, reset to v_reset"),
    "norse-1.1": Convention(
        "norse-1.1",
        "euler",
        NORSE_DT,
        "zero",
        "Norse 1.1.0 writes tau = dt * tau_true (norse#411): tau is divided by dt; its IAF adds "
        "its input unscaled and its LIFCell current jumps by its input; dt = 1e-3 s is Norse's "
        "default, which the file does not record: pass --dt if the model ran with another; "
        "Norse starts V at v_leak, snn-deploy at 0 (the same when v_leak = 0)",
        tau_divided_by_dt=True,
        if_gain_per_step=True,
        current_jump=True,
    ),
    "spikingjelly": Convention(
        "spikingjelly",
        "euler",
        None,
        "zero",
        "SpikingJelly: tau = tau_steps * dt, Euler; refuses soft reset",
    ),
}


def _taus(nodes: dict):
    """(name, node, tau_mem, r, tau_syn or None, w_in or None) for neurons that have a tau."""
    out = []
    for name, n in nodes.items():
        if isinstance(n, (nir.LIF, nir.LI)):
            out.append((name, n, np.asarray(n.tau, float), np.asarray(n.r, float), None, None))
        elif isinstance(n, (nir.CubaLIF, nir.CubaLI)):
            out.append(
                (
                    name,
                    n,
                    np.asarray(n.tau_mem, float),
                    np.asarray(n.r, float),
                    np.asarray(n.tau_syn, float),
                    np.asarray(n.w_in, float),
                )
            )
    return out


def _close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return bool(np.all(np.abs(a - b) <= _REL * np.maximum(np.abs(b), 1e-300)))


def _rockpool_dt(tau: float, r: float) -> float | None:
    """Solve r = tau exp(-dt/tau)/dt for dt (decreasing in dt: bisection)."""
    lo, hi = tau * 1e-9, tau * 50
    f = lambda dt: tau * math.exp(-dt / tau) / dt - r  # noqa: E731
    if f(lo) < 0 or f(hi) > 0:
        return None
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return math.sqrt(lo * hi)


def _round_number(x: float) -> bool:
    mant = x / 10.0 ** math.floor(math.log10(x))
    return any(abs(mant - m) <= 1e-4 * m for m in (1.0, 2.0, 2.5, 5.0, 10.0))


def detect(nodes: dict, dt_hint: float | None = None) -> tuple[Convention, float, str] | None:
    """(convention, dt, why) recognised from the parameters, or None. ``dt_hint`` is the
    user's ``--dt``: Norse's signature (time constants between dt^2 and dt) is then looked for
    at that dt instead of Norse's default."""
    norse_dt = dt_hint or NORSE_DT
    taus = _taus(nodes)
    neurons = [
        n
        for n in nodes.values()
        if isinstance(n, (nir.LIF, nir.LI, nir.CubaLIF, nir.CubaLI, nir.IF, nir.I))
    ]
    if taus and all(
        _close(tm / SNNTORCH_DT, r) and (ts is None or _close(ts / SNNTORCH_DT, w))
        for _, _, tm, r, ts, w in taus
    ):
        return (
            CONVENTIONS["snntorch"],
            SNNTORCH_DT,
            "every neuron has r = tau/1e-4 (and w_in = tau_syn/1e-4): snnTorch's export",
        )
    only_if_lif = all(isinstance(n, (nir.IF, nir.LIF)) for n in neurons)
    if (
        neurons
        and only_if_lif
        and all(_close(n.r, 1.0) for n in neurons)
        and all(np.all(np.asarray(n.tau, float) >= 1.0) for n in neurons if isinstance(n, nir.LIF))
    ):
        return (
            CONVENTIONS["sinabs"],
            1.0,
            "only IF/LIF neurons with r = 1 and tau >= 1 (in steps): Sinabs' export",
        )
    if (
        taus
        and all(isinstance(n, (nir.IF, nir.LIF, nir.LI, nir.CubaLIF)) for n in neurons)
        and all(_close(n.r, 1.0) for n in neurons)
        and all(
            np.all((t >= norse_dt**2 * (1 - _REL)) & (t <= norse_dt * (1 + _REL)))
            for _, _, tm, _, ts, _ in taus
            for t in (tm, ts)
            if t is not None
        )
    ):
        return (
            CONVENTIONS["norse-1.1"],
            norse_dt,
            f"every neuron has r = 1 and time constants between dt^2 and dt at dt = "
            f"{norse_dt:g} (tau = dt * tau_true, norse#411): Norse 1.1.0's export",
        )
    if taus and all(not _close(r, 1.0) for _, _, _, r, _, _ in taus):
        dts = [
            _rockpool_dt(float(t), float(r))
            for _, _, tm, rr, _, _ in taus
            for t, r in zip(np.ravel(tm), np.ravel(rr), strict=False)
        ]
        # Any single (tau, r) solves the equation for some dt; Rockpool's is also a round
        # number (1, 2, 2.5 or 5 times a power of ten), which chance rarely gives.
        if (
            dts
            and all(d is not None for d in dts)
            and _close(dts, dts[0])
            and _round_number(dts[0])
        ):
            return (
                CONVENTIONS["rockpool"],
                float(dts[0]),
                f"r = tau exp(-dt/tau)/dt holds with one dt = {dts[0]:.6g} s for every "
                "neuron: Rockpool's export",
            )
    return None


def resolve(
    graph_nodes: dict, metadata: dict | None, overrides: dict | None
) -> tuple[DiscretizationContract, Convention | None]:
    """The contract for a graph: its metadata, else a convention (stated or recognised), then
    the user's explicit fields on top. Raises if no time step can be known."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    convention_name = overrides.pop("convention", None)
    meta = (metadata or {}).get(METADATA_KEY)
    convention = None
    if meta:
        contract = DiscretizationContract.from_metadata(dict(meta))
        why = "the graph's metadata (snn-deploy contract)"
        if contract.convention:
            if contract.convention not in CONVENTIONS:
                raise ModelError(
                    f"the graph's contract names convention {contract.convention!r}; known: "
                    + ", ".join(CONVENTIONS)
                )
            convention = CONVENTIONS[contract.convention]
    else:
        if convention_name:
            if convention_name not in CONVENTIONS:
                raise ModelError(
                    f"unknown convention {convention_name!r}; known: {', '.join(CONVENTIONS)}"
                )
            convention = CONVENTIONS[convention_name]
            dt, why = convention.dt_seconds, f"convention '{convention.name}' stated by the user"
            if convention.name == "rockpool":
                found = detect(graph_nodes)
                dt = found[1] if found and found[0].name == "rockpool" else None
        else:
            user_dt = overrides.get("dt_seconds")
            found = detect(graph_nodes, user_dt)
            if found and (
                user_dt is None or found[0].dt_seconds is not None or _close(found[1], user_dt)
            ):
                convention, dt, why = found
                why = f"recognised convention '{convention.name}' ({why})"
            else:
                dt, why = None, "no contract in the graph's metadata"
        dt = overrides.get("dt_seconds", dt)
        if dt is None:
            raise ModelError(
                "the graph does not say its time step, and its parameters match no known "
                "exporter convention",
                hint="pass --dt SECONDS (the NIR paper's graphs use 1e-4), or --convention "
                + "|".join(CONVENTIONS),
            )
        c = convention or CONVENTIONS["nir"]
        contract = DiscretizationContract(
            dt_seconds=dt,
            integrator=c.integrator,
            reset=c.reset,
            threshold=c.threshold,
            spikes=c.spikes,
            convention=convention.name if convention else "",
        )
        why += f"; {c.note}"
    if overrides:
        why += "; stated by the user: " + ", ".join(f"{k}={v}" for k, v in overrides.items())
    contract = dataclasses.replace(contract, **overrides, source=why)
    if (
        convention is not None
        and convention.name == "snntorch"
        and contract.reset == "subtract"
        and not contract.reset_delay
        and "subtract_recheck" not in overrides
        and contract.spikes != "multi"  # a stated multi-spike reading subtracts floor(V/θ) at once
    ):
        contract = dataclasses.replace(
            contract,
            subtract_recheck=True,
            source=why + "; snnTorch's subtractive reset re-checks a neuron still above threshold "
            "(subtract_recheck)",
        )
    return contract, convention
