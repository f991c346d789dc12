"""The typed configuration: defaults, YAML round trip, overrides, one-line errors."""

from __future__ import annotations

import pytest
import yaml

from hnl_coffea.config import ConfigError, config_from_yaml, load_config


def test_defaults_match_the_analysis(cfg):
    o = cfg.objects
    assert (o.muon.pt_min, o.electron.pt_min, o.tau.pt_min) == (10.0, 10.0, 20.0)
    assert o.muon.rel_iso_max == o.electron.rel_iso_max == 0.15
    assert o.overlap_dr == 0.5 and o.tau.vs_jet == "Medium"
    assert cfg.channel_names == ("tautaumu", "tautaue", "taumumu", "taumue", "tauee")
    assert len(cfg.mass_hypotheses) == 16
    assert cfg.mass_hypotheses[0] == 85 and cfg.mass_hypotheses[-1] == 1000
    assert cfg.channel("taumue").flavours == ("tau", "mu", "e")
    assert cfg.era_config.btag_wp["medium"] == pytest.approx(0.2783)


def test_yaml_round_trip(cfg, tmp_path):
    text = cfg.to_yaml()
    again = config_from_yaml(text)
    assert again == cfg
    p = tmp_path / "full.yaml"
    p.write_text(text)
    assert load_config(p) == cfg


def test_user_yaml_and_overrides(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump({"objects": {"tau": {"vs_jet": "Tight"}}, "era": "2017"}))
    c = load_config(p, overrides=["objects.muon.pt_min=12.5"])
    assert c.objects.tau.vs_jet == "Tight"
    assert c.objects.tau.pt_min == 20.0  # untouched siblings keep defaults
    assert c.objects.muon.pt_min == 12.5
    assert c.era_config.triggers["single_mu"] == ("IsoMu27",)
    assert c.with_overrides({"objects.overlap_dr": 0.4}).objects.overlap_dr == 0.4


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("objects.tau.pt_mn=20", "objects.tau.pt_mn': unknown key (did you mean 'pt_min'?)"),
        ("objects.tau.pt_min=fast", "objects.tau.pt_min': Input should be a valid number"),
        ("objects.muon.pt_min=-5", "objects.muon.pt_min': Value error, must be >= 0"),
        ("objects.tau.vs_jet=Superb", "objects.tau.vs_jet': must be one of 'VVVLoose'"),
        ("era=2030", "era '2030' unknown; allowed: 2016preVFP"),
        ("objects.nothing.x=1", "unknown key 'nothing'"),
    ],
)
def test_bad_input_gives_one_line_naming_the_field(override, expected):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    msg = str(err.value)
    assert "\n" not in msg
    assert expected in msg


def test_unknown_channel_and_trigger_group(cfg):
    with pytest.raises(ConfigError, match="unknown channel 'mumumu'; allowed: tautaumu"):
        cfg.channel("mumumu")
    chans = [c.model_dump() for c in cfg.channels]
    chans[0]["triggers"] = ["single_photon"]
    with pytest.raises(ConfigError, match="trigger group.*single_photon.*allowed: single_mu"):
        cfg.with_overrides({"channels": chans})


def test_bad_yaml_file(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("objects: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: invalid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_dataset_metadata_accumulates_idempotently():
    from coffea.processor import accumulate

    from hnl_coffea.fileset import dataset_metadata

    wz = dataset_metadata("WZ", {"xsec": 4.43, "process": "WZ"}).to_dict()
    chunks = [
        {"datasets": {"WZ": dataset_metadata("WZ", {"xsec": 4.43}).to_dict()}} for _ in range(3)
    ]
    merged = accumulate(chunks)["datasets"]["WZ"]
    assert merged == wz and merged["xsec"] == 4.43 and merged["m_hnl"] is None
    other = dataset_metadata("WZ", {"xsec": 9.0}).to_dict()
    with pytest.raises(ValueError, match="dataset 'WZ': chunks disagree on metadata xsec"):
        accumulate([{"d": wz}, {"d": other}])
