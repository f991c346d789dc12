"""Strict inputs: a wrong metadata value, key or config threshold stops with one line instead
of silently changing what is selected or normalised; duplicate files are read once."""

from __future__ import annotations

import json
import os
import warnings

import pytest
from click.testing import CliRunner
from integration.toyproc import ToyProcessor, write_fileset
from test_postprocessing_fake_output import make_output

from hnl_coffea.cli import main
from hnl_coffea.config import ConfigError, load_config
from hnl_coffea.fileset import FilesetError, FilesetWarning, dataset_metadata, load_fileset
from hnl_coffea.outputs import save_output
from hnl_coffea.runner import RunOptions, run_fileset

WZ = {"process": "WZ", "xsec": 4.43}


def _fileset(tmp_path, metadata: dict | None = None, spec_extra: dict | None = None):
    path = tmp_path / "fs.json"
    spec = {"files": {"/data/WZ.root": "Events"}, **(spec_extra or {})}
    if metadata is not None:
        spec["metadata"] = metadata
    path.write_text(json.dumps({"WZ": spec}))
    return path


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {**WZ, "is_data": "false"},
            "'is_data' must be true or false (a JSON boolean), got 'false'",
        ),
        ({**WZ, "is_signal": 1}, "'is_signal' must be true or false"),
        ({**WZ, "xsec": -4.43}, "'xsec' must be finite and > 0, got -4.43"),
        ({**WZ, "xsec": float("nan")}, "'xsec' must be finite and > 0, got nan"),
        ({**WZ, "xsec": 0}, "'xsec' must be finite and > 0"),
        ({**WZ, "xsec": "4.43"}, "'xsec' must be a number, got '4.43'"),
        ({**WZ, "is_sginal": True}, "unknown metadata key 'is_sginal' (did you mean 'is_signal'?)"),
        ({**WZ, "n_events": 5}, 'put your own keys under "user"'),
        ({"process": "HNL", "xsec": 0.1, "is_signal": True}, "needs m_hnl"),
        ({"process": "data", "is_data": True, "xsec": 1.0}, "take no xsec"),
        ({**WZ, "sumw": float("inf")}, "'sumw' must be finite and > 0"),
        ({**WZ, "user": [1, 2]}, "'user' must be a mapping"),
    ],
)
def test_bad_metadata_is_a_one_line_error(tmp_path, metadata, message):
    with pytest.raises(FilesetError) as err:
        load_fileset(_fileset(tmp_path, metadata))
    assert message in str(err.value) and "'WZ'" in str(err.value)
    assert "\n" not in str(err.value)


def test_dataset_key_typo_is_an_error(tmp_path):
    with pytest.raises(FilesetError, match=r"unknown key 'metdata' \(did you mean 'metadata'\?\)"):
        load_fileset(_fileset(tmp_path, spec_extra={"metdata": WZ}))


def test_processor_side_metadata_is_as_strict():
    """A fileset built in Python (not read by load_fileset) gets the same checks per chunk."""
    with pytest.raises(FilesetError, match="'is_data' must be true or false"):
        dataset_metadata("WZ", {"dataset": "WZ", "filename": "f.root", "is_data": "false"})
    meta = dataset_metadata("WZ", {"dataset": "WZ", "filename": "f.root", "entrystart": 0, **WZ})
    assert meta.is_data is False and meta.xsec == 4.43


