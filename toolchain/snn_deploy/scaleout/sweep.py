"""``sweep``: compile and emulate every variant of a grid the user states, in this process or
as one Dask task per variant; a variant the toolchain refuses is recorded with its reason.

Writes ``sweep.json`` (``format: snn-deploy/sweep``) and ``sweep.html`` (an inline SVG plot of
integer accuracy against weight bits per target, and a table with the cores used) atomically
into the output folder; each variant's artifact folder is ``variants/<name>/``.
"""

from __future__ import annotations

import html
import itertools
import json
from contextlib import nullcontext
from pathlib import Path

from snn_deploy.errors import SnnDeployError, UsageError
from snn_deploy.progress import bar


def variants(targets, weight_bits, percentiles, seeds) -> list[dict]:
    """The grid, in order: every target x weight width x calibration percentile x seed."""
    grid = itertools.product(targets, weight_bits or [None], percentiles or [100.0], seeds or [0])
    out = []
    for target, bits, pct, seed in grid:
        name = f"{target}-w{bits or 'max'}-p{pct:g}-s{seed}"
        out.append(
            {"name": name, "target": target, "weight_bits": bits, "percentile": pct, "seed": seed}
        )
    return out


def run_variant(model: str, data: str, variant: dict, out: str, samples: int | None) -> dict:
    """Compile and emulate one variant; a refusal (any :class:`SnnDeployError`) is recorded."""
    from snn_deploy import api

    folder = Path(out) / "variants" / variant["name"]
    record = dict(variant)
    try:
        report = api.compile(
            model,
            variant["target"],
            folder,
            weight_bits=variant["weight_bits"],
            calibrate=data if variant["percentile"] != 100.0 else None,
            calibrate_percentile=variant["percentile"],
        ).to_dict()
        summary = api.emulate(folder, data, samples=samples, save=False)
    except SnnDeployError as exc:
        record.update(status="refused", reason=str(exc).splitlines()[0], exit_code=exc.exit_code)
        return record
    record.update(
        status="ok",
        float_accuracy=summary.float_accuracy,
        int_accuracy=summary.int_accuracy,
        cores_used=report["mapping"]["cores_used"],
        cores_available=report["mapping"]["cores_available"],
        folder=str(folder),
    )
    return record


def sweep(
    model,
    data: str,
    out,
    *,
    targets: list[str],
    weight_bits: list[int] | None = None,
    percentiles: list[float] | None = None,
    seeds: list[int] | None = None,
    samples: int | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    progress: bool = False,
) -> dict:
    """Run the grid; returns the ``sweep.json`` record. Seeds are recorded per variant (for
    models whose compilation is seeded; compilation here is deterministic)."""
    from snn_deploy.artifacts import write_json_atomic
    from snn_deploy.scaleout.cluster import check_options, connect

    check_options(workers, cluster)
    if not targets:
        raise UsageError("--targets names no target", hint="e.g. --targets loihi2,fixedpoint")
    if not Path(model).is_file():
        raise UsageError(f"model {model} is not a file", hint="give a .pt, .nir or .onnx file")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = str(Path(model).resolve())
    data = data if data == "digits" else str(Path(data).resolve())
    grid = variants(targets, weight_bits, percentiles, seeds)
    distributed = workers is not None or cluster is not None
    records = []
    with (
        bar(len(grid), "sweep", "variant", enabled=progress) as meter,
        connect(workers, cluster) if distributed else nullcontext() as client,
    ):
        if client is None:
            for v in grid:
                records.append(run_variant(model, data, v, str(out), samples))
                meter.update(1)
        else:
            from distributed import as_completed

            futures = [
                client.submit(run_variant, model, data, v, str(out), samples, pure=False)
                for v in grid
            ]
            for _ in as_completed(futures):
                meter.update(1)
            records = client.gather(futures)
    result = {
        "format": "snn-deploy/sweep",
        "version": 1,
        "model": model,
        "data": data,
        "variants": records,
    }
    write_json_atomic(out / "sweep.json", result)
    tmp = out / "sweep.html.part"
    tmp.write_text(render_html(result))
    tmp.replace(out / "sweep.html")
    return result


def render_html(result: dict) -> str:
    """A page with an inline SVG plot (integer accuracy vs weight bits, one line per target)
    and a table of every variant (accuracies, cores used, or the reason it was refused)."""
    ok = [r for r in result["variants"] if r["status"] == "ok"]
    width, height, pad, legend = 760, 360, 50, 120  # legend: room on the right for names
    bits = sorted({r["weight_bits"] or 0 for r in ok}) or [0]
    lo, hi = min(bits), max(bits)

    def x(b):
        return pad + (width - 2 * pad - legend) * ((b - lo) / (hi - lo) if hi > lo else 0.5)

    def y(acc):
        return height - pad - (height - 2 * pad) * acc

    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="integer accuracy against weight bits per target">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad - legend}" y2="{height - pad}" '
        'stroke="black"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
        f'<text x="{(width - legend) / 2}" y="{height - 10}" text-anchor="middle">weight bits '
        "(0: the chip's widest)</text>",
        f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" '
        'text-anchor="middle">integer accuracy</text>',
    ]
    for b in bits:
        parts.append(
            f'<text x="{x(b):.1f}" y="{height - pad + 16}" text-anchor="middle">{b}</text>'
        )
    for a in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{pad - 6}" y="{y(a):.1f}" text-anchor="end">{a:.0%}</text>')
    targets = list(dict.fromkeys(r["target"] for r in ok))
    for i, target in enumerate(targets):
        colour = colours[i % len(colours)]
        pts = sorted(
            (r["weight_bits"] or 0, r["int_accuracy"] or 0.0) for r in ok if r["target"] == target
        )
        path = " ".join(f"{x(b):.1f},{y(a):.1f}" for b, a in pts)
        parts.append(
            f'<polyline class="series" data-target="{html.escape(target)}" points="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for b, a in pts:
            parts.append(f'<circle cx="{x(b):.1f}" cy="{y(a):.1f}" r="3" fill="{colour}"/>')
        parts.append(
            f'<text x="{width - pad - legend + 8}" y="{pad + 16 * i}" fill="{colour}">'
            f"{html.escape(target)}</text>"
        )
    parts.append("</svg>")
    rows = []
    for r in result["variants"]:
        if r["status"] == "ok":
            cells = (
                f"{100 * r['float_accuracy']:.2f}%" if r["float_accuracy"] is not None else "-",
                f"{100 * r['int_accuracy']:.2f}%" if r["int_accuracy"] is not None else "-",
                f"{r['cores_used']} / {r['cores_available']}",
                "",
            )
        else:
            cells = ("-", "-", "-", f"refused: {r['reason']}")
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(c))}</td>"
                for c in (r["name"], r["target"], r["weight_bits"] or "max", r["percentile"])
            )
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "variant",
            "target",
            "weight bits",
            "percentile",
            "float",
            "integer",
            "cores",
            "note",
        )  # fmt: skip
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>snn-deploy sweep: {html.escape(Path(result['model']).name)}</title></head>"
        f"<body><h1>Sweep of {html.escape(Path(result['model']).name)} on "
        f"{html.escape(result['data'])}</h1>\n"
        + "\n".join(parts)
        + f"\n<table><tr>{head}</tr>\n"
        + "\n".join(rows)
        + '</table>\n<script type="application/json" id="sweep">'
        + json.dumps(result).replace("</", "<\\/")
        + "</script></body></html>\n"
    )
