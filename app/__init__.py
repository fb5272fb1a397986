"""The twinscope web app: ``create_app(settings)`` builds a Dash app (pages, callbacks, job manager).

Nothing happens at import. ``gunicorn app:server`` works through the module-level ``__getattr__``
below (PEP 562): the first access to ``app.server`` builds one app from the environment.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from compute.config import Settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"
_server_lock = threading.Lock()
_server: Any = None


def create_app(settings: Settings | None = None, *, background_manager: Any = None):
    """Build the twinscope Dash app.

    Parameters
    ----------
    settings : Settings, default=Settings.from_env()
        Cache and data folders, device, Flask secret key.
    background_manager : dash background callback manager, optional
        Runs the jobs; by default Celery workers when ``settings.broker_url`` is set
        (``callbacks.celery_app``), else a ``DiskcacheManager`` under ``settings.cache_dir / "jobs"``.

    Returns
    -------
    dash.Dash
        With debug off, the six pages registered, every callback registered and a ``/health`` route
        (with the connected Celery workers when a broker is configured).
    """
    import dash
    import flask

    from app import pages, shell
    from app.catalog import get_catalog
    from callbacks import register_callbacks
    from callbacks.context import AppContext
    from compute.cache import ArtifactCache
    from compute.locks import cache_locks

    settings = Settings.from_env() if settings is None else settings
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a compute.config.Settings; got {type(settings).__name__}")
    artifacts = settings.cache_dir / "artifacts"
    catalog = get_catalog(settings)
    cache = ArtifactCache(artifacts, locks=cache_locks(artifacts, settings.broker_url))
    ctx = AppContext(settings=settings, cache=cache, catalog=catalog)
    celery = None
    if background_manager is None and settings.broker_url:
        from callbacks.celery_app import TwinscopeCeleryManager, make_celery, needs_extraction

        celery = make_celery(settings.broker_url)
        background_manager = TwinscopeCeleryManager(celery, needs_gpu=lambda args: needs_extraction(args, ctx=ctx))
    elif background_manager is None:
        import diskcache

        background_manager = dash.DiskcacheManager(diskcache.Cache(str(settings.cache_dir / "jobs")))
    app = dash.Dash(
        __name__, use_pages=True, pages_folder="", assets_folder=str(ASSETS),
        background_callback_manager=background_manager, suppress_callback_exceptions=True,
        title="twinscope", update_title=None,
    )
    app.server.secret_key = settings.secret_key
    app.server.config["DEBUG"] = False
    app.server.config["TWINSCOPE_CELERY"] = celery
    pages.register_all(catalog)
    app.layout = functools.partial(shell.layout, bio_notice=catalog.bio_notice)
    register_callbacks(app, ctx)

    @app.server.route("/health")
    def health():
        jobs: dict = {"jobs": "embedded", "workers": []}
        if celery is not None:
            from callbacks.celery_app import workers

            jobs = {"jobs": "celery", "workers": workers(celery)}
        return flask.jsonify({"status": "ok", "profile": catalog.profile.name, "models": sorted(catalog.models),
                              "pages": [page["path"] for page in dash.page_registry.values()], **jobs})

    return app


def __getattr__(name: str) -> Any:
    global _server
    if name != "server":
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    with _server_lock:
        if _server is None:
            _server = create_app().server
    return _server
