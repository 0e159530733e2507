"""What every request needs (settings, model, feature schema, metrics), as one typed dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from gitops_ml.features import FeatureSchema
from gitops_ml.monitor.predlog import PredictionLog
from gitops_ml.serve.bodies import BadRequest
from gitops_ml.serve.challenger import Arm, to_challenger
from gitops_ml.serve.lifecycle import Lifecycle
from gitops_ml.serve.metrics import Metrics
from gitops_ml.serve.model import ModelMeta, OnnxModel
from gitops_ml.serve.settings import Settings


@dataclass
class Runtime:
    """Built by the app factory; `model` is set by the lifespan once ONNX Runtime has loaded it."""

    settings: Settings
    meta: ModelMeta
    schema: FeatureSchema
    metrics: Metrics
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    model: OnnxModel | None = None
    prediction_log: PredictionLog | None = None
    # the online experiment (settings.challenger_*): both arms, set once the models are loaded
    champion: Arm | None = None
    challenger: Arm | None = None

    def choose(self, request_id: str) -> tuple[Arm, Arm | None]:
        """The arm that answers this request, and the arm that scores it in shadow (if any)."""
        if self.champion is None:
            raise BadRequest("model is not loaded yet", status_code=503)
        challenger = self.challenger
        if challenger is None:
            return self.champion, None
        if self.settings.challenger_mode == "shadow":
            return self.champion, challenger
        if to_challenger(request_id, self.settings.canary_percent):
            return challenger, None
        return self.champion, None

    def loaded_model(self) -> OnnxModel:
        if self.model is None:
            raise BadRequest("model is not loaded yet", status_code=503)
        return self.model

    def check_name(self, name: str) -> None:
        if name != self.meta.name:
            raise BadRequest("unknown model", status_code=404)


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a sync dependency in a worker thread, a hop per request.
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
