"""The compile report: what the model became, what it cost, where it goes, and what was not checked.

``CompileReport.to_dict()`` is ``report.json``; ``render_markdown(report_dict)`` is ``report.md``
and works from the JSON alone, so ``snn-deploy report DIR`` can re-render it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CompileReport:
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return self.data

    @property
    def fits(self) -> bool:
        return not self.data.get("violations")


def _pct(used: float, limit: float) -> str:
    return f"{100.0 * used / limit:.1f}%" if limit else "n/a"


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def write_reports(folder, report: dict, emulation: dict | None = None) -> None:
    """``report.md`` and ``report.html`` in ``folder``, each written to a temporary name first."""
    from pathlib import Path

    from snn_deploy.reports.html import render_html

    folder = Path(folder)
    for name, text in (
        ("report.md", render_markdown(report, emulation)),
        ("report.html", render_html(report, emulation)),
    ):
        tmp = folder / f".{name}.part"
        tmp.write_text(text)
        tmp.replace(folder / name)


def _activity_markdown(e: dict) -> list[str]:
    lines = [
        "## Activity (emulation)",
        "",
        f"{e['backend']} on {e['data']}: {e['samples']} sample(s), {e['steps']} steps.",
    ]
    if e.get("float_accuracy") is not None:
        lines.append(
            f"Accuracy: float {100 * e['float_accuracy']:.2f}%, integer "
            f"{100 * e['int_accuracy']:.2f}%."
        )
    lines.append("")
    lines += _table(
        ["layer", "float spikes / sample", "integer spikes / sample", "agreement"],
        [
            [
                x["population"],
                f"{x['float_spikes_per_sample']:.1f}",
                f"{x['int_spikes_per_sample']:.1f}",
                f"{100 * x['agreement']:.3f}%",
            ]
            for x in e["layers"]
        ],
    )
    if e.get("events"):
        lines += [
            "Arithmetic events in the integer run: "
            + ", ".join(f"{k} {v}" for k, v in e["events"].items()),
            "",
        ]
    a = e.get("activity")
    if a:
        lines += [
            f"Per inference: {a['synaptic_ops_per_inference']:,.0f} synaptic operations, "
            f"{a['neuron_updates_per_inference']:,} neuron updates, "
            f"{a['spikes_per_inference']:,.1f} spikes.",
            "",
        ]
    est = e.get("estimates")
    if est:
        lines += [
            f"Energy estimate: {est['energy_uj_per_inference']:.3g} uJ per inference "
            f"({est['label']}; an estimate from per-operation costs, not a measurement).",
            "",
        ]
    return lines


def _legalization_markdown(leg: dict) -> list[str]:
    lines = [
        "## Legalization",
        "",
        leg["summary"] or "no population was changed",
        "",
        f"Cores: {leg['cores_before']} with one process per layer (as if the chip held "
        f"per-neuron parameters), {leg['cores_after']} as compiled. Populations split: "
        + (", ".join(f"`{k}` {v} groups" for k, v in leg["split_populations"].items()) or "none")
        + " (a split network is not a chain of one process per layer).",
        "",
    ]
    rows = [
        [
            t["step"],
            f"`{t['population']}`",
            t["what"],
            t["why"],
            t["groups"],
            "" if t["cores_before"] is None else f"{t['cores_before']} -> {t['cores_after']}",
        ]
        for t in leg["transformations"]
    ]
    lines += _table(["step", "population", "what", "why", "groups", "cores"], rows)
    return lines + [""]


def render_markdown(r: dict, emulation: dict | None = None) -> str:
    m, q, net = r["mapping"], r["quantization"], r["network"]
    lines = [
        f"# snn-deploy compile report: {r['model']['name']} -> {r['target']['title']}",
        "",
        f"- model: `{r['model']['source']}` ({r['model']['kind']})",
        f"- target: {r['target']['name']} (profile `{r['target']['profile']}`, "
        f"{r['target']['chips']} chip(s) of {r['target']['cores_per_chip']} cores)",
        f"- network: {net['neurons']:,} neurons in {len(net['populations'])} population(s), "
        f"{net['synapses']:,} synapses, inputs "
        + ", ".join(f"{i['name']} ({i['size']})" for i in net["inputs"]),
        f"- result: **{'fits' if not r['violations'] else 'does not fit'}**: "
        f"{m['cores_used']} of {m['cores_available']} cores "
        f"({_pct(m['cores_used'], m['cores_available'])})",
        f"- snn-deploy {r['snn_deploy_version']}",
        "",
        "## Discretization contract",
        "",
        r["contract"]["description"],
        "",
    ]
    if r.get("timing"):
        lines += ["## Timing on the chip", ""]
        lines += [f"- {t}" for t in r["timing"]] + [""]
    if r.get("legalization"):
        lines += _legalization_markdown(r["legalization"])
    lines += ["## Quantization per layer", ""]
    rows = []
    for p in q["populations"]:
        rows.append(
            [
                p["population"],
                p["size"],
                f"{p['scale']:.4g}",
                p["limited_by"],
                f"{p['threshold_float']:.4g} -> {p['threshold_int']} "
                f"({100 * p['threshold_rel_error']:.3f}%)",
                f"{p['alpha_float']:.5g} -> {p['alpha_int']:.5g}",
                f"{p['beta_float']:.5g} -> {p['beta_int']:.5g}",
                f"{100 * p['current_headroom']:.1f}% / {100 * p['voltage_headroom']:.1f}%",
            ]
        )
    lines += _table(
        [
            "layer",
            "neurons",
            "state scale",
            "scale limited by",
            "threshold (float -> int)",
            "current decay",
            "voltage decay",
            "u / v range used",
        ],
        rows,
    )
    lines += [
        "State ranges came from: "
        + "; ".join(sorted({f"{p['population']}: {p['calibration']}" for p in q["populations"]}))
        + ".",
        "",
    ]
    rows = []
    for p in q["populations"]:
        for w in p["weights"]:
            rows.append(
                [
                    w["projection"],
                    f"{w['source']} -> {w['target']}",
                    f"{w['count']:,}",
                    w["format"],
                    w["weight_exp"],
                    w["mantissa_bits_used"],
                    f"{w['max_abs_error']:.3g}",
                    f"{100 * w['rms_error_relative']:.3f}%",
                    w["saturated"],
                    w["zeroed"],
                ]
            )
    lines += ["### Weights", ""]
    lines += _table(
        [
            "projection",
            "edge",
            "weights",
            "format",
            "exponent",
            "mantissa bits used",
            "max abs error",
            "RMS error / max",
            "saturated",
            "zeroed",
        ],
        rows,
    )
    for p in q["populations"]:
        for w in p["weights"]:
            if w["zeroed"]:
                ex = ", ".join(f"[{a},{b}]={v:.3g}" for a, b, v in w["zeroed_examples"])
                lines.append(
                    f"- {w['projection']}: {w['zeroed']} non-zero weight(s) round to 0 "
                    f"(first: {ex})"
                )
            if w["saturated"]:
                lines.append(f"- {w['projection']}: {w['saturated']} weight(s) saturated")
        if p["bias_saturated"]:
            lines.append(f"- {p['population']}: {p['bias_saturated']} bias value(s) saturated")
    lines += ["", "## Resources", ""]
    rows = [
        [
            f["population"],
            f"{f['neurons']:,}",
            f"{f['fan_in']:,}",
            f"{f['bits_per_neuron']:,}",
            f"{f['neurons_per_core']:,}",
            f["cores"],
        ]
        for f in m["populations"]
    ]
    lines += _table(
        ["layer", "neurons", "fan-in", "bits per neuron", "neurons per core (max)", "cores"], rows
    )
    lines += ["### Per core", ""]
    rows = [
        [
            c["core"],
            c["chip"],
            f"{c['neurons']:,} / {m['max_neurons_per_core']:,} "
            f"({_pct(c['neurons'], m['max_neurons_per_core'])})",
            f"{c['memory_bits'] // 8:,} / {m['memory_bits_per_core'] // 8:,} "
            f"({_pct(c['memory_bits'], m['memory_bits_per_core'])})",
            f"{c.get('input_axons', 0):,} / {c.get('output_axons', 0):,}",
            ", ".join(f"{s['population']}[{s['start']}:{s['stop']}]" for s in c["slices"]),
        ]
        for c in m["cores"]
    ]
    lines += _table(
        [
            "core",
            "chip",
            "neurons (used / max)",
            "memory bytes (used / max)",
            "axons in / out",
            "slices",
        ],
        rows,
    )
    lines += ["## Limits", ""]
    lines += [f"- checked: {c}" for c in r["limits"]["checked"]]
    lines += [f"- **not checked**: {c}" for c in r["limits"]["not_checked"]]
    lines += [""]
    if emulation:
        lines += _activity_markdown(emulation)
    if r["violations"]:
        lines += ["## Violations", ""]
        lines += [
            f"- layer `{v['layer'] or '-'}`: {v['what']} {v['value']} {v['relation']} "
            f"{v['limit']} ({v['key']}); fix: {v['fix']}"
            for v in r["violations"]
        ]
        lines += [""]
    if r.get("learning"):
        lines += learning_markdown(r["learning"])
    if r.get("learning_run"):
        lines += learning_run_markdown(r["learning_run"])
    if r.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in r["notes"]] + [""]
    lines += ["## Stages", ""]
    lines += _table(["stage", "seconds"], [[k, f"{v:.3f}"] for k, v in r["stage_seconds"].items()])
    lines += ["Artifacts: " + ", ".join(f"`{a}`" for a in r["artifacts"]), ""]
    return "\n".join(lines)


def learning_markdown(ln: dict) -> list[str]:
    """The plastic layers of ``compile --plastic``: rule, products and what each reads, the
    engine widths used and what a one-bit narrower engine would break."""
    lines = ["## Learning (plastic layers)", ""]
    lines += ["Engine widths used: " + ", ".join(f"{k} {v}" for k, v in ln["engine"].items()), ""]
    for layer in ln["layers"]:
        third = layer["third_factor"]
        lines += [
            f"### `{layer['projection']}` -> `{layer['population']}`: {layer['rule']} "
            f"({layer['mode']})",
            "",
            f"Option: `{layer['option']}`; neuron program: {layer['neuron_program'] or 'none'}; "
            + (f"third factor: {third['signal']} via {third['route']}" if third else "no third")
            + ("" if third else " factor"),
            "",
        ]
        lines += _table(
            ["target", "product", "reads", "factor bits", "MAC shift"],
            [
                [
                    p["target"],
                    f"`{p['product']}`",
                    "; ".join(p["reads"]),
                    p["factor_bits"],
                    p["mac_shift"],
                ]
                for p in layer["products"]
            ],
        )
        lines += _table(
            ["one bit narrower", "would break"],
            [
                [f"{n['key']} {n['width']} -> {n['narrower']}", "; ".join(n["breaks"]) or "nothing"]
                for n in layer.get("narrower", [])
            ],
        )
    return lines


def learning_run_markdown(run: dict) -> list[str]:
    lines = ["## Learning run (`snn-deploy learn`)", ""]
    lines += [
        f"Learned online from {run['samples_learned']} samples of {run['data']} "
        f"({run['signal']}, {run['epochs']} epoch(s), engine {run['engine']}): test accuracy "
        f"{run['accuracy_before']:.4f} -> {run['accuracy_after']:.4f} on {run['test_data']}.",
        "",
    ]
    lines += _table(
        ["samples learned", "test accuracy"],
        [[c["samples"], f"{c['test_accuracy']:.4f}"] for c in run["curve"]],
    )
    if run.get("lava"):
        lv = run["lava"]
        lines += [
            f"Lava agreed on every spike and weight of {lv['steps']} steps "
            f"({lv['samples']} samples).",
            "",
        ]
    return lines
