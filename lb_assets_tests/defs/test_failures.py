"""Step failures name the step and project and keep secrets out of Dagster's event log."""

import dagster as dg

from lb_assets.defs.failures import step_errors
from lb_assets.errors import ConfigError

SECRET = "sk-SUPERSECRET123"


def _failure_texts(result: dg.ExecuteInProcessResult) -> list[str]:
    texts = []
    for event in result.all_events:
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None:
            texts.append(error.to_string())
        texts.append(repr(data))
    return texts


def _run(exc: Exception) -> dg.ExecuteInProcessResult:
    @dg.asset
    def leaky() -> None:
        with step_errors("leaky", "clproject", (SECRET,)):
            raise exc

    return dg.materialize([leaky], raise_on_error=False)


def test_failure_names_step_and_project_and_redacts_the_cause_chain() -> None:
    result = _run(RuntimeError(f"GET https://h/v.mp4?sig=abc failed with key {SECRET}"))
    assert not result.success
    texts = _failure_texts(result)
    assert any("Step leaky for project clproject failed" in t for t in texts)
    assert all(SECRET not in t and "sig=abc" not in t for t in texts)
    assert any("lb_assets/traceback" in t for t in texts)


def test_permanent_errors_are_not_retried_and_no_cause_is_kept() -> None:
    for exc, retried in ((ConfigError("projects.yaml: frame_storage must be jpeg or png"), False),
                         (RuntimeError("connection reset"), True)):
        try:
            with step_errors("frame_dataset", "clproject"):
                raise exc
        except dg.Failure as failure:
            assert failure.allow_retries is retried
            assert failure.__cause__ is None and failure.__suppress_context__
            assert str(exc) in failure.description
        else:
            raise AssertionError("step_errors did not raise")
