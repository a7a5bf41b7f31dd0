"""lb_assets.convert: Labelbox export v2 rows -> per-row Deep Lake column values (pure Python + numpy).

Modules: `rows` (parse a row), `ontology` (column plan), `labels` (label policy), `geometry`,
`classifications`, `masks`, `interpolation` (video keyframes), `lb_meta` (metadata columns),
`convert` (`convert_data_row`).
"""

from lb_assets.convert.convert import ConvertedRow, convert_data_row
from lb_assets.convert.labels import LabelPolicy, choose_labels, select_labels
from lb_assets.convert.lb_meta import meta_columns, meta_values
from lb_assets.convert.masks import MaskSource, decode_mask
from lb_assets.convert.ontology import ColumnSpec, OntologyPlan, build_plan
from lb_assets.convert.rows import DataRowInfo, parse_row, row_key

__all__ = [
    "ColumnSpec",
    "ConvertedRow",
    "DataRowInfo",
    "LabelPolicy",
    "MaskSource",
    "OntologyPlan",
    "build_plan",
    "choose_labels",
    "convert_data_row",
    "decode_mask",
    "meta_columns",
    "meta_values",
    "parse_row",
    "row_key",
    "select_labels",
]
