"""Network architectures of the HNL search as torch modules.

Every classifier shares one calling convention so that the inference runner, the training loops
and the ONNX export treat them alike::

    logits = model.logits(x, channel, charges, mass)     # (n,)  raw score before the sigmoid
    score = model(x, channel, charges, mass)             # (n,)  sigmoid(logits), in [0, 1]
    table = model.hypothesis_logits(x, channel, charges, masses)   # (n, H) for H hypotheses

with ``x`` the (standardised) input features, ``channel`` the channel index (``int64``, 0..4 in
config order, one-hot encoded inside the network), ``charges`` the three lepton charges
(l1, l2, l3) and ``mass`` the HNL mass hypothesis in GeV (divided by ``mass_scale`` inside).
``hypothesis_logits`` computes the part of the network that does not depend on the mass
hypothesis once per event and only the rest once per (event, hypothesis) pair.

Every module can rebuild itself from ``model.config()`` (JSON-compatible constructor
arguments) through :func:`build_model`, which is what the artifact sidecar stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ARCHITECTURES",
    "MassRegressor",
    "ParametricClassifier",
    "RegressionBackbone",
    "TransferClassifier",
    "build_model",
    "set_dropout",
]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


def _activation(name: str) -> nn.Module:
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(_ACTIVATIONS)}"
        ) from None


def set_dropout(module: nn.Module, p: float) -> None:
    """Set the drop probability of every ``nn.Dropout`` inside ``module`` to ``p``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = p


def _mlp(n_in: int, hidden: Sequence[int], activation: str, dropout: float) -> nn.Sequential:
    """Linear → activation → dropout blocks (no output layer)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), _activation(activation), nn.Dropout(dropout)]
        n_in = width
    return nn.Sequential(*layers)


class _HypothesisHead(nn.Module):
    """Classifier head on ``event part ⊕ channel one-hot ⊕ m/mass_scale ⊕ charges``.

    The first linear layer is split so that the event-only part of its pre-activation is
    computed once per event and the mass column is added per hypothesis.
    """

    def __init__(
        self,
        n_event: int,
        n_channels: int,
        hidden: Sequence[int],
        activation: str,
        dropout: float,
        mass_scale: float,
        n_charges: int = 3,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("a classifier needs at least one hidden layer")
        self.n_channels = n_channels
        self.mass_scale = float(mass_scale)
        n_in = n_event + n_channels + 1 + n_charges
        self.first = nn.Linear(n_in, hidden[0])
        self.first_rest = nn.Sequential(_activation(activation), nn.Dropout(dropout))
        self.body = _mlp(hidden[0], hidden[1:], activation, dropout)
        self.out = nn.Linear(hidden[-1], 1)
        self._mass_col = n_event + n_channels

    def _tail(self, pre: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(self.first_rest(pre))).squeeze(-1)

    def _event_pre(self, event: torch.Tensor, channel: torch.Tensor, charges: torch.Tensor):
        onehot = F.one_hot(channel.long(), self.n_channels).to(event.dtype)
        w = self.first.weight
        w_event = torch.cat([w[:, : self._mass_col], w[:, self._mass_col + 1 :]], dim=1)
        inputs = torch.cat([event, onehot, charges.to(event.dtype)], dim=1)
        return F.linear(inputs, w_event, self.first.bias), w[:, self._mass_col]

    def logits(self, event, channel, charges, mass) -> torch.Tensor:
        onehot = F.one_hot(channel.long(), self.n_channels).to(event.dtype)
        m = (mass.to(event.dtype) / self.mass_scale).unsqueeze(-1)
        inputs = torch.cat([event, onehot, m, charges.to(event.dtype)], dim=1)
        return self._tail(self.first(inputs))

    def hypothesis_logits(self, event, channel, charges, masses) -> torch.Tensor:
        pre, w_mass = self._event_pre(event, channel, charges)  # (n, h0), (h0,)
        m = masses.to(pre.dtype) / self.mass_scale  # (H,)
        pre = pre.unsqueeze(1) + m[None, :, None] * w_mass[None, None, :]  # (n, H, h0)
        n, n_hyp = pre.shape[:2]
        return self._tail(pre.reshape(n * n_hyp, -1)).reshape(n, n_hyp)


class _Classifier(nn.Module):
    """Common calling convention: ``forward`` = sigmoid of ``logits``."""

    head: _HypothesisHead

    def event_representation(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def logits(self, x, channel, charges, mass) -> torch.Tensor:
        """Raw classifier output (before the sigmoid), shape (n,)."""
        return self.head.logits(self.event_representation(x), channel, charges, mass)

    def hypothesis_logits(self, x, channel, charges, masses) -> torch.Tensor:
        """Logits for every event and every mass hypothesis in ``masses`` (H,), shape (n, H)."""
        return self.head.hypothesis_logits(self.event_representation(x), channel, charges, masses)

    def forward(self, x, channel, charges, mass) -> torch.Tensor:
        return torch.sigmoid(self.logits(x, channel, charges, mass))


class ParametricClassifier(_Classifier):
    """The parametric DNN: one network for every channel and mass hypothesis.

    Input: standardised features ⊕ channel one-hot ⊕ m_hyp / ``mass_scale`` ⊕ 3 lepton
    charges; hidden layers ``hidden`` (default [83, 30], the best simple DNN of the seed
    study) with ``dropout`` after each; sigmoid output.
    """

    def __init__(
        self,
        n_features: int,
        n_channels: int = 5,
        hidden: Sequence[int] = (83, 30),
        dropout: float = 0.2,
        activation: str = "relu",
        mass_scale: float = 1000.0,
    ) -> None:
        super().__init__()
        self._config = dict(
            n_features=n_features,
            n_channels=n_channels,
            hidden=list(hidden),
            dropout=dropout,
            activation=activation,
            mass_scale=mass_scale,
        )
        self.head = _HypothesisHead(n_features, n_channels, hidden, activation, dropout, mass_scale)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-compatible)."""
        return dict(self._config)