def test_user_keys_and_era_against_the_config(tmp_path, cfg):
    md = {**WZ, "era": 2018, "user": {"campaign": "RunIISummer20UL18", "n": [1, 2]}}
    out = load_fileset(_fileset(tmp_path, md), cfg=cfg)
    meta = out["WZ"]["metadata"]
    assert meta["user"] == md["user"] and meta["era"] == "2018" and meta["is_data"] is False
    with pytest.raises(FilesetError) as err:
        load_fileset(_fileset(tmp_path, {**WZ, "era": "2019"}), cfg=cfg)
    assert "era '2019' is not in the configuration; eras: " + ", ".join(cfg.eras) in str(err.value)
    assert load_fileset(_fileset(tmp_path, WZ), cfg=cfg)["WZ"]["metadata"]["era"] == cfg.era


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("objects.tau.pt_min=.nan", "objects.tau.pt_min"),
        ("objects.overlap_dr=.nan", "objects.overlap_dr"),
        ("objects.jet.abs_eta_max=.inf", "objects.jet.abs_eta_max"),
        ("objects.tau.decay_modes=[]", "objects.tau.decay_modes"),
        ("models.device=foo", "models.device"),
        ("mass_hypotheses=[]", "mass_hypotheses must not be empty"),
        ("regions=[]", "regions must not be empty"),
        ("objects.electron.max_lost_hits=-1", "objects.electron.max_lost_hits"),
        (
            "eras.2018.luminosity_uncertainties={lumi_13TeV_2018: 1.5}",
            "eras.2018.luminosity_uncertainties",
        ),
        ("eras.2018.btag_wp.medium=.nan", "eras.2018.btag_wp.medium"),
        ("postprocessing.norm_uncertainties={WZ: -0.1}", "postprocessing.norm_uncertainties.WZ"),
    ],
)
def test_config_values_checked_at_load(override, field):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    assert field in str(err.value)


def test_run_stops_at_once_on_a_bad_config(tmp_path):
    res = CliRunner().invoke(
        main,
        ["run", str(_fileset(tmp_path, WZ)), "-o", str(tmp_path / "o.zip"), "--set",
         "models.device=foo"],
    )  # fmt: skip
    assert res.exit_code == 1
    assert "models.device" in res.output and "'cpu' or 'cuda[:N]'" in res.output
    assert "/data/WZ.root" not in res.output  # no file was touched


def test_same_file_under_two_spellings_is_read_once(tmp_path):
    folder = tmp_path / "gen"
    _, refs = write_fileset(folder, {"WZ": [420]}, seed=3)
    (real,) = refs
    link = tmp_path / "link.root"
    os.symlink(real, link)
    spellings = [real, f"{folder}/../gen/WZ_0.root", str(link), "gen/./WZ_0.root"]
    path = tmp_path / "fs.json"
    path.write_text(json.dumps({"WZ": {"files": dict.fromkeys(spellings, "Events")}}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fileset = load_fileset(path)
    assert list(fileset["WZ"]["files"]) == [os.path.realpath(real)]
    assert sum(issubclass(w.category, FilesetWarning) for w in caught) == 3
    out, summary = run_fileset(ToyProcessor(), fileset, RunOptions(chunksize=100, status=False))
    assert summary.total_events == 420 == refs[real]["entries"]


def test_file_in_two_datasets_is_a_warning_naming_both(tmp_path):
    folder = tmp_path / "gen"
    _, refs = write_fileset(folder, {"WZ": [50]}, seed=3)
    (real,) = refs
    path = tmp_path / "fs.json"
    path.write_text(json.dumps({"WZ": {"files": [real]}, "WZ_copy": {"files": ["gen/WZ_0.root"]}}))
    with pytest.warns(FilesetWarning, match=r"is in datasets 'WZ' and 'WZ_copy'"):
        load_fileset(path)
    res = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "o.zip"),
                                    "--executor", "iterative", "--no-progress",
                                    "--processor", "integration.toyproc:ToyProcessor"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "warning: " in res.output and "'WZ' and 'WZ_copy'" in res.output


def test_xrootd_urls_are_normalised():
    from hnl_coffea.fileset import normalise_path

    assert (
        normalise_path("root://eos.cern.ch//store/a/../b/f.root")
        == normalise_path("root://eos.cern.ch//store/b/./f.root")
        == "root://eos.cern.ch//store/b/f.root"
    )


def test_postprocess_with_nothing_to_do_fails(cfg, tmp_path):
    out = make_output(cfg, n=30)
    for md in out["datasets"].values():
        md["is_signal"] = False  # e.g. a metadata typo left every signal unmarked
    save_output(out, tmp_path / "o.zip")
    res = CliRunner().invoke(
        main,
        ["postprocess", str(tmp_path / "o.zip"), "--outdir", str(tmp_path / "pp"), "--no-plots"],
    )
    assert res.exit_code == 1
    assert "nothing to postprocess" in res.output and "no signal dataset" in res.output
