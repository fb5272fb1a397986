"""What every callback needs, passed in by the factory (callbacks never import the app)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from app.catalog import Catalog
from compute.cache import ArtifactCache
from compute.config import Settings


@dataclass(frozen=True)
class AppContext:
    """settings : folders and device; cache : the artefact cache views are read from; catalog : choices."""

    settings: Settings
    cache: ArtifactCache
    catalog: Catalog

    @property
    def run(self):
        """RunSettings of the active profile (how much stimulus work a model job does), with the clip set
        chosen on the Stimuli page (``compute.clips.active_clips``; a setting of this server)."""
        from compute.clips import active_clips

        clips = active_clips(self.settings)
        run = self.catalog.profile.run
        return run if clips is None else dataclasses.replace(run, clips=clips)
