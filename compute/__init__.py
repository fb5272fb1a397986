"""twinscope's science: stimuli, models, biological references and analyses. Never imports dash.

Importing ``compute`` is cheap (no torch); import submodules for the heavy parts.
"""

from compute.cache import ArtifactCache, content_key
from compute.config import Settings
from compute.jobs import Cancelled, JobControl
from compute.responses import ResponseSet

__all__ = ["ArtifactCache", "Cancelled", "JobControl", "ResponseSet", "Settings", "content_key"]
