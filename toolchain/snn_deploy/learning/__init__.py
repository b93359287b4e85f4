"""On-chip learning: local rules written once, checked, emitted and emulated as the chip runs them.

- :mod:`.program`: sum-of-products programs, parsed from and printed to Lava's rule grammar;
- :mod:`.rule`: a complete rule (dw/dd/dt, traces, epoch, seed; two- or three-factor mode);
- :mod:`.microcode`: the post neuron's program that writes y1..y3 (surrogate, third factor);
- :mod:`.engine`: the learning engine's widths (profile ``[learning]``) and its arithmetic;
- :mod:`.check`: locality and width checks (violations collected, raised together);
- :mod:`.library`: pair STDP, R-STDP, e-prop (LIF, ALIF), SuperSpike, DECOLLE, readout delta;
- :mod:`.emit` / :mod:`.listing`: the Lava module for Loihi 2 and the listing for every target;
- :mod:`.network`: networks with plastic connections, run by
  ``backends/emulator/learning.py`` (bit-exact with Lava) and ``backends/lava/learning_*``;
- :mod:`.deploy`: ``compile --plastic`` (rules attached to compiled projections, third-factor
  routes, the plastic view of a ``QuantizedNetwork``); :mod:`.online`: ``snn-deploy learn``;
  :mod:`.continual`: the continual-digits and reward-adaptation demos;
- :mod:`.demos`: the R-STDP and on-chip e-prop demos (``examples/rstdp``, ``examples/eprop``)
  and the float BPTT baseline.

See docs/learning.md.
"""

from snn_deploy.learning.check import check_rule, require_runnable
from snn_deploy.learning.emit import lava_module_source, lava_rule_call
from snn_deploy.learning.engine import DEFAULT_LOIHI2, LearningEngine, engine_of
from snn_deploy.learning.library import (
    LIBRARY,
    LibraryRule,
    decolle,
    eprop_alif,
    eprop_lif,
    error_neuron,
    library,
    pair_stdp,
    r_stdp,
    readout_delta,
    superspike,
)
from snn_deploy.learning.listing import render_listing, write_learning_artifact
from snn_deploy.learning.microcode import Instr, NeuronProgram, ins
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork, Source
from snn_deploy.learning.program import Factor, Product, Program, parse_program
from snn_deploy.learning.rule import LearningRule, PostTrace, Route, TraceSpec

__all__ = [
    "DEFAULT_LOIHI2",
    "LIBRARY",
    "Connection",
    "Factor",
    "Instr",
    "LearningEngine",
    "LearningRule",
    "LibraryRule",
    "NeuronProgram",
    "Neurons",
    "PlasticNetwork",
    "PostTrace",
    "Product",
    "Program",
    "Route",
    "Source",
    "TraceSpec",
    "check_rule",
    "decolle",
    "engine_of",
    "eprop_alif",
    "eprop_lif",
    "error_neuron",
    "ins",
    "lava_module_source",
    "lava_rule_call",
    "library",
    "pair_stdp",
    "parse_program",
    "r_stdp",
    "readout_delta",
    "render_listing",
    "require_runnable",
    "superspike",
    "write_learning_artifact",
]
