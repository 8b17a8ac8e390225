"""Looking at stored sweeps: the ``kvjax explore`` Panel app (Curves, Map, Pareto, Live),
the offline HTML report (``kvjax report``) and exports of a selection (``kvjax export``).

Above ``kvjax.analysis`` (it draws Pareto fronts and regime boundaries), below ``kvjax.cli``.
The widget logic is pure functions in ``_logic`` (unit-tested); Panel and Bokeh are imported
only when an app or a report is built (the ``explore`` extra).
"""

from ._app import build_app as build_app
from ._app import check_port as check_port
from ._app import open_store as open_store
from ._app import serve as serve
from ._export import FORMATS as FORMATS
from ._export import check_output as check_output
from ._export import format_of as format_of
from ._export import parse_selection as parse_selection
from ._export import records as records
from ._export import select as select
from ._export import write as write
from ._live import live_dataset as live_dataset
from ._report import report_html as report_html
from ._report import write_report as write_report
