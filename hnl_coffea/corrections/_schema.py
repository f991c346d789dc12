"""Small builders of correctionlib schema objects shared by the illustrative-file writers."""

from __future__ import annotations

from correctionlib import schemav2 as cs

__all__ = ["ILLUSTRATIVE", "correction", "variable"]

ILLUSTRATIVE = "ILLUSTRATIVE values for hnl-coffea demos and tests, NOT a CMS measurement."


def variable(name: str, type_: str, description: str) -> cs.Variable:
    """A correction input or output."""
    return cs.Variable(name=name, type=type_, description=description)


def correction(
    name: str, description: str, inputs: list[cs.Variable], data, output: cs.Variable
) -> cs.Correction:
    """A version-1 correction whose description says it is illustrative."""
    return cs.Correction(
        name=name,
        description=f"{description} {ILLUSTRATIVE}",
        version=1,
        inputs=inputs,
        output=output,
        data=data,
    )
