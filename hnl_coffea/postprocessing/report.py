"""The whole postprocessing chain behind ``hnl-coffea postprocess``.

:func:`postprocess_output` normalises the processor output era by era, bins every
(era, discriminant, channel, mass hypothesis) of the signal region adaptively, and writes

* ``significance.csv`` / ``.md`` — Asimov and S/√B significance per era and channel, with
  the channel average and combination, and (several eras) the combination over eras;
* ``expected.csv`` / ``.md`` — significance and expected limits (asymptotic CLs) at the
  analysed luminosity and at the configured projections (:mod:`.projections`);
* ``cutflow.md`` / ``cutflow.txt`` — labelled cutflow tables (:mod:`.cutflows`);
* ``rebinned.zip`` (all variations, read with :func:`hnl_coffea.outputs.load_output`) and ``rebinned.root`` (nominal templates);
* the plots (:mod:`.report_plots`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from ..config import AnalysisConfig
from ..outputs import save_output
from ..progress import Steps
from .categories import ALL_ERAS, DISCRIMINANTS, BinnedCategory, binned_categories, nominal
from .cutflows import cutflow_markdown, cutflow_yields
from .normalise import dataset_scales, normalise_output, output_eras
from .projections import expected_rows
from .significance import asimov, average_channels, combine_channels, s_over_sqrt_b
from .style import lumi_label

__all__ = [
    "PostprocessSummary",
    "expected_markdown",
    "markdown_table",
    "postprocess_output",
    "significance_rows",
]

PLOT_MODES = ("none", "default", "all")
#: Discriminant names in text tables (the plots use the mathtext of ``DISCRIMINANTS``).
TEXT_LABELS = {"mt_total": "MT_total", "score_parametric": "Parametric DNN",
               "score_transfer": "Transfer model"}  # fmt: skip


@dataclass
class PostprocessSummary:
    """What :func:`postprocess_output` computed and wrote."""

    outdir: Path
    rows: list[dict[str, Any]]
    expected: list[dict[str, Any]] = field(default_factory=list)
    eras: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return markdown_table(self.rows)


def _channel_rows(era: str, disc: str, mass: float, zs: Mapping[str, tuple[float, float]]):
    """``average`` and ``combined`` rows over channels from ``{channel: (S/√B, Z_A)}``."""
    for kind, fn in (("average", average_channels), ("combined", combine_channels)):
        yield {"era": era, "discriminant": disc, "mass": mass, "channel": kind,
               "s_over_sqrt_b": fn([z[0] for z in zs.values()]),
               "asimov": fn([z[1] for z in zs.values()]),
               "n_bins": "", "signal": "", "background": ""}  # fmt: skip


def significance_rows(
    categories: Sequence[BinnedCategory], channels: Sequence[str], eras: Sequence[str] = ("",)
) -> list[dict[str, Any]]:
    """One row per (era, discriminant, mass, channel), plus ``average`` and ``combined``
    rows; with several eras also era ``all``: per channel the quadrature over eras, then
    the average and the combination of those."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, float], dict[tuple[str, str], BinnedCategory]] = {}
    for c in categories:
        groups.setdefault((c.discriminant, c.mass), {})[(c.era, c.channel)] = c
    for (disc, mass), cells in groups.items():
        per_era: dict[str, dict[str, tuple[float, float]]] = {}
        for era in eras:
            zs = {}
            for ch in channels:
                cat = cells.get((era, ch))
                s = cat.signal_yields if cat else np.zeros(1)
                b = cat.background_yields if cat else np.zeros(1)
                zs[ch] = (s_over_sqrt_b(s, b), asimov(s, b))
                rows.append({"era": era, "discriminant": disc, "mass": mass, "channel": ch,
                             "s_over_sqrt_b": zs[ch][0], "asimov": zs[ch][1], "n_bins": len(s),
                             "signal": float(s.sum()), "background": float(b.sum())})  # fmt: skip
            rows += _channel_rows(era, disc, mass, zs)
            per_era[era] = zs
        if len(eras) > 1:
            zs = {
                ch: tuple(combine_channels([per_era[e][ch][i] for e in eras]) for i in (0, 1))
                for ch in channels
            }
            for ch, (z1, z2) in zs.items():
                rows.append({"era": ALL_ERAS, "discriminant": disc, "mass": mass, "channel": ch,
                             "s_over_sqrt_b": z1, "asimov": z2, "n_bins": "", "signal": "",
                             "background": ""})  # fmt: skip
            rows += _channel_rows(ALL_ERAS, disc, mass, zs)
    return rows


