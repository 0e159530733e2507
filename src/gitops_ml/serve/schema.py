"""OpenAPI for /predict, generated from model.json so /docs shows the real fields and categories.

These pydantic models document the API; requests are checked by validation.py, which follows the
same feature schema without pydantic's per-request cost.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from gitops_ml.features import Feature
from gitops_ml.serve.model import ModelMeta


def _field(f: Feature, closed: bool) -> tuple[Any, Any]:
    if f.is_number:
        # what the feature schema takes (Feature.limit): float32's range, or well beyond the
        # training range yet short of the model's own overflow
        kind: Any = Annotated[float, Field(ge=-f.limit, le=f.limit)]
        info = f"{f.dtype} feature"
        if f.min is not None and f.max is not None:
            info += f"; seen in training between {f.min} and {f.max} (not enforced)"
    elif f.kind == "boolean":
        kind = bool
        info = "true or false"
    elif closed and f.categories:
        # the feature schema reads "" as missing, as null (FeatureSchema._categories): where a
        # value may be missing, the documented values say so too
        blank = ("",) if f.nullable and "" not in f.categories else ()
        kind = Literal[(*f.categories, *blank)]
        info = 'category; "" is missing' if blank else "category"
    else:
        kind = str
        info = "category; unknown values score as none of the known ones"
    if f.nullable:
        return kind | None, Field(None, description=info + "; may be null or absent")
    return kind, Field(..., description=info)


def record_model(meta: ModelMeta, *, closed_categories: bool) -> type[BaseModel]:
    """One record: every feature of the model; the columns it ignores allowed; nothing else."""
    fields: dict[str, Any] = {f.name: _field(f, closed_categories) for f in meta.features}
    names = {f.name for f in meta.features}
    for i, name in enumerate(c for c in dict.fromkeys(meta.ignored) if c not in names):
        what = "the target" if name == meta.target else "excluded by the data contract"
        # by alias: a column name need not be a valid Python name
        fields[f"ignored_{i}"] = (Any, Field(None, alias=name, description=(
            f"{what}; accepted and ignored, so a row of the training data can be sent as is")))
    return create_model(
        "Record", __config__=ConfigDict(extra="forbid"), **fields)


def prediction_model(meta: ModelMeta) -> type[BaseModel]:
    """One scored row: label and class probabilities, or the predicted value."""
    if meta.is_classifier:
        classes = meta.classes or ()
        probabilities = create_model(
            "Probabilities", **{c: (float, ...) for c in classes})
        return create_model(
            "Prediction", label=(Literal[tuple(classes)], ...),
            probabilities=(probabilities, ...))
    return create_model("Prediction", value=(float, ...))


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str | None


class ProblemOut(BaseModel):
    """One bad field; `row` is the record's index."""

    row: int | None
    field: str | None
    error: str


class ErrorOut(BaseModel):
    """Every 4xx/5xx body; input values are never echoed."""

    error: str
    errors: list[ProblemOut] = Field(default_factory=list)
    errors_truncated: int | None = None


def openapi_parts(meta: ModelMeta, *, closed_categories: bool, max_rows: int,
                  ) -> tuple[dict[str, Any], type[BaseModel], type[BaseModel]]:
    """The /predict request body (for `openapi_extra`), the response model, the record model."""
    record = record_model(meta, closed_categories=closed_categories)
    prediction = prediction_model(meta)
    response = create_model("PredictResponse", model=(ModelRef, ...),
                            predictions=(list[prediction], ...))
    request_body = {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "array", "minItems": 1, "maxItems": max_rows,
            "items": {"$ref": "#/components/schemas/Record"},
        }}},
    }
    return request_body, response, record
