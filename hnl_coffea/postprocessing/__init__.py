"""Postprocessing of hnl-coffea's histograms (never event data).

* :mod:`.normalise` — scale each dataset to σ × L(era) / Σw and group into processes;
* :mod:`.binning` — the constant-signal and increasing-signal adaptive binnings, ``rebin``;
* :mod:`.categories` — one (era, discriminant, channel, mass hypothesis) rebinned consistently,
  and the one rule for zero and negative yields (``usable_templates``);
* :mod:`.significance` — S/√B and Asimov significances, combined across bins and channels;
* :mod:`.limits` — asymptotic CLs expected limits on the Asimov data set;
* :mod:`.projections` — significance and limits at the analysed and projected luminosities;
* :mod:`.ranking` — the best discriminant of the training's model comparison (datacards);
* :mod:`.nuisances` — nuisance names and correlations across eras (cards and limits);
* :mod:`.combine` — shapes files and datacards for CMS combine, per era and combined;
* :mod:`.cutflows` — labelled cutflow tables;
* :mod:`.style`, :mod:`.plots`, :mod:`.plots_stack`, :mod:`.plots_cutflow`,
  :mod:`.report_plots` — one configured plot style, the CMS-style figures and the plot set;
* :mod:`.report` — :func:`postprocess_output`, the chain behind ``hnl-coffea postprocess``;
* :mod:`.htmlreport` — the one-page HTML report behind ``hnl-coffea report``.

Import the submodules directly; this package module stays light (no matplotlib import).
"""

from __future__ import annotations

from .binning import constant_signal_edges, increasing_signal_edges, rebin
from .combine import write_datacards
from .normalise import normalise_output
from .significance import asimov, s_over_sqrt_b

__all__ = [
    "asimov",
    "constant_signal_edges",
    "increasing_signal_edges",
    "normalise_output",
    "postprocess_output",
    "rebin",
    "s_over_sqrt_b",
    "write_datacards",
]


def postprocess_output(*args, **kwargs):  # noqa: ANN002, ANN003 - thin lazy forwarder
    """See :func:`hnl_coffea.postprocessing.report.postprocess_output`."""
    from .report import postprocess_output as _impl

    return _impl(*args, **kwargs)
