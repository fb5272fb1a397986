"""What every callback needs, passed in by the factory (callbacks never import the app)."""

from __future__ import annotations

from dataclasses import dataclass

from app.catalog import Catalog
from compute.cache import ArtifactCache
from compute.config import Settings
from compute.sources import with_active_clips


@dataclass(frozen=True)
class AppContext:
    """settings : folders and device; cache : the artefact cache views are read from; catalog : choices."""

    settings: Settings
    cache: ArtifactCache
    catalog: Catalog

    @property
    def run(self):
        """RunSettings of the active profile (how much stimulus work a model job does), with the clip set
        chosen on the Stimuli page (a setting of this server, ``compute.sources.with_active_clips``)."""
        return with_active_clips(self.catalog.profile.run, self.settings)
