"""The base class of every configuration model (strict, frozen, finite numbers)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ConfigModel"]


class ConfigModel(BaseModel):
    """Unknown keys are errors; NaN or infinite thresholds would silently select nothing
    (or everything)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )
