"""Component ids, declared once: layouts and callbacks import the same names (kebab-case, page-prefixed).

Ids shared by every page that runs a job are pattern-matching dicts keyed by the page name, so that one
background callback serves all pages (only the current page's components exist at a time). The few
constants a page's layout and its callbacks share live here too: callbacks never import page modules for them.
"""

from __future__ import annotations

from compute.workflows import OPTION_BOUNDS

MAX_PANELS = 4  # Compare: panels side by side
EPSILON_DEFAULT = 1.0  # Explore: crossing radius, percent of the trajectories' bounding-box diagonal
DELTA_DEFAULT = 2  # Explore: crossing time gap, bins
RANK_LOW, RANK_HIGH = int(OPTION_BOUNDS["rank"].low), int(OPTION_BOUNDS["rank"].high)  # Explore: CP rank field


def graph_id(name: str) -> dict:
    """Every graph has a pattern-matching id so one callback can set the export format of all of them."""
    return {"type": "graph", "name": name}


class ShellIds:
    URL = "shell-url"
    IMAGE_FORMAT = "shell-image-format"
    NAV = "shell-nav"
    BADGE = "shell-badge"
    RUNNING = "shell-job-running"
    LIVE = "shell-job-live"
    PROGRESS = "shell-job-progress"
    STAGE = "shell-job-stage"
    CANCEL = "shell-job-cancel"
    ERROR = "shell-job-error"
    URL_SINK = "shell-url-sink"
    BIO_NOTICE = "shell-bio-notice"
    FORMAT_SINK = "shell-format-sink"
    CLOCK = "shell-job-clock"
    TICK = "shell-job-tick"
    STARTED = "shell-job-started"
    POLL = "shell-job-poll"
    SESSION = "shell-session"  # a nonce per page load: two sessions' identical jobs never share a result slot


def _page_id(kind: str) -> staticmethod:
    """A ``JobIds`` method: page -> the pattern-matching id ``{"type": kind, "page": page}``."""

    def make(page: str) -> dict:
        return {"type": kind, "page": page}

    return staticmethod(make)


class JobIds:
    """Pattern-matching ids of the per-page job components: ``JobIds.run(page)`` etc. ``query`` is the
    store holding the page's state as a URL query string (written into the address bar)."""

    RUN = "job-run"
    REQUEST = "job-request"
    RESULT = "job-result"
    QUERY = "job-query"
    EXPORT = "job-export"
    EXPORT_FORMAT = "job-export-format"
    DOWNLOAD = "job-download"
    PLAN = "job-plan"
    ESTIMATE = "job-estimate"

    run = _page_id(RUN)
    request = _page_id(REQUEST)
    result = _page_id(RESULT)
    query = _page_id(QUERY)
    export = _page_id(EXPORT)
    export_format = _page_id(EXPORT_FORMAT)
    download = _page_id(DOWNLOAD)
    plan = _page_id(PLAN)
    estimate = _page_id(ESTIMATE)


class HomeIds:
    STATUS = "home-status"
    ENTRY = "home-entry"
    METHODS_LINK = "home-methods-link"
    LOADED = "home-loaded"


class MethodsIds:
    TABLE = "methods-table"
    LOADED = "methods-loaded"


class StimuliIds:
    CLASS = "stimuli-class"
    DIRECTION = "stimuli-direction"
    PREVIEW = graph_id("stimuli-preview")
    THUMBNAILS = graph_id("stimuli-thumbnails")
    CAPTION = "stimuli-caption"
    CLIP_SET = "stimuli-clip-set"
    CLIP_DIRECTIONS = "stimuli-clip-directions"
    CLIP_MATCH_MEAN = "stimuli-clip-match-mean"
    CLIP_LENGTH = "stimuli-clip-length"
    CLIP_USE = "stimuli-clip-use"
    CLIP_NONE = "stimuli-clip-none"
    CLIP_STATUS = "stimuli-clip-status"
    CLIP_CLASSES = "stimuli-clip-classes"


class ExploreIds:
    SOURCE = "explore-source"
    MODULES = "explore-modules"
    PRESET = "explore-preset"
    STIMULI = "explore-stimuli"
    SHOW = "explore-show"
    DECODING = graph_id("explore-decoding")
    TRAJECTORIES = graph_id("explore-trajectories")
    TRAJ_BASE = "explore-trajectories-base"
    DECODING_BASE = "explore-decoding-base"
    TIME = "explore-time"
    CROSSINGS = "explore-crossings"
    EPSILON = "explore-epsilon"
    DELTA = "explore-delta"
    CROSS_COUNT = "explore-cross-count"
    CROSS_MATRIX = graph_id("explore-cross-matrix")
    ENCODING = graph_id("explore-encoding")
    NN_HISTOGRAM = graph_id("explore-nn-histogram")
    COLOR_BY = "explore-color-by"
    PROJECTION = "explore-projection"
    HIGHLIGHT = "explore-highlight"
    PSTH = graph_id("explore-psth")
    UNIT = "explore-unit"
    UNIT_SEARCH = "explore-unit-search"
    SUMMARY = "explore-summary"
    NOTICE = "explore-notice"
    RANK = "explore-rank"
    RANK_NOTICE = "explore-rank-notice"
    MODEL_ONLY = "explore-model-only"  # wrappers of the controls that only a model has (modules, show, rank)


class CompareIds:
    SOURCES = "compare-sources"
    VIEW = "compare-view"
    LINK = "compare-link"
    PANELS = "compare-panels"
    NOTICE = "compare-notice"

    @staticmethod
    def graph(index: int) -> dict:
        return graph_id(f"compare-{index}")

    @staticmethod
    def panel(index: int) -> str:
        return f"compare-panel-{index}"


class TubularityIds:
    SOURCES = "tubularity-sources"
    BARS = graph_id("tubularity-bars")
    SENSITIVITY = graph_id("tubularity-sensitivity")
    TUBE_SOURCE = "tubularity-tube-source"
    TUBE = graph_id("tubularity-tube")
    NOTICE = "tubularity-notice"


class AlignmentIds:
    SOURCES = "alignment-sources"
    DATASETS = "alignment-datasets"
    SCORES = graph_id("alignment-scores")
    HEATMAP = graph_id("alignment-heatmap")
    TABLE = "alignment-table"
    NOTICE = "alignment-notice"


class AccuracyIds:
    SOURCES = "accuracy-sources"
    CURVES = graph_id("accuracy-curves")
    WINDOW_SOURCE = "accuracy-window-source"
    WINDOWS = graph_id("accuracy-windows")
    TABLE = "accuracy-table"
    NOTICE = "accuracy-notice"


class ReportIds:
    MODEL = "report-model"
    RUN = "report-run"
    LINK = "report-link"
