"""``FileSink``: records the spikes it receives and writes them to an ``.npy`` file itself.

Lava's ``Var.get()`` moves one element per channel message (``lava/magma/runtime/runtime.py``
``get_var``), about 20 us each: reading a sink's (neurons x steps) buffer for a batch of samples
takes longer than running the network. This sink keeps the same role as Lava's ``RingBuffer``
sink (``data[:, time_step - 1] = received``) but saves its buffer to ``path`` after its last step.
It does no arithmetic: neurons and synapses stay Lava's bit-accurate models.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class FileSink(AbstractProcess):
    def __init__(self, *, shape, num_steps: int, path: str, **kwargs) -> None:
        super().__init__(shape=shape, num_steps=num_steps, path=path, **kwargs)
        self.a_in = InPort(shape=shape)
        self.num_steps = Var(shape=(1,), init=num_steps)


@implements(proc=FileSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFileSinkModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    num_steps: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._path = proc_params["path"]
        self._steps = int(proc_params["num_steps"])
        self._buffer = np.zeros(tuple(proc_params["shape"]) + (self._steps,), dtype=bool)

    def run_spk(self) -> None:
        data = self.a_in.recv()
        t = self.time_step - 1
        if t < self._steps:
            self._buffer[..., t] = data != 0
        if self.time_step == self._steps:
            np.save(self._path, self._buffer)
