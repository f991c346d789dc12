"""From a read skim to the arrays of every training stage, and model evaluation helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..config import AnalysisConfig
from ..features import FEATURE_NAMES, FEATURES, kinematic_features
from ..models import Scaler
from .datasets import (
    TRAIN,
    assign_mass_hypotheses,
    cap_weights,
    class_weights,
    flat_weights,
    split_index,
)
from .loops import predict
from .skim import SkimTable
from .stages import ClassifierArrays
from .synthetic import ETOT, RAW_INPUTS, SyntheticKinematics

__all__ = [
    "REGRESSOR_INPUTS",
    "BACKBONE_TARGETS",
    "Prepared",
    "prepare",
    "RegressionArrays",
    "prepare_regression",
    "make_synthetic",
    "hypothesis_scores",
]

_UNITS = {f.name: f.unit for f in FEATURES}

#: Inputs of the mass regressor, in the spirit of the di-τ mass DNN: visible leptons, MET,
#: transverse masses, leading jet and hadronic activity. (MET covariance and pile-up are not
#: part of the feature record.)
REGRESSOR_INPUTS: tuple[str, ...] = (
    *(f"l{i}_{v}" for i in (1, 2, 3) for v in ("pt", "eta", "phi", "mass")),
    "met_pt",
    "met_phi",
    "mt_1",
    "mt_2",
    "mt_3",
    "mt_12",
    "mt_13",
    "mt_23",
    "mt_total",
    "m_3l",
    "m_12",
    "m_13",
    "m_23",
    "j1_pt",
    "j1_eta",
    "j1_phi",
    "ht",
    "n_jets",
)

#: Backbone regression targets: every kinematic feature except the raw inputs, E_tot last.
BACKBONE_TARGETS: tuple[str, ...] = tuple(
    n
    for n in FEATURE_NAMES
    if any(f.name == n and f.source == "kinematic" for f in FEATURES)
    and n not in RAW_INPUTS
    and n != ETOT
) + (ETOT,)


@dataclass
class Prepared:
    """Everything the stages need, plus the bookkeeping for the report and sidecars."""

    arrays: ClassifierArrays
    feature_scaler: Scaler
    is_signal: np.ndarray
    m_true: np.ndarray
    physics_weight: np.ndarray
    capped_weight: np.ndarray  # physics weight, background capped (see cap_weights)
    weight_cap: float
    mt_total: np.ndarray
    raw_real: np.ndarray  # (n, 14) unstandardised
    regressor_x: np.ndarray  # standardised REGRESSOR_INPUTS
    regressor_scaler: Scaler
    regressor_weight: np.ndarray  # flat in true mass (signal), 0 for background
    datasets: np.ndarray


def prepare(
    skim: SkimTable,
    physics_weight: np.ndarray,
    cfg: AnalysisConfig,
    seed: int,
    weight_cap: float = 0.0,
) -> Prepared:
    """Splits, mass hypotheses, class weights and standardised inputs for a skim.

    ``weight_cap`` > 0 caps background weights at that multiple of their median in the
    training loss (:func:`~hnl_coffea.training.datasets.cap_weights`).
    """
    if len(skim) == 0:
        raise ValueError("the skim has no events")
    rng = np.random.default_rng(seed)
    is_sig = skim["is_signal"].astype(bool)
    if not is_sig.any() or is_sig.all():
        raise ValueError("the skim needs both signal and background events to train")
    m_true = skim["m_true"].astype(np.float64)
    split = split_index(skim["event"].astype(np.uint64))
    mhyp = assign_mass_hypotheses(is_sig, m_true, cfg.mass_hypotheses, rng)
    capped, cap = cap_weights(physics_weight, ~is_sig, weight_cap)
    # |w| in the loss: with negative generator weights (NLO samples) a weighted BCE is
    # unbounded below and the network learns to push those events to the wrong side
    weight = class_weights(is_sig, np.abs(capped), mhyp)
    x_all = skim.matrix(FEATURE_NAMES)
    train = split == TRAIN
    scaler = Scaler.fit(x_all[train])
    raw = skim.matrix(RAW_INPUTS)
    reg = skim.matrix(REGRESSOR_INPUTS)
    reg_scaler = Scaler.fit(reg[is_sig & train])
    reg_w = np.zeros(len(skim), np.float32)
    reg_w[is_sig] = flat_weights(m_true[is_sig], physics_weight[is_sig])
    arrays = ClassifierArrays(
        x=scaler.transform(x_all),
        raw=raw.astype(np.float32),  # standardised later with the backbone's scaler
        channel=skim["channel"].astype(np.int64),
        charges=skim.matrix(["l1_charge", "l2_charge", "l3_charge"]),
        mhyp=mhyp.astype(np.float32),
        label=is_sig.astype(np.float32),
        weight=weight.astype(np.float32),
        split=split,
    )
    return Prepared(
        arrays=arrays,
        feature_scaler=scaler,
        is_signal=is_sig,
        m_true=m_true,
        physics_weight=physics_weight,
        capped_weight=capped,
        weight_cap=cap,
        mt_total=skim["mt_total"].astype(np.float64),
        raw_real=raw,
        regressor_x=reg_scaler.transform(reg),
        regressor_scaler=reg_scaler,
        regressor_weight=reg_w,
        datasets=skim["dataset"],
    )


@dataclass
class RegressionArrays:
    """Signal events of a skim, ready for the mass regressor."""

    x: np.ndarray  # (n, len(REGRESSOR_INPUTS)) float32, standardised on the training split
    scaler: Scaler
    m_true: np.ndarray  # (n,) float32 true HNL mass [GeV]
    weight: np.ndarray  # (n,) float32, flat in true mass (× physics weight), mean 1
    split: np.ndarray  # (n,) TRAIN / VALIDATION / TEST from the event number


def prepare_regression(skim: SkimTable, physics_weight: np.ndarray) -> RegressionArrays:
    """The signal events of ``skim`` as mass-regression arrays (background is dropped)."""
    sig = skim["is_signal"].astype(bool)
    if not sig.any():
        raise ValueError("the skim has no signal events to train the mass regressor on")
    m_true = skim["m_true"].astype(np.float64)[sig]
    split = split_index(skim["event"].astype(np.uint64))[sig]
    if not np.any(split == TRAIN):
        raise ValueError("no signal event falls in the training split")
    reg = skim.matrix(REGRESSOR_INPUTS)[sig]
    scaler = Scaler.fit(reg[split == TRAIN])
    return RegressionArrays(
        x=scaler.transform(reg).astype(np.float32),
        scaler=scaler,
        m_true=m_true.astype(np.float32),
        weight=flat_weights(m_true, np.asarray(physics_weight)[sig]).astype(np.float32),
        split=split,
    )


def make_synthetic(raw_real_train: np.ndarray) -> SyntheticKinematics:
    """The synthetic generator matched to the real (training-split) raw kinematics."""
    return SyntheticKinematics.from_skim(
        raw_real_train,
        target_fn=kinematic_features,
        targets=BACKBONE_TARGETS,
        gev=lambda n: _UNITS.get(n) == "GeV",
    )


def hypothesis_scores(
    model: torch.nn.Module,
    x: np.ndarray,
    channel: np.ndarray,
    charges: np.ndarray,
    masses: Sequence[float],
    device: torch.device,
) -> np.ndarray:
    """Sigmoid scores of every event at every mass hypothesis, shape (n, H)."""
    m = torch.as_tensor(np.asarray(masses, dtype=np.float32)).to(device)
    model.eval()
    return predict(
        lambda xx, ch, q: torch.sigmoid(model.hypothesis_logits(xx, ch, q, m)),
        [x.astype(np.float32), channel.astype(np.int64), charges.astype(np.float32)],
        device,
        batch_size=8192,
    ).reshape(len(x), len(masses))