class RegressionBackbone(nn.Module):
    """Wide MLP regressing the calculated kinematic features from the raw ones.

    Inputs are the ``n_raw`` raw columns (l1..l3 pT, η, φ, mass; MET pT, φ). ``depth`` hidden
    layers of ``width`` units; every ``dropin_every``-th hidden layer (layers 3, 6, 9, ... when
    counting the first as 0) receives the raw inputs again, concatenated to the hidden state
    ("drop-in" connections). ``dropout`` after every hidden activation (0.5 is the seed's
    choice when fine-tuning inside the transfer classifier).

    Target convention (applied by the training code, not by this module): GeV-valued targets
    are divided by E_tot and E_tot itself is the last target, so all but one output are
    dimensionless and O(1).
    """

    def __init__(
        self,
        n_raw: int = 14,
        n_outputs: int = 112,
        width: int = 1024,
        depth: int = 25,
        dropin_every: int = 3,
        dropout: float = 0.0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if depth < 1 or dropin_every < 1:
            raise ValueError("depth and dropin_every must be at least 1")
        self._config = dict(
            n_raw=n_raw,
            n_outputs=n_outputs,
            width=width,
            depth=depth,
            dropin_every=dropin_every,
            dropout=dropout,
            activation=activation,
        )
        self.n_raw = n_raw
        self.width = width
        self.dropin = [k > 0 and k % dropin_every == 0 for k in range(depth)]
        self.layers = nn.ModuleList(
            nn.Linear(n_raw if k == 0 else width + (n_raw if self.dropin[k] else 0), width)
            for k in range(depth)
        )
        self.activations = nn.ModuleList(_activation(activation) for _ in range(depth))
        self.dropouts = nn.ModuleList(nn.Dropout(dropout) for _ in range(depth))
        self.out = nn.Linear(width, n_outputs)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-compatible)."""
        return dict(self._config)

    def hidden(self, raw: torch.Tensor) -> torch.Tensor:
        """Last hidden layer (the representation the transfer classifier uses), (n, width)."""
        h = raw
        for k, (lin, act, drop) in enumerate(
            zip(self.layers, self.activations, self.dropouts, strict=True)
        ):
            if self.dropin[k]:
                h = torch.cat([h, raw.to(h.dtype)], dim=1)
            h = drop(act(lin(h)))
        return h

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(raw))


class TransferClassifier(_Classifier):
    """Classifier head on the last hidden layer of a pre-trained :class:`RegressionBackbone`.

    Input of the head: ``backbone.hidden(raw)`` ⊕ channel one-hot ⊕ m_hyp / ``mass_scale`` ⊕
    charges → ``hidden`` (default [128, 128]) → sigmoid. ``freeze()`` stops gradients into the
    backbone (the seed trains frozen first, then unfreezes with ``backbone_dropout`` 0.5).
    """

    def __init__(
        self,
        backbone: RegressionBackbone,
        n_channels: int = 5,
        hidden: Sequence[int] = (128, 128),
        freeze: bool = True,
        dropout: float = 0.0,
        backbone_dropout: float | None = None,
        activation: str = "relu",
        mass_scale: float = 1000.0,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self._config = dict(
            n_channels=n_channels,
            hidden=list(hidden),
            freeze=freeze,
            dropout=dropout,
            activation=activation,
            mass_scale=mass_scale,
        )
        self.head = _HypothesisHead(
            backbone.width, n_channels, hidden, activation, dropout, mass_scale
        )
        if backbone_dropout is not None:
            self.set_backbone_dropout(backbone_dropout)
        if freeze:
            self.freeze()
        else:
            self.unfreeze()

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-compatible; the backbone as a nested dict)."""
        backbone = self.backbone.config()
        backbone["dropout"] = next(
            (m.p for m in self.backbone.modules() if isinstance(m, nn.Dropout)), 0.0
        )
        return {"backbone": backbone, **self._config, "freeze": self.frozen}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TransferClassifier:
        cfg = {k: v for k, v in config.items() if k != "backbone"}
        return cls(RegressionBackbone(**config["backbone"]), **cfg)

    @property
    def frozen(self) -> bool:
        return not any(p.requires_grad for p in self.backbone.parameters())

    def freeze(self) -> None:
        """Stop training the backbone (only the head learns)."""
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def unfreeze(self) -> None:
        """Train the backbone together with the head."""
        for p in self.backbone.parameters():
            p.requires_grad_(True)

    def set_backbone_dropout(self, p: float) -> None:
        """Drop probability inside the backbone (0.5 for fine tuning in the seed)."""
        set_dropout(self.backbone, p)

    def event_representation(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.hidden(x)


class MassRegressor(nn.Module):
    """Mass regression DNN in the style of the di-τ mass network: predicts m_N in GeV.

    ``len(hidden)`` fully connected layers (default 3 × 1000) with softplus activations and
    Glorot-uniform initialisation, a linear output. Inputs are standardised features (visible
    leptons, MET and its covariance, transverse masses, leading jets, pile-up, ...).
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: Sequence[int] = (1000, 1000, 1000),
        activation: str = "softplus",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self._config = dict(
            n_inputs=n_inputs, hidden=list(hidden), activation=activation, dropout=dropout
        )
        self.body = _mlp(n_inputs, hidden, activation, dropout)
        self.out = nn.Linear(hidden[-1] if hidden else n_inputs, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-compatible)."""
        return dict(self._config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x)).squeeze(-1)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "ParametricClassifier": ParametricClassifier,
    "RegressionBackbone": RegressionBackbone,
    "TransferClassifier": TransferClassifier,
    "MassRegressor": MassRegressor,
}


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    """Instantiate architecture ``name`` from its ``config()`` dictionary."""
    try:
        cls = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}"
        ) from None
    if hasattr(cls, "from_config"):
        return cls.from_config(config)
    return cls(**config)
