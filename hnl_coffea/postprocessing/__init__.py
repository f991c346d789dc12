"""Postprocessing of hnl-coffea's histograms (never event data).

* :mod:`.normalise` — scale each dataset to σ × L / Σw and group into processes;
* :mod:`.binning` — the constant-signal and increasing-signal adaptive binnings, ``rebin``;
* :mod:`.significance` — S/√B and Asimov significances, combined across bins and channels;
* :mod:`.categories` — one (discriminant, channel, mass hypothesis) rebinned consistently;
* :mod:`.plots` — CMS-style stacks, data/MC, significance and cutflow plots (matplotlib);
* :mod:`.combine` — shapes files and datacards for CMS combine;
* :mod:`.report` — :func:`postprocess_output`, the whole chain behind ``hnl-coffea postprocess``.

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