def markdown_table(rows: Sequence[Mapping[str, Any]], metric: str = "asimov") -> str:
    """One Markdown table per (era, discriminant): mass × (channels, average, combined)."""
    out = []
    what = "Asimov Z" if metric == "asimov" else "S/sqrt(B)"
    keys = dict.fromkeys((r.get("era", ""), r["discriminant"]) for r in rows)
    for era, disc in keys:
        sel = [r for r in rows if r.get("era", "") == era and r["discriminant"] == disc]
        cols = list(dict.fromkeys(r["channel"] for r in sel))
        where = f", era {era}" if era else ""
        out += [f"### {TEXT_LABELS.get(disc, disc)} ({disc}){where}: {what}", ""]
        out.append("| m_hyp [GeV] | " + " | ".join(cols) + " |")
        out.append("|---:|" + "---:|" * len(cols))
        for mass in sorted(dict.fromkeys(r["mass"] for r in sel)):
            vals = {r["channel"]: r[metric] for r in sel if r["mass"] == mass}
            out.append(f"| {mass:g} | " + " | ".join(f"{vals[c]:.3f}" for c in cols) + " |")
        out.append("")
    return "\n".join(out)


def _num(v: Any, fmt: str = ".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:{fmt}}"


def expected_markdown(rows: Sequence[Mapping[str, Any]], cl: float = 0.95) -> str:
    """Per scenario and discriminant: Asimov Z and the expected limits on μ and σ·B."""
    out = []
    keys = dict.fromkeys((r["scenario"], r["discriminant"]) for r in rows)
    for scen, disc in keys:
        sel = sorted((r for r in rows if r["scenario"] == scen and r["discriminant"] == disc),
                     key=lambda r: r["mass"])  # fmt: skip
        lumi = sel[0]["luminosity_fb"]
        out += [f"### {scen}: {lumi:.3g} fb⁻¹ ({sel[0]['sqrt_s_tev']} TeV), "
                f"{TEXT_LABELS.get(disc, disc)} ({disc})", "",
                f"| m_hyp [GeV] | Asimov Z | S/√B | {100 * cl:g}% CL μ (median) | μ ±1σ | "
                "σ·B limit [pb] (median) | σ·B ±1σ [pb] | σ·B samples [pb] |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in sel:
            out.append(
                f"| {r['mass']:g} | {r['asimov']:.3f} | {r['s_over_sqrt_b']:.3f} | "
                f"{_num(r['mu_median'])} | [{_num(r['mu_m1'])}, {_num(r['mu_p1'])}] | "
                f"{_num(r['xsec_median'])} | [{_num(r['xsec_m1'])}, {_num(r['xsec_p1'])}] | "
                f"{_num(r['xsec_ref'])} |"
            )
        out.append("")
    return "\n".join(out)


def _write_csv(rows: list[dict], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["discriminant"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _write_tables(rows: list[dict], expected: list[dict], outdir: Path, cfg, lumi: str):  # noqa: ANN001, ANN202
    files = [_write_csv(rows, outdir / "significance.csv")]
    text = markdown_table(rows) + "\n" + markdown_table(rows, "s_over_sqrt_b")
    (outdir / "significance.md").write_text(
        f"# Expected significance at the analysed luminosity, {lumi}\n\n"
        "Asimov significance of the expected signal over the expected background "
        "(no systematics), per bin in quadrature.\n\n" + text
    )
    files.append(outdir / "significance.md")
    files.append(_write_csv(expected, outdir / "expected.csv"))
    (outdir / "expected.md").write_text(
        "# Expected significance and limits: analysed luminosity and projections\n\n"
        "Projections scale the analysed expectation by the luminosity ratio (cross sections "
        "and efficiencies of the analysed samples). Limits: asymptotic CLs on the Asimov "
        "background-only data, luminosity and normalisation uncertainties profiled, shape "
        "systematics not included.\n\n" + expected_markdown(expected, cfg.postprocessing.limit_cl)
    )
    files.append(outdir / "expected.md")
    return files


def _write_rebinned(cats: list[BinnedCategory], outdir: Path) -> list[Path]:
    tree: dict[str, Any] = {}
    for c in cats:
        node = tree.setdefault(c.discriminant, {}).setdefault(f"m{c.mass:g}", {})
        node = node.setdefault(c.era, {}) if c.era else node
        node[c.channel] = {"edges": c.edges, "backgrounds": c.backgrounds, "signal": c.signal,
                           "data": c.data}  # fmt: skip
    save_output(tree, outdir / "rebinned.zip", overwrite=True)
    with uproot.recreate(outdir / "rebinned.root") as f:
        for c in cats:
            d = f"{c.discriminant}/m{c.mass:g}/{c.era + '/' if c.era else ''}{c.channel}"
            f[f"{d}/{c.signal_name}"] = nominal(c.signal)
            for p, h in c.backgrounds.items():
                f[f"{d}/{p}"] = nominal(h)
            if c.data is not None:
                f[f"{d}/data"] = nominal(c.data)
    return [outdir / "rebinned.zip", outdir / "rebinned.root"]


def write_cutflow_tables(
    output: Mapping[str, Any], outdir: Path, cfg: AnalysisConfig, *, unblind: bool,
    masses: Sequence[float], lumi: str, backgrounds: Sequence[str],
) -> list[Path]:  # fmt: skip
    """``cutflow.md`` (and the same text as ``cutflow.txt``): per channel group, the expected
    yield, the unweighted events and the Σ weights after each step."""
    if not output.get("cutflow"):
        return []
    scales = dataset_scales(output, cfg)
    pp = cfg.postprocessing
    blind = () if unblind or pp.signal_region not in cfg.blinded_regions else ("bjet_veto",)
    labels = {"all": "All channels"} | {c.name: c.label for c in cfg.channels}
    tables = [
        cutflow_yields(output, scales, group, q, blind_steps=blind)
        for group in labels
        for q in ("yield", "events", "sumw")
    ]
    header = (
        f"# Cutflow ({lumi})\n\nEach row counts the events passing that step and every step "
        "before it; the first row (`total`) counts all processed events. Simulation is "
        "normalised to the analysed luminosity. Signal columns: the plotted mass hypotheses; "
        "(eff.) is the efficiency relative to the first row. A process's negative value "
        "(negative generator weights) counts as 0 in the total background, as in the templates."
        + (" Data after the signal-region step are blinded." if blind else "")
        + "\n"
    )
    text = cutflow_markdown(tables, labels=labels, signal_masses=masses, backgrounds=backgrounds,
                            header=header)  # fmt: skip
    (outdir / "cutflow.md").write_text(text)
    (outdir / "cutflow.txt").write_text(text)
    return [outdir / "cutflow.md", outdir / "cutflow.txt"]


def postprocess_output(
    output: Mapping[str, Any],
    outdir: str | Path,
    cfg: AnalysisConfig,
    *,
    scheme: str | None = None,
    max_rel_unc: float | None = None,
    unblind: bool = False,
    plots: str = "default",
    progress: bool = False,
) -> PostprocessSummary:
    """Bin adaptively, compute significances and limits, write tables and draw plots.

    ``scheme`` (``increasing``/``constant``) and ``max_rel_unc`` default to the config's
    ``postprocessing`` section; ``plots`` is ``none``, ``default`` (a small set) or ``all``.
    Signal-region data are hidden from plots unless ``unblind``.
    """
    if plots not in PLOT_MODES:
        raise ValueError(f"plots must be one of {', '.join(PLOT_MODES)}, got {plots!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with Steps("normalise", 1, enabled=progress) as step:
        eras = output_eras(output, cfg)
        norms = {e: normalise_output(output, cfg, eras=[e]) for e in eras}
        step.advance(", ".join(eras))
    cats = binned_categories(norms, output, cfg, list(DISCRIMINANTS), scheme=scheme,
                             max_rel_unc=max_rel_unc)  # fmt: skip
    rows = significance_rows(cats, cfg.channel_names, eras)
    expected = expected_rows(cats, output, cfg, eras, progress=progress)
    summary = PostprocessSummary(outdir=outdir, rows=rows, expected=expected, eras=eras)
    summary.warnings = sorted({w for c in cats for w in c.warnings})
    (outdir / "warnings.txt").write_text("".join(f"{w}\n" for w in summary.warnings))
    summary.files.append(outdir / "warnings.txt")
    lumi = lumi_label(cfg, eras, plain=True)
    summary.files += _write_tables(rows, expected, outdir, cfg, lumi)
    if cats:
        summary.files += _write_rebinned(cats, outdir)
    from .report_plots import PlotContext, draw_plots, plot_masses_of, run_style

    masses = plot_masses_of(output, cfg)
    style = run_style(output, cfg, masses if plots != "all" else None)
    summary.files += write_cutflow_tables(
        output, outdir, cfg, unblind=unblind, masses=masses, lumi=lumi,
        backgrounds=style.stack_order(style.colors),
    )  # fmt: skip
    if plots != "none":
        ctx = PlotContext(output=output, cfg=cfg, eras=eras, style=style, unblind=unblind,
                          mode=plots, masses=masses, progress=progress)  # fmt: skip
        summary.plots = draw_plots(ctx, norms, cats, rows, expected, outdir / "plots")
    return summary
