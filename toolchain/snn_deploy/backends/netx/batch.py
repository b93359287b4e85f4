"""Run several network.net files in one .venv-netx process (netx's import costs seconds).

    python batch.py jobs.json

``jobs.json``: ``{"script": path of run_loihi2.py, "jobs": [{"net", "data", "steps", "out"}]}``.
Each job goes through that script's own ``run`` (Loihi2SimCfg fixed_pt) and is written as the
script's ``--out`` file is. Imports nothing from snn-deploy.
"""

import importlib.util
import json
import os
import sys

import numpy as np


def main(argv):
    with open(argv[1]) as fh:
        spec = json.load(fh)
    mod_spec = importlib.util.spec_from_file_location("run_loihi2", spec["script"])
    script = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(script)
    for job in spec["jobs"]:
        with np.load(job["data"], allow_pickle=False) as z:
            x = z["x"]
        spikes, cfg = script.run(job["net"], x, int(job["steps"]), "sim")
        arrays = {f"spikes_{k}": v for k, v in spikes.items()}
        arrays["run_config"] = np.array(cfg)
        tmp = job["out"] + ".part.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, job["out"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
