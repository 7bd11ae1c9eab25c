"""Evaluations of model versions: an :class:`~seawall.evaluation.Evaluation` logged into a run
(its JSON and HTML as artifacts, its overall figures as metrics) and attached to a version, from
which it reads back whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ..errors import InvalidInputError, NotFoundError
from . import _checks as checks
from ._base import RegistryBase
from ._run import Run

if TYPE_CHECKING:
    from ..evaluation import Evaluation
    from ._registry import Registry

#: A version's tag "seawall.evaluation.<name>" holds "<run id>/<artifact>" of its evaluation.
EVALUATION_TAG = "seawall.evaluation."


def _check_evaluation(evaluation: Any) -> None:
    from ..evaluation import Evaluation

    if not isinstance(evaluation, Evaluation):
        raise InvalidInputError(
            f"expected a seawall Evaluation (seawall.evaluate's result), got {type(evaluation).__name__}"
        )


class EvaluationsMixin(RegistryBase):
    """Evaluations logged into runs and attached to model versions."""

    def _log_evaluation(self, run: Run, evaluation: Evaluation, name: str) -> str:
        _check_evaluation(evaluation)
        checks.check_name(name, "evaluation name")
        path = f"evaluations/{name}.json"
        run.log_text(evaluation.to_json(), path)
        run.log_text(evaluation.to_html(), f"evaluations/{name}.html")
        figures = {
            f"{name}.{metric}": value.value
            for metric, value in evaluation.overall.metrics.items()
            if value.value is not None
        }
        if figures:
            run.log_metrics(figures)
        return path

    def attach_evaluation(
        self,
        model: str,
        version: int | str,
        evaluation: Evaluation,
        *,
        name: str = "evaluation",
        run: Run | None = None,
    ) -> str:
        """Logs `evaluation` into `run` (or into a new run of the version's experiment, named
        for the version) and attaches it to the version as `name`; returns the run's id.
        Attaching another evaluation under the same name points the version at the new one
        (the old stays in its run)."""
        _check_evaluation(evaluation)
        checks.check_name(name, "evaluation name")
        registry = cast("Registry", self)  # the parts of a registry only ever run in one
        mv = self.get_model_version(model, version)
        if run is None:
            experiment = registry.get_run(mv.run_id).experiment if mv.run_id else "evaluations"
            with registry.start_run(
                experiment,
                name=f"evaluate-{mv.model}-{mv.version}",
                tags={"seawall.evaluates": mv.uri},
            ) as own:
                path = self._log_evaluation(own, evaluation, name)
            run = own
        else:
            path = self._log_evaluation(run, evaluation, name)
        registry.set_version_tag(mv.model, mv.version, EVALUATION_TAG + name, f"{run.id}/{path}")
        return run.id

    def list_evaluations(self, model: str, version: int | str | None = None) -> list[str]:
        """The names of the evaluations attached to a version."""
        mv = self.get_model_version(model, version)
        return sorted(k[len(EVALUATION_TAG) :] for k in mv.tags if k.startswith(EVALUATION_TAG))

    def get_evaluation(
        self, model: str, version: int | str | None = None, name: str = "evaluation"
    ) -> Evaluation:
        """The evaluation attached to a version under `name` (NotFoundError when none is)."""
        from ..evaluation import Evaluation

        mv = self.get_model_version(model, version)
        where = mv.tags.get(EVALUATION_TAG + name)
        if where is None:
            have = self.list_evaluations(mv.model, mv.version)
            raise NotFoundError(
                f"{mv.uri} has no evaluation {name!r} (it has: {', '.join(have) or 'none'})"
            )
        run_id, path = where.split("/", 1)
        return Evaluation.from_json(cast("Registry", self).read_artifact(run_id, path))
