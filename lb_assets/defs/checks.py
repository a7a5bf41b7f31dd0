"""Asset checks: their specs (attached to the assets with ``check_specs``) and how each is evaluated.

Blocking (ERROR): decoded frames equal Labelbox frame counts; the ``labelbox`` branch holds every frame of main;
the annotation dataset is UNION-compatible with the frame dataset. Non-blocking (WARN): annotation coverage, and
annotations not written (unknown tools or annotation kinds skipped, undrawable geometry dropped, per reason and
data row). Checks are evaluated inside the asset (no partitioned ``@asset_check``: that API still
warns as a preview in Dagster 1.13).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

FRAME_COUNTS = "frames_match_labelbox_frame_counts"
BRANCH_HAS_MAIN = "labelbox_branch_contains_main"
COVERAGE = "annotation_coverage"
UNKNOWN_TOOLS = "no_unknown_tools"
UNION_COMPATIBLE = "union_compatible_with_frames"
#: data rows listed in a check's metadata
ROWS_SHOWN = 20


def frame_dataset_specs(asset: str) -> list[dg.AssetCheckSpec]:
    """Checks of the frame dataset."""
    return [
        dg.AssetCheckSpec(
            FRAME_COUNTS,
            asset=asset,
            blocking=True,
            description="Each data row has exactly Labelbox's media_attributes.frame_count rows (1 per image).",
        )
    ]


def annotated_branch_specs(asset: str) -> list[dg.AssetCheckSpec]:
    """Checks of the annotated branch."""
    return [
        dg.AssetCheckSpec(
            BRANCH_HAS_MAIN,
            asset=asset,
            blocking=True,
            description="The labelbox branch contains every row key of main.",
        ),
        dg.AssetCheckSpec(COVERAGE, asset=asset, description="Labeled rows vs rows without labels."),
        dg.AssetCheckSpec(
            UNKNOWN_TOOLS,
            asset=asset,
            description="No annotation was skipped as unknown or dropped as undrawable geometry "
            "(NaN/inf, negative size, outside the frame, too few points).",
        ),
    ]


def annotation_dataset_specs(asset: str) -> list[dg.AssetCheckSpec]:
    """Checks of the annotation dataset."""
    return [
        dg.AssetCheckSpec(
            UNION_COMPATIBLE,
            asset=asset,
            blocking=True,
            description="Same length, labelbox_meta and row keys (in order) as the frame dataset.",
        ),
    ]


def check_frame_counts(keys: Iterable[str], infos: Iterable[Any]) -> dg.AssetCheckResult:
    """Compare rows per data row in the dataset with Labelbox's frame counts."""
    have = Counter(key.rsplit(":", 1)[0] for key in keys)
    wrong: dict[str, str] = {}
    checked = 0
    for info in infos:
        expected = info.frame_count if str(info.media_type).lower() == "video" else 1
        if expected is None:
            continue
        checked += 1
        if have.get(info.data_row_id, 0) != expected:
            wrong[info.data_row_id] = f"{have.get(info.data_row_id, 0)} rows, Labelbox says {expected}"
    return dg.AssetCheckResult(
        check_name=FRAME_COUNTS,
        passed=not wrong,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if not wrong else f"{len(wrong)} data rows differ from Labelbox's frame counts",
        metadata={"data_rows_checked": checked, "mismatches": dg.MetadataValue.json(dict(list(wrong.items())[:20]))},
    )


def check_branch_contains_main(main_keys: Iterable[str], branch_keys: Iterable[str]) -> dg.AssetCheckResult:
    """Every row key of main must be on the branch."""
    main = list(main_keys)
    missing = sorted(set(main) - set(branch_keys))
    return dg.AssetCheckResult(
        check_name=BRANCH_HAS_MAIN,
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if not missing else f"{len(missing)} rows of main are missing on the labelbox branch",
        metadata={
            "main_rows": len(main),
            "missing_rows": len(missing),
            "first_missing": dg.MetadataValue.json(missing[:10]),
        },
    )


def check_coverage(labeled_rows: int, rows: int, labeled_data_rows: int, data_rows: int) -> dg.AssetCheckResult:
    """Warn when no row is labeled; always report the coverage."""
    share = labeled_rows / rows if rows else 0.0
    return dg.AssetCheckResult(
        check_name=COVERAGE,
        passed=labeled_rows > 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{labeled_rows} of {rows} rows labeled ({share:.0%}), "
        f"{labeled_data_rows} of {data_rows} data rows",
        metadata={
            "labeled_rows": labeled_rows,
            "rows_without_labels": rows - labeled_rows,
            "labeled_data_rows": labeled_data_rows,
            "data_rows_without_labels": data_rows - labeled_data_rows,
            "coverage": dg.MetadataValue.float(round(share, 4)),
        },
    )


def check_unknown_tools(
    skipped: Counter[str],
    invalid_by_data_row: Mapping[str, Mapping[str, int]] | None = None,
    clipped: int = 0,
) -> dg.AssetCheckResult:
    """Warn when annotations were not written: skipped (unknown tool or kind) or dropped as undrawable geometry.

    Args:
        skipped: Skipped annotations by feature name (``ConversionTap.skipped``).
        invalid_by_data_row: Data row id -> dropped geometries by reason (``ConversionTap.invalid_by_data_row``).
        clipped: Boxes clipped to their frame (reported, not a failure).
    """
    by_row = {drid: dict(reasons) for drid, reasons in (invalid_by_data_row or {}).items() if reasons}
    invalid: Counter[str] = Counter()
    for reasons in by_row.values():
        invalid.update(reasons)
    problems = []
    if skipped:
        problems.append(f"skipped: {dict(skipped)}")
    if invalid:
        problems.append(f"dropped undrawable geometry: {dict(invalid)} in {len(by_row)} data rows")
    return dg.AssetCheckResult(
        check_name=UNKNOWN_TOOLS,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={
            "skipped": dg.MetadataValue.json(dict(skipped)),
            "skipped_total": int(sum(skipped.values())),
            "invalid_geometry": dg.MetadataValue.json(dict(invalid)),
            "invalid_geometry_total": int(sum(invalid.values())),
            "invalid_geometry_data_rows": len(by_row),
            "invalid_geometry_by_data_row": dg.MetadataValue.json(dict(sorted(by_row.items())[:ROWS_SHOWN])),
            "clipped_boxes": int(clipped),
        },
    )


def check_union_compatible(frames_ds: Any, ann_ds: Any) -> dg.AssetCheckResult:
    """``lb_assets.store.combine.check_compatible`` as a check result."""
    from lb_assets.errors import IncompatibleDatasetsError
    from lb_assets.store.combine import check_compatible

    try:
        check_compatible(frames_ds, ann_ds)
    except IncompatibleDatasetsError as exc:
        return dg.AssetCheckResult(
            check_name=UNION_COMPATIBLE, passed=False, severity=dg.AssetCheckSeverity.ERROR, description=str(exc)
        )
    return dg.AssetCheckResult(check_name=UNION_COMPATIBLE, passed=True, metadata={"rows": len(frames_ds)})
