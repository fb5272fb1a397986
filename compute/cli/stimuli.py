"""``python -m compute stimuli``: render (or load) the stimulus suite into the cache, optionally write previews.

Previews (with ``--out DIR``): one animated GIF per (class, direction) of instance 0, named
``<class>_<deg>.gif``, and ``contact_sheet.png`` with frame 0 of every class (rows) and direction (columns).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from compute import stimuli
from compute.cache import content_key, default_cache
from compute.jobs import console_control

_LABEL_WIDTH = 150
_HEADER_HEIGHT = 18


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute stimuli",
                                     description="Render (or load) the stimulus suite into the cache.")
    parser.add_argument("--out", type=Path, help="folder for preview GIFs and a PNG contact sheet")
    parser.add_argument("--instances", type=int, default=None,
                        help="instances per (class, direction); default 3, or all of --folder's")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated images (default 0)")
    parser.add_argument("--preset", default="all", choices=tuple(stimuli.PRESETS),
                        help="classes of the suite (default all 11)")
    parser.add_argument("--folder", type=Path,
                        help="load <class>_inst<k>/<deg>/0.png images from this folder instead of generating")
    return parser


def _write_previews(frames: np.ndarray, class_names: list[str], out: Path) -> list[Path]:
    """GIFs and a contact sheet of ``frames`` (n_classes, 8, n_instances, n_frames, 144, 256) uint8."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    duration = round(1000 / stimuli.FRAME_RATE)
    for i, name in enumerate(class_names):
        for j, direction in enumerate(stimuli.DIRECTIONS):
            first, *rest = [Image.fromarray(f) for f in frames[i, j, 0]]
            path = out / f"{name}_{direction}.gif"
            first.save(path, save_all=True, append_images=rest, duration=duration, loop=0)
            written.append(path)
    thumb_h, thumb_w = (s // 2 for s in stimuli.FRAME_SHAPE)
    sheet = Image.new("L", (_LABEL_WIDTH + thumb_w * len(stimuli.DIRECTIONS),
                            _HEADER_HEIGHT + thumb_h * len(class_names)), color=255)
    draw = ImageDraw.Draw(sheet)
    for j, direction in enumerate(stimuli.DIRECTIONS):
        draw.text((_LABEL_WIDTH + j * thumb_w + 4, 3), f"{direction} deg", fill=0)
    for i, name in enumerate(class_names):
        top = _HEADER_HEIGHT + i * thumb_h
        draw.text((4, top + thumb_h // 2 - 5), name, fill=0)
        for j in range(len(stimuli.DIRECTIONS)):
            thumb = Image.fromarray(frames[i, j, 0, 0]).resize((thumb_w, thumb_h), Image.Resampling.BOX)
            sheet.paste(thumb, (_LABEL_WIDTH + j * thumb_w, top))
    path = out / "contact_sheet.png"
    sheet.save(path)
    written.append(path)
    return written


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    folder = str(args.folder) if args.folder else None
    try:
        n_instances = args.instances
        if n_instances is None:
            n_instances = stimuli.load_suite_folder(folder, n_frames=1).shape[2] if folder else 3
        spec = stimuli.SuiteSpec(n_instances=n_instances, seed=args.seed, folder=folder,
                                 classes=stimuli.preset_classes(args.preset))
        cache = default_cache()
        frames = stimuli.get_suite(spec, cache=cache, control=console_control())
    except (ValueError, TypeError) as err:
        print(f"error: {err}")
        return 2
    path = cache.path(content_key("stimuli", **spec.key_parts()))
    print(f"suite {tuple(frames.shape)} (class, direction, instance, frame, row, column), uint8")
    print(f"cached at {path}")
    if args.out:
        names = [stimuli.CLASS_NAMES[c] for c in spec.classes]
        written = _write_previews(frames, names, args.out)
        print(f"wrote {len(written)} previews to {args.out}")
    return 0
