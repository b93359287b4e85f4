"""``RecordingLearningDenseModel``: Lava's own ``PyLearningDenseModelBitApproximate``, recorded.

It subclasses the model and only *copies* state: after every ``run_spk`` and ``run_lrn`` it
stores the weights, both tags, the traces and the within-epoch spike times, and after the last
step it writes them to ``record_path`` (an ``.npz`` of (steps, ...) int64 arrays). Reading them
with ``Var.get()`` every step would cost a run call per step and 20 us per element. The runner
selects it with ``Loihi2SimCfg(exception_proc_model_map={LearningDense: ...})``; instances
without ``record_path`` record nothing. No arithmetic is changed.
"""

import numpy as np
from lava.proc.dense.models import PyLearningDenseModelBitApproximate

RECORDED = ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3", "tx", "ty")


class RecordingLearningDenseModel(PyLearningDenseModelBitApproximate):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._rec_path = proc_params.get("record_path")
        self._rec_steps = int(proc_params.get("record_steps", 0))
        self._rec = {k: [] for k in RECORDED}

    def _snapshot(self):
        if not self._rec_path:
            return
        for key, values in self._rec.items():
            value = np.array(getattr(self, key), dtype=np.int64, copy=True)
            if len(values) == self.time_step:
                values[-1] = value
            else:
                values.append(value)

    def _save(self):
        if self._rec_path and self.time_step == self._rec_steps:
            np.savez(self._rec_path, **{k: np.stack(v) for k, v in self._rec.items()})

    def run_spk(self):
        super().run_spk()
        self._snapshot()
        if not self.lrn_guard():
            self._save()

    def run_lrn(self):
        super().run_lrn()
        self._snapshot()
        self._save()
