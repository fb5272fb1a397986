"""Runtime settings read from the environment (no torch, no dash here).

| variable | default | meaning |
|---|---|---|
| TWINSCOPE_CACHE_DIR | <repo>/cache | content-addressed artefacts (responses, analyses, jobs) |
| TWINSCOPE_DATA_DIR | <cache>/data | downloaded data: ``bio/`` (retina, V1), ``fnn/`` (official weights) |
| TWINSCOPE_DEVICE | auto | ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda`` |
| TWINSCOPE_SECRET_KEY | generated once | Flask secret key; unset: one key generated and kept in <cache>/secret_key (0600), shared by every worker |
| TWINSCOPE_BIO_TRACES | unset | folder holding the authors' full trace tensors, when a user has them |
| TWINSCOPE_BROKER_URL | unset | Redis URL: jobs run on Celery workers and cache locks live in Redis |
| TWINSCOPE_EXTRACT_WORKERS | auto | extraction worker processes on CPU (one torch thread each); ``auto`` = min(2, cores); always 1 on CUDA |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from compute._validation import check_int

REPO_ROOT = Path(__file__).resolve().parent.parent
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Settings:
    """Where twinscope keeps its files and which device it computes on (``secret_key`` "": the app uses the
    key kept under ``cache_dir``, see ``app.create_app``; ``extract_workers`` None: automatic, see
    ``compute.extraction.workers.n_workers``)."""

    def __post_init__(self) -> None:
        check_int(self.extract_workers, name="extract_workers", low=1, optional=True,
                  fix="None chooses automatically (compute.extraction.workers.n_workers)")

    cache_dir: Path
    data_dir: Path
    device: str = "auto"
    secret_key: str = ""
    bio_traces_dir: Path | None = None
    broker_url: str | None = None
    extract_workers: int | None = None

    @property
    def bio_dir(self) -> Path:
        return self.data_dir / "bio"

    @property
    def weights_dir(self) -> Path:
        return self.data_dir / "fnn"

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        cache_dir = Path(env.get("TWINSCOPE_CACHE_DIR") or REPO_ROOT / "cache").expanduser()
        data_dir = Path(env.get("TWINSCOPE_DATA_DIR") or cache_dir / "data").expanduser()
        device = env.get("TWINSCOPE_DEVICE", "auto").strip().lower() or "auto"
        if device not in DEVICES:
            raise ValueError(f"TWINSCOPE_DEVICE must be one of {DEVICES}; got {device!r}")
        traces = env.get("TWINSCOPE_BIO_TRACES")
        return cls(
            cache_dir=cache_dir,
            data_dir=data_dir,
            device=device,
            secret_key=env.get("TWINSCOPE_SECRET_KEY", ""),
            bio_traces_dir=Path(traces).expanduser() if traces else None,
            broker_url=env.get("TWINSCOPE_BROKER_URL") or None,
            extract_workers=_workers(env.get("TWINSCOPE_EXTRACT_WORKERS", "auto")),
        )


def _workers(text: str) -> int | None:
    text = text.strip().lower()
    if text in ("", "auto"):
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"TWINSCOPE_EXTRACT_WORKERS must be a positive integer or 'auto'; got {text!r}")
    return int(text)
