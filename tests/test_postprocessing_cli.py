"""``hnl-coffea postprocess`` and ``hnl-coffea datacards`` on a saved fake processor output."""

from __future__ import annotations

import csv

from click.testing import CliRunner
from test_postprocessing_fake_output import make_output

from hnl_coffea.cli import main
from hnl_coffea.outputs import save_output as save


def test_postprocess_and_datacards_cli(cfg, tmp_path):
    src = tmp_path / "output.zip"
    save(make_output(cfg, n=200), src)
    runner = CliRunner()
    res = runner.invoke(
        main,
        ["postprocess", str(src), "--outdir", str(tmp_path / "pp"), "--no-plots",
         "--scheme", "constant", "--max-rel-unc", "0.2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Transfer model" in res.output and "combined" in res.output
    assert "limits" in res.output and "6/6" in res.output  # 3 discriminants × 2 masses
    rows = list(csv.DictReader((tmp_path / "pp" / "significance.csv").open()))
    channels = {r["channel"] for r in rows}
    assert channels == {*cfg.channel_names, "average", "combined"}
    assert {r["discriminant"] for r in rows} == {"mt_total", "score_parametric", "score_transfer"}
    assert {float(r["mass"]) for r in rows} == {300.0, 500.0}
    for r in rows:  # the combination is the quadrature sum of the five channels
        if r["channel"] == "combined":
            per = [
                float(x["asimov"]) for x in rows
                if x["discriminant"] == r["discriminant"] and x["mass"] == r["mass"]
                and x["channel"] in cfg.channel_names
            ]  # fmt: skip
            assert abs(float(r["asimov"]) - sum(z * z for z in per) ** 0.5) < 1e-9
    res = runner.invoke(
        main, ["datacards", str(src), "--outdir", str(tmp_path / "dc"), "--unblind"]
    )
    assert res.exit_code == 0, res.output
    assert "observed data" in res.output
    assert "datacards" in res.output and "2/2" in res.output and "m = 500 GeV" in res.output
    assert (tmp_path / "dc" / "m500" / "combined.txt").is_file()


def test_unreadable_output_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.coffea"
    bad.write_text("not a pickle")
    res = CliRunner().invoke(main, ["postprocess", str(bad), "--outdir", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "cannot read processor output" in res.output
    save({"hists": {}}, bad, overwrite=True)
    res = CliRunner().invoke(main, ["datacards", str(bad), "--outdir", str(tmp_path / "o")])
    assert res.exit_code == 1 and "'datasets'" in res.output


def test_report_cli_from_a_results_folder(postprocessed, tmp_path):
    import shutil

    out, pcfg, pdir, _ = postprocessed
    folder = tmp_path / "results"
    folder.mkdir()
    save(out, folder / "hnl_output.zip")
    shutil.copytree(pdir, folder / "postprocess")
    # the folder's own configuration (as the demo writes it) is the report's
    run_cfg = pcfg.with_overrides({"eras.2018.luminosity_fb": 12.5})
    (folder / "config.yaml").write_text(run_cfg.to_yaml())
    res = CliRunner().invoke(
        main, ["report", str(folder), "--outdir", str(tmp_path / "r"), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    assert "━" not in res.output  # --no-progress: no bar
    page = (tmp_path / "r" / "index.html").read_text()
    n_png = len(list(pdir.rglob("*.png")))
    assert page.count('<img src="data:image/png;base64,') == n_png
    assert "Configuration SHA-256" in page and "2018 12.5 fb⁻¹ (13 TeV)" in page
    from hnl_coffea.postprocessing.provenance import config_hash

    assert config_hash(run_cfg) in page
    res = CliRunner().invoke(main, ["report", str(tmp_path), "--outdir", str(tmp_path / "x")])
    assert res.exit_code == 1 and "holds no processor output" in res.output
