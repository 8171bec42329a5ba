"""The base of every model stored in a Temporal history: workflow and activity inputs, results, state.

A protection run continues-as-new with its state for months, so what it stored yesterday must load in the
code of tomorrow: durable models ignore fields they do not know (a newer writer, or a field since removed)
and give every later-added field a default. They never embed the topology's models (``extra="forbid"``,
shaped for hand-written files): each workflow maps what it needs from the topology in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class Durable(BaseModel):
    """A payload that outlives the code that wrote it (unknown fields ignored, new ones defaulted)."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _from_other_model(cls, data: Any) -> Any:
        # A topology model (or an older payload class) of the same shape maps field by field.
        if isinstance(data, BaseModel) and not isinstance(data, cls):
            return data.model_dump()
        return data
