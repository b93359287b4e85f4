"""``report.html``: one self-contained page (inline SVG, no scripts, no external files).

Plots: weight quantization error per projection, per-core utilization, float-vs-integer activity
per layer, and the spike raster of one sample (float and integer overlaid). The activity plots
need an emulation record (``emulation.json``, written by ``emulate`` or by ``compile
--calibrate``); without one the page says how to get it.
"""

from __future__ import annotations

import html

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52")


def _esc(x) -> str:
    return html.escape(str(x))


def bar_chart(
    title: str,
    labels: list[str],
    series: dict[str, list[float]],
    unit: str = "",
    width: int = 760,
    height: int = 260,
    limit_line: float | None = None,
) -> str:
    """Grouped vertical bars; one group per label, one bar per series."""
    if not labels:
        return f"<p><em>{_esc(title)}: nothing to plot</em></p>"
    left, bottom, top = 60, 70, 30
    plot_w, plot_h = width - left - 20, height - bottom - top
    vmax = max([max(v, default=0.0) for v in series.values()] + [limit_line or 0.0, 1e-12])
    group_w = plot_w / len(labels)
    bar_w = max(1.0, group_w * 0.8 / max(len(series), 1))
    out = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="{_esc(title)}">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{_esc(title)}</text>',
    ]
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{vmax * frac:.3g}{_esc(unit)}</text>"
        )
    for gi, label in enumerate(labels):
        x0 = left + gi * group_w + group_w * 0.1
        for si, (name, values) in enumerate(series.items()):
            v = values[gi] if gi < len(values) else 0.0
            h = plot_h * v / vmax
            out.append(
                f'<rect x="{x0 + si * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w * 0.95:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[si % len(COLORS)]}"><title>{_esc(name)} {_esc(label)}: '
                f"{v:.4g}{_esc(unit)}</title></rect>"
            )
        if len(labels) <= 40:
            cx = left + gi * group_w + group_w / 2
            out.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 14}" font-size="10" '
                f'text-anchor="end" transform="rotate(-35 {cx:.1f} {top + plot_h + 14})">'
                f"{_esc(label[:24])}</text>"
            )
    if limit_line is not None:
        y = top + plot_h * (1 - limit_line / vmax)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            'stroke="#C44E52" stroke-dasharray="4 3"/>'
        )
    for si, name in enumerate(series):
        out.append(
            f'<rect x="{left + si * 150}" y="{height - 16}" width="10" height="10" '
            f'fill="{COLORS[si % len(COLORS)]}"/><text x="{left + si * 150 + 14}" '
            f'y="{height - 7}" font-size="11">{_esc(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def raster_plot(
    title: str,
    float_pts: list,
    int_pts: list,
    n_neurons: int,
    n_steps: int,
    width: int = 760,
    height: int = 200,
) -> str:
    left, bottom, top = 50, 30, 24
    plot_w, plot_h = width - left - 20, height - bottom - top
    sx, sy = plot_w / max(n_steps, 1), plot_h / max(n_neurons, 1)
    out = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="{_esc(title)}">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" '
        f'font-weight="bold">{_esc(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" font-size="10">'
        f"time step (0..{n_steps - 1})</text>",
        f'<text x="12" y="{top + plot_h / 2}" font-size="10" transform="rotate(-90 12 '
        f'{top + plot_h / 2})" text-anchor="middle">neuron</text>',
    ]
    for pts, color, dx in ((float_pts, COLORS[0], -0.2), (int_pts, COLORS[1], 0.2)):
        for t, n in pts:
            out.append(
                f'<rect x="{left + (t + 0.5 + dx) * sx - 1:.1f}" '
                f'y="{top + (n + 0.5) * sy - 1:.1f}" width="2" height="2" '
                f'fill="{color}"/>'
            )
    out.append(
        f'<rect x="{left}" y="{height - 16}" width="8" height="8" fill="{COLORS[0]}"/>'
        f'<text x="{left + 12}" y="{height - 9}" font-size="10">float</text>'
        f'<rect x="{left + 60}" y="{height - 16}" width="8" height="8" '
        f'fill="{COLORS[1]}"/><text x="{left + 72}" y="{height - 9}" '
        'font-size="10">integer</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _table(header: list[str], rows: list[list]) -> str:
    h = "".join(f"<th>{_esc(x)}</th>" for x in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}
.fit{color:#2a7a2a;font-weight:bold}.nofit{color:#b22;font-weight:bold}
.note{color:#555;font-size:13px}svg{display:block;margin:8px 0 20px}"""


def render_html(r: dict, emulation: dict | None = None) -> str:
    m, q, net = r["mapping"], r["quantization"], r["network"]
    fits = not r["violations"]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snn-deploy: "
        f"{_esc(r['model']['name'])} on {_esc(r['target']['title'])}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_esc(r['model']['name'])} &rarr; {_esc(r['target']['title'])}</h1>",
        f"<p class='{'fit' if fits else 'nofit'}'>{'fits' if fits else 'does not fit'}: "
        f"{m['cores_used']} of {m['cores_available']} cores; {net['neurons']:,} neurons, "
        f"{net['synapses']:,} synapses</p>",
        f"<p class='note'>Contract: {_esc(r['contract']['description'])}</p>",
    ]
    if r.get("legalization"):
        leg = r["legalization"]
        parts += [
            "<h2>Legalization</h2>",
            f"<p>{_esc(leg['summary'])}</p>",
            _table(
                ["step", "population", "what", "why", "groups", "cores"],
                [
                    [
                        t["step"],
                        t["population"],
                        t["what"],
                        t["why"],
                        t["groups"],
                        ""
                        if t["cores_before"] is None
                        else f"{t['cores_before']} -> {t['cores_after']}",
                    ]
                    for t in leg["transformations"]
                ],
            ),
        ]
    parts.append("<h2>Quantization</h2>")
    projs = [w for p in q["populations"] for w in p["weights"]]
    parts.append(
        bar_chart(
            "Weight quantization error per projection (RMS error / max |w|)",
            [w["projection"] for w in projs],
            {"RMS error": [100 * w["rms_error_relative"] for w in projs]},
            "%",
        )
    )
    parts.append(
        _table(
            [
                "layer",
                "scale limited by",
                "threshold float -> int",
                "current decay",
                "voltage decay",
                "u / v range used",
            ],
            [
                [
                    p["population"],
                    p["limited_by"],
                    f"{p['threshold_float']:.4g} -> {p['threshold_int']}",
                    f"{p['alpha_float']:.5g} -> {p['alpha_int']:.5g}",
                    f"{p['beta_float']:.5g} -> {p['beta_int']:.5g}",
                    f"{100 * p['current_headroom']:.1f}% / {100 * p['voltage_headroom']:.1f}%",
                ]
                for p in q["populations"]
            ],
        )
    )
    parts.append(
        _table(
            [
                "projection",
                "format",
                "exponent",
                "max abs error",
                "RMS error / max",
                "saturated",
                "zeroed",
            ],
            [
                [
                    w["projection"],
                    w["format"],
                    w["weight_exp"],
                    f"{w['max_abs_error']:.3g}",
                    f"{100 * w['rms_error_relative']:.3f}%",
                    w["saturated"],
                    w["zeroed"],
                ]
                for w in projs
            ],
        )
    )
    parts.append("<h2>Resources</h2>")
    cores = m["cores"][:64]
    parts.append(
        bar_chart(
            f"Per-core utilization ({len(m['cores'])} cores used"
            + (", first 64 shown" if len(m["cores"]) > 64 else "")
            + ")",
            [f"core {c['core']}" for c in cores],
            {
                "neurons": [100 * c["neurons"] / m["max_neurons_per_core"] for c in cores],
                "memory": [100 * c["memory_bits"] / m["memory_bits_per_core"] for c in cores],
            },
            "%",
            limit_line=100.0,
        )
    )
    parts.append(
        _table(
            ["layer", "neurons", "fan-in", "bits per neuron", "per core", "cores"],
            [
                [
                    f["population"],
                    f["neurons"],
                    f["fan_in"],
                    f["bits_per_neuron"],
                    f["neurons_per_core"],
                    f["cores"],
                ]
                for f in m["populations"]
            ],
        )
    )
    parts.append("<h2>Activity</h2>")
    if emulation:
        layers = emulation["layers"]
        parts.append(
            f"<p class='note'>From {_esc(emulation['backend'])} on "
            f"{_esc(emulation['data'])}: {emulation['samples']} sample(s), "
            f"{emulation['steps']} steps.</p>"
        )
        if emulation.get("float_accuracy") is not None:
            parts.append(
                f"<p>Accuracy: float {100 * emulation['float_accuracy']:.2f}%, integer "
                f"{100 * emulation['int_accuracy']:.2f}%</p>"
            )
        parts.append(
            bar_chart(
                "Spikes per sample, float vs integer",
                [x["population"] for x in layers],
                {
                    "float": [x["float_spikes_per_sample"] for x in layers],
                    "integer": [x["int_spikes_per_sample"] for x in layers],
                },
            )
        )
        parts.append(
            _table(
                ["layer", "float spikes", "integer spikes", "agreement"],
                [
                    [
                        x["population"],
                        f"{x['float_spikes_per_sample']:.1f}",
                        f"{x['int_spikes_per_sample']:.1f}",
                        f"{100 * x['agreement']:.3f}%",
                    ]
                    for x in layers
                ],
            )
        )
        ras = emulation.get("raster") or {}
        sizes = {p["name"]: p["size"] for p in net["populations"]}
        for pop in list(ras.get("float", {}))[:6]:
            parts.append(
                raster_plot(
                    f"Spike raster, sample 0: {pop}",
                    ras["float"][pop],
                    ras["int"].get(pop, []),
                    sizes.get(pop, 1),
                    emulation["chip_steps"],
                )
            )
        act = emulation.get("activity")
        if act:
            parts.append(
                _table(
                    ["per inference", "value"],
                    [
                        ["synaptic operations", f"{act['synaptic_ops_per_inference']:,.0f}"],
                        ["neuron updates", f"{act['neuron_updates_per_inference']:,}"],
                        ["spikes", f"{act['spikes_per_inference']:,.1f}"],
                    ],
                )
            )
        est = emulation.get("estimates")
        if est:
            parts.append(
                f"<p><strong>Energy estimate</strong>: {est['energy_uj_per_inference']:.3g} "
                f"&micro;J per inference. <span class='note'>{_esc(est['label'])}. An "
                "estimate from per-operation costs, not a measurement.</span></p>"
            )
    else:
        parts.append(
            "<p class='note'>No emulation yet: run <code>snn-deploy emulate FOLDER "
            "--data DATA</code> (or compile with <code>--calibrate DATA</code>) to add "
            "the activity plots.</p>"
        )
    parts.append(
        "<h2>Limits</h2><ul>"
        + "".join(f"<li>checked: {_esc(c)}</li>" for c in r["limits"]["checked"])
        + "".join(
            f"<li><strong>not checked</strong>: {_esc(c)}</li>" for c in r["limits"]["not_checked"]
        )
        + "</ul>"
    )
    if r.get("learning"):
        parts.append(_learning_html(r["learning"]))
    if r.get("learning_run"):
        parts.append(_learning_run_html(r["learning_run"]))
    if r.get("notes"):
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in r["notes"]) + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _learning_html(ln: dict) -> str:
    out = ["<h2>Learning (plastic layers)</h2>"]
    out.append(
        '<p class="note">engine widths used: '
        + _esc(", ".join(f"{k} {v}" for k, v in ln["engine"].items()))
        + "</p>"
    )
    for layer in ln["layers"]:
        out.append(
            f"<h3>{_esc(layer['projection'])} &rarr; {_esc(layer['population'])}: "
            f"{_esc(layer['rule'])} ({_esc(layer['mode'])})</h3>"
        )
        out.append(
            _table(
                ["target", "product", "reads", "factor bits", "MAC shift"],
                [
                    [
                        p["target"],
                        p["product"],
                        "; ".join(p["reads"]),
                        p["factor_bits"],
                        p["mac_shift"],
                    ]
                    for p in layer["products"]
                ],
            )
        )
        out.append(
            _table(
                ["one bit narrower", "would break"],
                [
                    [
                        f"{n['key']} {n['width']} -> {n['narrower']}",
                        "; ".join(n["breaks"]) or "nothing",
                    ]
                    for n in layer.get("narrower", [])
                ],
            )
        )
    return "\n".join(out)


def line_plot(points: list[tuple[float, float]], x_label: str, y_label: str) -> str:
    """A small inline SVG line plot of (x, y) points, y in 0..1."""
    w, h, pad = 480, 200, 40
    if not points:
        return ""
    xmax = max(p[0] for p in points) or 1
    coords = [
        (pad + (w - 2 * pad) * x / xmax, h - pad - (h - 2 * pad) * min(max(y, 0.0), 1.0))
        for x, y in points
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2a6fb0"/>' for x, y in coords)
    return (
        f'<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>'
        f'<polyline points="{path}" fill="none" stroke="#2a6fb0" stroke-width="2"/>{dots}'
        f'<text x="{w / 2}" y="{h - 8}" font-size="11" text-anchor="middle">{_esc(x_label)}'
        f" (0..{xmax:g})</text>"
        f'<text x="4" y="{pad - 8}" font-size="11">{_esc(y_label)} (0..1)</text></svg>'
    )


def _learning_run_html(run: dict) -> str:
    curve = [(c["samples"], c["test_accuracy"]) for c in run["curve"]]
    return (
        "<h2>Learning run</h2>"
        f"<p>learned online from {run['samples_learned']} samples of {_esc(run['data'])} "
        f"({_esc(run['signal'])}, {run['epochs']} epoch(s)): test accuracy "
        f"{run['accuracy_before']:.4f} &rarr; {run['accuracy_after']:.4f}</p>"
        + line_plot(curve, "samples learned", "test accuracy")
    )
