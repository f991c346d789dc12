"""Model artifacts: round trip, sidecar contents, one-line mismatch errors, ONNX export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hnl_coffea.models import (
    FORMAT_VERSION,
    MassRegressor,
    ModelMismatchError,
    ParametricClassifier,
    RegressionBackbone,
    Scaler,
    TransferClassifier,
    check_compatible,
    load_artifact,
    read_sidecar,
    save_artifact,
    sidecar_path,
)

CHANNELS = ["tautaumu", "tautaue", "taumumu", "taumue", "tauee"]
MASSES = [85.0, 100.0, 200.0, 500.0, 1000.0]
FEATURES = ["l1_pt", "l1_eta", "l2_pt", "m_12", "mt_total", "met_pt"]


def _save(tmp_path, model=None, kind="parametric", names=FEATURES):
    model = model or ParametricClassifier(len(names), hidden=(16, 8))
    rng = np.random.default_rng(0)
    scaler = Scaler.fit(rng.normal(50.0, 20.0, size=(200, len(names))))
    path = tmp_path / f"{kind}.pt"
    save_artifact(
        model,
        path,
        kind=kind,
        feature_names=names,
        scaler=scaler,
        mass_hypotheses=MASSES,
        channels=CHANNELS,
        provenance={"samples": ["HNL_M500", "WZ"], "seed": 7},
        metrics={"auc": 0.91},
    )
    return model, path, scaler


def test_scaler_fit_matches_hand_computation():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    s = Scaler.fit(x)
    assert s.mean == pytest.approx((3.0, 5.0))
    assert s.std == pytest.approx((((4 + 0 + 4) / 3) ** 0.5, 1.0))  # constant column → 1
    np.testing.assert_allclose(s.transform([[3.0, 6.0]]), [[0.0, 1.0]])


@pytest.mark.parametrize("kind", ["parametric", "transfer", "mass_regression"])
def test_round_trip_identical_outputs(tmp_path, kind):
    torch.manual_seed(0)
    if kind == "parametric":
        model, n = ParametricClassifier(6, hidden=(16, 8), dropout=0.2), 6
    elif kind == "transfer":
        bb = RegressionBackbone(n_outputs=7, width=16, depth=5, dropout=0.5)
        model, n = TransferClassifier(bb, hidden=(8, 8)), 14
    else:
        model, n = MassRegressor(6, hidden=(12, 12, 12)), 6
    names = [f"f{i}" for i in range(n)]
    _, path, _ = _save(tmp_path, model, kind, names)
    loaded = load_artifact(path)
    assert type(loaded.model) is type(model) and not loaded.model.training
    model.eval()
    x = torch.randn(10, n)
    ch = torch.arange(10) % 5
    q = torch.ones(10, 3)
    m = torch.full((10,), 250.0)
    with torch.no_grad():
        if kind == "mass_regression":
            a, b = model(x), loaded.model(x)
        else:
            a, b = model(x, ch, q, m), loaded.model(x, ch, q, m)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_sidecar_contents(tmp_path):
    _, path, scaler = _save(tmp_path)
    data = json.loads(sidecar_path(path).read_text())
    assert sidecar_path(path).name == "parametric.pt.json"
    assert data["format_version"] == FORMAT_VERSION
    assert data["kind"] == "parametric"
    assert data["architecture"] == "ParametricClassifier"
    assert data["architecture_kwargs"]["hidden"] == [16, 8]
    assert data["feature_names"] == FEATURES
    assert data["feature_mean"] == list(scaler.mean)
    assert data["mass_hypotheses"] == MASSES and data["channels"] == CHANNELS
    assert data["provenance"]["seed"] == 7 and data["metrics"]["auc"] == 0.91
    assert data["torch_version"] == torch.__version__
    assert len(data["weights_sha256"]) == 64


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_check_compatible_accepts_matching_inputs(tmp_path):
    _, path, _ = _save(tmp_path)
    check_compatible(read_sidecar(path), FEATURES, CHANNELS, MASSES[:3])


def test_missing_feature_named(tmp_path):
    _, path, _ = _save(tmp_path)
    with pytest.raises(ModelMismatchError) as err:
        check_compatible(read_sidecar(path), [f for f in FEATURES if f != "m_12"], CHANNELS)
    assert "'m_12'" in _one_line(err) and "missing" in str(err.value)


def test_reordered_features_named(tmp_path):
    _, path, _ = _save(tmp_path)
    swapped = FEATURES.copy()
    swapped[2], swapped[3] = swapped[3], swapped[2]
    with pytest.raises(ModelMismatchError) as err:
        check_compatible(read_sidecar(path), swapped)
    msg = _one_line(err)
    assert "order" in msg and "column 2" in msg and "'l2_pt'" in msg and "'m_12'" in msg


def test_extra_feature_channel_and_mass_mismatch(tmp_path):
    _, path, _ = _save(tmp_path)
    side = read_sidecar(path)
    with pytest.raises(ModelMismatchError, match="'ht'") as err:
        check_compatible(side, [*FEATURES, "ht"])
    _one_line(err)
    with pytest.raises(ModelMismatchError, match="channel order differs at index 0") as err:
        check_compatible(side, FEATURES, CHANNELS[::-1])
    _one_line(err)
    with pytest.raises(ModelMismatchError, match="mass hypothesis 300 GeV") as err:
        check_compatible(side, FEATURES, CHANNELS, [85.0, 300.0])
    _one_line(err)


def test_wrong_version_named(tmp_path):
    _, path, _ = _save(tmp_path)
    data = json.loads(sidecar_path(path).read_text())
    data["format_version"] = FORMAT_VERSION + 1
    sidecar_path(path).write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError) as err:
        load_artifact(path)
    msg = _one_line(err)
    assert f"format version {FORMAT_VERSION + 1}" in msg and f"version {FORMAT_VERSION}" in msg


def test_corrupt_sidecar_and_swapped_weights(tmp_path):
    _, path, _ = _save(tmp_path)
    other = ParametricClassifier(len(FEATURES), hidden=(16, 8))
    torch.save(other.state_dict(), path)  # weights no longer those the sidecar describes
    with pytest.raises(ModelMismatchError, match="do not match their sidecar") as err:
        load_artifact(path)
    _one_line(err)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ModelMismatchError, match="not valid JSON") as err:
        load_artifact(path)
    _one_line(err)
    with pytest.raises(ModelMismatchError, match="does not exist"):
        read_sidecar(tmp_path / "nothing.pt")


def test_sidecar_field_errors_name_the_field(tmp_path):
    _, path, _ = _save(tmp_path)
    data = json.loads(sidecar_path(path).read_text())
    data["feature_std"] = data["feature_std"][:-1]
    sidecar_path(path).write_text(json.dumps(data))
    with pytest.raises(ModelMismatchError, match="6 feature names but 6 means and 5") as err:
        read_sidecar(path)
    _one_line(err)


def test_onnx_export_matches_torch(tmp_path):
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the optional onnx package")
    from onnx.reference import ReferenceEvaluator

    from hnl_coffea.models.onnx_export import export_onnx

    torch.manual_seed(5)
    model, path, scaler = _save(tmp_path)
    out = export_onnx(path, tmp_path / "model.onnx")
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert sidecar_path(out).exists()
    rng = np.random.default_rng(1)
    x = rng.normal(50.0, 20.0, size=(7, len(FEATURES))).astype(np.float32)
    ch = np.arange(7) % 5
    q = np.where(rng.random((7, 3)) > 0.5, 1.0, -1.0).astype(np.float32)
    mass = np.full(7, 200.0, np.float32)
    (got,) = ReferenceEvaluator(proto).run(
        None, {"features": x, "channel": ch, "charges": q, "mass": mass}
    )
    with torch.no_grad():
        ref = model.eval()(
            torch.from_numpy(scaler.transform(x)),
            torch.from_numpy(ch),
            torch.from_numpy(q),
            torch.from_numpy(mass),
        ).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
