"""The demo chain behind ``hnl-coffea demo``: a cached toy fileset → HNLProcessor on a local
Dask cluster → postprocessing → combine datacards (→ pseudo-experiments) → HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from . import __version__
from .config import AnalysisConfig
from .paths import cache_dir

__all__ = ["demo_fileset", "run_demo"]


def demo_fileset(
    n_events: int,
    seed: int,
    *,
    with_data: bool,
    console: Console | None = None,
    progress: bool = False,
) -> Path:
    """The demo's toy fileset, generated once into the user cache folder and reused."""
    from .config import load_config
    from .progress import Steps
    from .toymc import generate_fileset
    from .toymc.samples import all_samples

    tag = f"demo-v{__version__}-{_generator_fingerprint()}-n{n_events}-s{seed}"
    tag += "-data" if with_data else ""
    folder = cache_dir() / tag
    fileset = folder / "fileset.json"
    if fileset.is_file():
        if console:
            console.print(f"[1/6] toy NanoAOD: reusing {folder}")
        return fileset
    if console:
        console.print(f"[1/6] toy NanoAOD: generating {n_events} events into {folder}")
    tmp = folder.with_name(folder.name + ".partial")
    n_samples = len(all_samples(load_config().mass_hypotheses)) + int(with_data)
    with Steps("generating", n_samples, enabled=progress) as bar:
        path = generate_fileset(
            tmp, n_events, seed=seed, with_data=with_data,
            on_sample=lambda name, n: bar.advance(f"{name} ({n} events)" if n else name),
        )  # fmt: skip
    tmp.rename(folder)
    # the fileset lists absolute paths of the partial folder: rewrite them
    text = (folder / path.name).read_text().replace(str(tmp), str(folder))
    fileset.write_text(text)
    return fileset


def _generator_fingerprint() -> str:
    """A short hash of the toy generator's source: a changed generator means a new sample."""
    import hashlib

    from . import toymc

    digest = hashlib.sha1()
    for path in sorted(Path(toymc.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def run_demo(
    cfg: AnalysisConfig,
    outdir: Path,
    *,
    n_events: int,
    seed: int,
    executor: str = "dask",
    workers: int | None = None,
    n_toys: int = 0,
    unblind: bool = False,
    with_data: bool = True,
    progress: bool = True,
) -> dict[str, Path]:
    """Run the whole chain; returns a mapping of output labels to paths."""
    from processors import HNLProcessor

    from .data import write_lumi_json
    from .executors import ExecutorOptions
    from .fileset import load_fileset
    from .outputs import save_output
    from .postprocessing.combine import write_datacards
    from .postprocessing.htmlreport import build_report
    from .postprocessing.report import postprocess_output
    from .runner import RunOptions, run_fileset

    console = Console()
    outdir.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}

    fileset = load_fileset(
        demo_fileset(n_events, seed, with_data=with_data, console=console, progress=progress),
        cfg=cfg,
    )
    data_lumi = {
        spec["metadata"]["user"].get("luminosity_fb")
        for spec in fileset.values()
        if spec["metadata"].get("is_data")
    }
    if data_lumi and None not in data_lumi:
        # toy pseudo-data are generated at a small luminosity: normalise simulation to it
        lumi = float(max(data_lumi))
        cfg = cfg.with_overrides({f"eras.{cfg.era}.luminosity_fb": lumi})
        console.print(f"      pseudo-data luminosity {lumi:g} fb^-1: simulation normalised to it")
    console.print(f"[2/6] processing {len(fileset)} datasets with HNLProcessor ({executor})")
    output, summary = run_fileset(
        HNLProcessor(cfg),
        fileset,
        RunOptions(chunksize=50_000, status=progress),
        ExecutorOptions(executor=executor, workers=workers),
    )
    console.print(summary.format() if hasattr(summary, "format") else str(summary))
    result = save_output(output, outdir / "hnl_output.zip", backup=True)
    outputs["histograms"] = result
    (outdir / "config.yaml").write_text(cfg.to_yaml())  # the configuration of every result
    outputs["configuration"] = outdir / "config.yaml"
    lumis = set().union(*output.get("lumi", {}).values()) if output.get("lumi") else set()
    if lumis:
        outputs["processed lumis"] = write_lumi_json(lumis, outdir / "processed_lumis.json")

    console.print("[3/6] postprocessing: adaptive binning, significance, limits, plots")
    post = postprocess_output(
        output, outdir / "postprocess", cfg, unblind=unblind, progress=progress
    )
    outputs["postprocessing"] = outdir / "postprocess"
    outputs["cutflow"] = outdir / "postprocess" / "cutflow.md"
    outputs["significance table"] = outdir / "postprocess" / "significance.md"
    outputs["expected limits"] = outdir / "postprocess" / "expected.md"
    console.print(expected_summary(post.expected, cfg), soft_wrap=True)

    console.print("[4/6] combine datacards")
    cards = write_datacards(output, outdir / "datacards", cfg, unblind=unblind, progress=progress)
    outputs["datacards"] = outdir / "datacards"
    console.print(f"      {len(cards)} files")

    toys = None
    if n_toys:
        from .postprocessing.pseudoexperiments_io import run_pseudoexperiments

        console.print(f"[5/6] {n_toys} pseudo-experiments (look-elsewhere effect)")
        report = run_pseudoexperiments(
            output, outdir / "toys", cfg, n_toys=n_toys, seed=seed, progress=progress
        )
        outputs["pseudo-experiments"] = outdir / "toys"
        toys = outdir / "toys" / "toys.json"
        console.print(json.dumps(_short(report), indent=1))
    else:
        console.print("[5/6] pseudo-experiments skipped (use --toys N)")

    console.print("[6/6] report")
    outputs["report"] = build_report(
        output, outdir / "report", cfg, postprocess_dir=outdir / "postprocess", toys=toys,
        progress=progress,
    )  # fmt: skip
    return outputs


def expected_summary(rows: list[dict[str, Any]], cfg: AnalysisConfig) -> str:
    """A few lines: the analysed and projected luminosities, with the combined Asimov Z and
    the median expected limit of the datacard discriminant at three masses."""
    if not rows:
        return "      no expected results (no filled discriminant)"
    from .postprocessing.ranking import preferred_discriminant

    discs = list(dict.fromkeys(r["discriminant"] for r in rows))
    disc = preferred_discriminant(discs, cfg.postprocessing.datacard_discriminant, cfg.models)
    masses = sorted({r["mass"] for r in rows if r["discriminant"] == disc})
    shown = sorted({masses[0], masses[len(masses) // 2], masses[-1]})
    lines = [f"      expected results, {disc} (all channels combined):"]
    for scen in dict.fromkeys(r["scenario"] for r in rows):
        sel = {r["mass"]: r for r in rows if r["scenario"] == scen and r["discriminant"] == disc}
        first = next(iter(sel.values()))
        what = "analysed" if scen == "analysed" else "projection"
        cells = ", ".join(
            f"m={m:g}: Z={sel[m]['asimov']:.2f}, mu<{sel[m]['mu_median']:.3g}" for m in shown
        )
        lines.append(f"      {scen} ({what}, {first['luminosity_fb']:.3g} fb^-1): {cells}")
    return "\n".join(lines)


def _short(report: Any) -> Any:
    if isinstance(report, dict):
        return {k: v for k, v in report.items() if not isinstance(v, list | dict)}
    return report
