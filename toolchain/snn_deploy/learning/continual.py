"""Continual learning on the chip: the ``examples/continual_digits`` demo.

A spiking MLP is trained offline (BPTT, :func:`snn_deploy.train.train_digits`) on digits 0-4
only; it is compiled for Loihi 2 with a plastic readout (``--plastic output=readout_delta,...``:
the three-factor delta rule with the label as third factor, routed through graded synapses into
the output neurons' third-factor input); then the compiled network learns digits 5-9 online in
the emulator's learning engine from a few examples each (plus a few rehearsed examples of the
old classes), and the result is written as a new artifact folder.

Reported: accuracy on the new classes' and the old classes' test samples before and after, the
learning curve, and the float reference of the same adaptation
(:func:`snn_deploy.learning.online.float_reference`: the same update in float64 on the same
stream). With ``lava_samples`` > 0 the first samples of the stream also run in Lava and must
agree on every spike and every weight of every step.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DEFAULT_PLASTIC = "output=readout_delta,read=u,centered=true,decimation=4"


@dataclass(frozen=True)
class ContinualConfig:
    old_classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    new_classes: tuple[int, ...] = (5, 6, 7, 8, 9)
    shots: int = 10  # training examples per new class
    rehearsal: int = 3  # examples per old class mixed into the stream
    epochs: int = 10  # passes over the stream on the chip
    hidden: int = 64
    train_epochs: int = 20  # offline BPTT epochs on the old classes
    plastic: str = DEFAULT_PLASTIC
    seed: int = 0
    engine: str = "compiled"
    lava_samples: int = 0


def train_old_classes(path: str | Path, cfg: ContinualConfig | None = None) -> dict:
    """Offline BPTT on the old classes (the project's ``train_digits`` recipe)."""
    from snn_deploy.train import train_digits

    cfg = cfg or ContinualConfig()
    return train_digits(
        path,
        classes=cfg.old_classes,
        hidden=cfg.hidden,
        epochs=cfg.train_epochs,
        seed=cfg.seed,
        log=lambda s: None,
    )


def continual_digits_demo(
    workdir: str | Path, cfg: ContinualConfig | None = None, log=None, checkpoint=None
):
    """Run the demo in ``workdir`` (checkpoint, artifact folders); returns a JSON-able dict.
    ``checkpoint``: a model already trained with :func:`train_old_classes` (skips training)."""
    from snn_deploy import api
    from snn_deploy.artifacts import sha256
    from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split
    from snn_deploy.learning.online import (
        LearnOptions,
        float_reference,
        learn_online,
        predict,
    )

    cfg = cfg or ContinualConfig()
    say = log or (lambda s: None)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if checkpoint is None:
        checkpoint = work / "old_classes.pt"
        trained = train_old_classes(checkpoint, cfg)
        float_acc = trained["float_test_accuracy"]
        say(f"trained on {cfg.old_classes}: float test accuracy {float_acc:.3f}")
    else:
        float_acc = None
    report = api.compile(checkpoint, "loihi2", work / "compiled", plastic=[cfg.plastic])
    manifest, profile, _, qnet, config = api.load_plastic_artifact(work / "compiled")
    spec = EncodingSpec.from_dict(manifest["data"])
    split = load_digits_split(spec.split_seed, spec.test_fraction)
    x_train, x_test = encode(split.x_train, spec), encode(split.x_test, spec)
    rng = np.random.default_rng(cfg.seed)
    picks = [
        rng.choice(
            np.flatnonzero(split.y_train == c),
            cfg.shots if c in cfg.new_classes else cfg.rehearsal,
            replace=False,
        )
        for c in (*cfg.old_classes, *cfg.new_classes)
    ]
    idx = rng.permutation(np.concatenate(picks))
    x, y = x_train[idx], split.y_train[idx]
    new = np.isin(split.y_test, cfg.new_classes)
    old = np.isin(split.y_test, cfg.old_classes)
    opts = LearnOptions(
        epochs=cfg.epochs, engine=cfg.engine, seed=cfg.seed, verify_lava=cfg.lava_samples
    )
    result = learn_online(
        qnet, config, profile, x, y, x_test[new], split.y_test[new], opts, log=say
    )
    old_before = float((predict(qnet, profile, x_test[old]) == split.y_test[old]).mean())
    old_after = float(
        (predict(qnet, profile, x_test[old], result.weights) == split.y_test[old]).mean()
    )
    ref = float_reference(
        qnet,
        config,
        profile,
        x,
        y,
        x_test[new],
        split.y_test[new],
        epochs=cfg.epochs,
        x_other=x_test[old],
        y_other=split.y_test[old],
        seed=cfg.seed,
    )
    record = {
        "format": "snn-deploy/learn-run",
        "version": 1,
        "source_artifact": str(work / "compiled"),
        "source_manifest_sha256": sha256(work / "compiled" / "manifest.json"),
        "data": f"digits train split: {cfg.shots} per class {cfg.new_classes}, "
        f"{cfg.rehearsal} per class {cfg.old_classes}",
        "test_data": f"digits test split, classes {cfg.new_classes}",
        "signal": "labels",
        "epochs": cfg.epochs,
        "engine": cfg.engine,
        **result.to_dict(),
    }
    learned = api.write_learned_artifact(
        work / "compiled", work / "learned", qnet, result.weights, record
    )
    chip_new, float_new = result.accuracy_after, ref["accuracy_after"]
    out = {
        "config": asdict(cfg),
        "offline_float_test_accuracy_old_classes": float_acc,
        "learning_report": report.data["learning"]["layers"][0]["programs"],
        "new_classes": {"before": result.accuracy_before, "after": chip_new},
        "old_classes": {"before": old_before, "after": old_after},
        "float_reference": {
            "new_before": ref["accuracy_before"],
            "new_after": float_new,
            "old_before": ref["other_before"],
            "old_after": ref["other_after"],
        },
        "ratio_new_chip_to_float": chip_new / float_new if float_new else None,
        "ratio_old_after_to_before": old_after / old_before if old_before else None,
        "curve": result.curve,
        "online_accuracy": result.online_accuracy,
        "stream_samples": len(idx),
        "lava": result.lava,
        "artifacts": {"compiled": str(work / "compiled"), "learned": str(learned)},
        "seconds": time.perf_counter() - t0,
    }
    say(
        f"new classes {result.accuracy_before:.3f} -> {chip_new:.3f} on chip, float reference "
        f"{float_new:.3f}; old classes {old_before:.3f} -> {old_after:.3f}"
    )
    return out


# -- R-STDP: adaptation of a compiled network from a reward signal -------------------------------

DEFAULT_RSTDP = "output=r_stdp,tag_decay_exp=-3,eta=1/-4"


def shift_columns(x: np.ndarray, columns: int = 1) -> np.ndarray:
    """A drifted sensor: every 8x8 digit image moved ``columns`` pixels to the right (wrapping)."""
    a = x.reshape(x.shape[0], x.shape[1], 8, 8)
    return np.roll(a, columns, axis=3).reshape(x.shape)


def drop_spikes(x: np.ndarray, keep: float = 0.1, seed: int = 1) -> np.ndarray:
    """A sensor that lost sensitivity: each input spike survives with probability ``keep``."""
    return x & (np.random.default_rng(seed).random(x.shape) < keep)


DRIFTS = {"sensitivity": drop_spikes, "shift": shift_columns}


def reward_adaptation_demo(
    workdir: str | Path,
    checkpoint: str | Path,
    *,
    plastic: str = DEFAULT_RSTDP,
    classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    samples: int = 400,
    epochs: int = 4,
    reward: int = 32,
    drift: str = "sensitivity",
    lava_samples: int = 0,
    log=None,
) -> dict:
    """Compile ``checkpoint`` with an R-STDP readout, present digits of ``classes`` through a
    drifted sensor (``drift``: :func:`drop_spikes` or :func:`shift_columns`) and let the
    readout adapt from a reward alone (the
    answer right or wrong, as a reward prediction error); returns the accuracies before and
    after on the drifted test digits, the curve and, with ``lava_samples``, Lava's agreement."""
    from snn_deploy import api
    from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split
    from snn_deploy.learning.online import LearnOptions, learn_online, predict

    work = Path(workdir)
    api.compile(checkpoint, "loihi2", work / "rstdp", plastic=[plastic])
    manifest, profile, _, qnet, config = api.load_plastic_artifact(work / "rstdp")
    spec = EncodingSpec.from_dict(manifest["data"])
    split = load_digits_split(spec.split_seed, spec.test_fraction)
    keep, keep_t = np.isin(split.y_train, classes), np.isin(split.y_test, classes)
    clean = encode(split.x_test, spec)[keep_t]
    change = DRIFTS[drift]
    x = change(encode(split.x_train, spec)[keep])[:samples]
    y = split.y_train[keep][:samples]
    xt, yt = change(clean), split.y_test[keep_t]
    opts = LearnOptions(signal="reward", reward=reward, epochs=epochs, verify_lava=lava_samples)
    result = learn_online(qnet, config, profile, x, y, xt, yt, opts, log=log)
    return {
        "plastic": plastic,
        "drift": drift,
        "classes": list(classes),
        "samples": len(x),
        "epochs": epochs,
        "reward": reward,
        "clean_accuracy": float((predict(qnet, profile, clean) == yt).mean()),
        "drifted_before": result.accuracy_before,
        "drifted_after": result.accuracy_after,
        "curve": result.curve,
        "online_accuracy": result.online_accuracy,
        "lava": result.lava,
        "seconds": result.seconds,
    }
