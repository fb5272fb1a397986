"""The stimulus suite: 11 classes x 8 directions of drifting gratings and dot flows (METHODS.md section 1).

One static 800x600 image is drawn per (class, direction, instance); a sequence is that image resized by
0.7 (Lanczos, 560x420), rolled by one pixel per frame along the direction with wrap-around, and
centre-cropped to 144x256, exactly as the seed study's authors made theirs. A grating is one deterministic
image per direction (METHODS v2 section 1): its instances are pixel-identical copies, drawn once, and
``runs_per_condition`` tells extraction to run such a condition once. The drawing matches the
statistics of the authors' images (grey levels, bar widths, dot diameters, dot densities, triplet
geometry); every constant below was measured on ../shared/reference/stimuli.

Dot layouts are jittered grids in the frame of the motion: lines of dots perpendicular to the motion,
2 dot diameters apart, each line with its own random offset along itself (as in the authors' images).
'pos' and 'neg' classes of the same size and grouping share their layouts and differ only in polarity,
as in the authors' images. Gratings depend on the orientation only, so 0/180 (and 45/225, ...) images are
identical and motion comes from the per-frame shift alone; their phase is the authors': the square wave
starts bright at the canvas's bottom-left corner, which reproduces the authors' 0, 90, 180 and 270 degree
images pixel for pixel.
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np
from PIL import Image

from compute._validation import check_choice, check_int
from compute.cache import ArtifactCache, content_key, default_cache
from compute.jobs import JobControl, ensure_control

if TYPE_CHECKING:
    from compute.clips import ClipSet

# Bump when a change alters any rendered or loaded frame (it is part of every suite key).
_SUITE_VERSION = 2  # 2: gratings have one fixed phase (the authors'); their instances are identical


class _ClassSpec(NamedTuple):
    name: str
    bar_width: int = 0         # gratings: bar width in canvas pixels (period = 2 bar widths)
    level: int = 0             # dot flows: grey level of the dots (8 dark 'neg', 248 bright 'pos')
    group: int = 0             # dot flows: 1 isolated dots, 3 triplets perpendicular to the motion
    size: str = ""             # dot flows: "D1" or "D2"


_SPECS = (
    _ClassSpec("grat_W12", bar_width=129),
    _ClassSpec("grat_W1", bar_width=10),
    _ClassSpec("grat_W2", bar_width=21),
    _ClassSpec("neg1dotflow_D1_bg", level=8, group=1, size="D1"),
    _ClassSpec("neg3dotflow_D1_bg", level=8, group=3, size="D1"),
    _ClassSpec("neg1dotflow_D2_bg", level=8, group=1, size="D2"),
    _ClassSpec("neg3dotflow_D2_bg", level=8, group=3, size="D2"),
    _ClassSpec("pos1dotflow_D1_bg", level=248, group=1, size="D1"),
    _ClassSpec("pos3dotflow_D1_bg", level=248, group=3, size="D1"),
    _ClassSpec("pos1dotflow_D2_bg", level=248, group=1, size="D2"),
    _ClassSpec("pos3dotflow_D2_bg", level=248, group=3, size="D2"),
)

CLASS_NAMES: tuple[str, ...] = tuple(spec.name for spec in _SPECS)
DIRECTIONS: tuple[int, ...] = (0, 45, 90, 135, 180, 225, 270, 315)  # 0 = rightward, 90 = upward
PRESETS: dict[str, tuple[int, ...]] = {
    "all": tuple(range(len(CLASS_NAMES))),
    "bio-matched": (0, 2, 5, 6, 9, 10),      # biological order: low-SF, high-SF grating, neg/pos 1/3-dot
    "authors-lowsf": (0, 1, 2, 3, 4, 5),     # the authors' [:6]
    "authors-highsf": (0, 6, 7, 8, 9, 10),   # the authors' [0, 6, 7, 8, 9, 10]
}
BIO_MATCHED = PRESETS["bio-matched"]
FRAME_RATE = 30.0
N_FRAMES = 37
FRAME_SHAPE = (144, 256)
CANVAS_SHAPE = (600, 800)
RESIZE_FACTOR = 0.7

BACKGROUND = 128
GRATING_LEVELS = (68, 188)
# Dot flows, measured on the authors' images: single dots 10 and 21 px across on grids of pitch 20 and
# 42 px (1200 and 272 dots per 800x600 canvas); a triplet's dots are 6 and 12 px across and 6 and 12 px
# apart (touching), so a triplet covers about the area of one single dot.
_DOT_DIAMETER = {"D1": 10.0, "D2": 21.0}
_TRIPLET_DOT = {"D1": 6.0, "D2": 12.0}
# Gaussian jitter of grid positions as a fraction of the pitch (along the motion, across it), clipped so
# that single dots never overlap; lateral jitter of a triplet's dots as a fraction of their diameter.
# Set so that the spread of the dot lines and the share of touching triplets (hence the number of
# connected blobs) match the authors' images.
_JITTER_ALONG, _JITTER_ACROSS = 0.12, 0.04
_TRIPLET_WOBBLE = 1.0 / 16.0

_FOLDER_ENTRY = re.compile(r"(?P<name>.+)_inst(?P<instance>\d+)")


def preset_classes(name: str) -> tuple[int, ...]:
    """Class indices of a named preset (see ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown stimulus preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_names(name: str) -> tuple[str, ...]:
    """Class names of a named preset, in the preset's order."""
    return tuple(CLASS_NAMES[k] for k in preset_classes(name))


def resolve(stimuli: str | Sequence[str | int] | None, available: Sequence[str] = CLASS_NAMES, *,
            default: str = "bio-matched") -> tuple[str, ...]:
    """The stimulus names a selection means among ``available`` (a set's stimuli), in the order used.

    The one stimulus resolver of the analyses and the views. ``stimuli`` is None (the ``default`` preset),
    a preset name of ``PRESETS`` ("all" = every available stimulus, in their order), one class name, or a
    sequence of names / indices into ``available``.

    One rule for missing stimuli: a default preset the set lacks in part falls back to every available
    stimulus; stimuli asked for must all be available (ValueError naming the missing ones). The views leave
    out what a source lacks before they ask (``present``).
    """
    available = tuple(available)
    chosen = default if stimuli is None else stimuli
    if isinstance(chosen, str) and chosen not in CLASS_NAMES and chosen not in available:
        if chosen == "all":
            return available
        names = preset_names(chosen)
        missing = [s for s in names if s not in available]
        if not missing:
            return names
        if stimuli is None:
            return available
        raise ValueError(f"this set lacks the {chosen} stimuli {missing}; it has {list(available)}")
    names = tuple(_stimulus_name(s, available) for s in ([chosen] if isinstance(chosen, str) else chosen))
    if not names or len(set(names)) != len(names):
        raise ValueError(f"stimuli must be distinct and non-empty; got {list(names)}")
    return names


def _stimulus_name(stimulus: str | int, available: tuple[str, ...]) -> str:
    if isinstance(stimulus, (int, np.integer)) and not isinstance(stimulus, bool) and 0 <= stimulus < len(available):
        return available[int(stimulus)]
    if isinstance(stimulus, str) and stimulus in available:
        return stimulus
    raise ValueError(f"unknown stimulus {stimulus!r}; expected a name of {list(available)}, an index "
                     f"0..{len(available) - 1} or a preset name of {list(PRESETS)}")


def present(names: Sequence[str], available: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the names ``available`` has, the names it lacks), each in the order of ``names``."""
    return [s for s in names if s in available], [s for s in names if s not in available]


def _check_direction(direction) -> int:
    return int(check_choice(direction, DIRECTIONS, name="direction", fix="Degrees, 0 = rightward, 90 = upward."))


def _check_class_index(class_index) -> int:
    return check_int(class_index, name="class_index", low=0, high=len(CLASS_NAMES) - 1, why=" (CLASS_NAMES)")


# --------------------------------------------------------------------------------------------- suite spec
@dataclass(frozen=True)
class SuiteSpec:
    """What determines a suite: its classes, instances, frames and seed, or a folder of images.

    n_instances : int, default=3
        Instances per (class, direction); with ``folder``, the first ``n_instances`` found there.
    n_frames : int, default=37
        Frames per sequence (30 Hz).
    seed : int, default=0
        Seed of the generated images (ignored with ``folder``).
    classes : tuple of int, default=all 11
        Indices into ``CLASS_NAMES``, in the order wanted in the suite.
    folder : str or None, default=None
        A folder laid out as ``<class>_inst<k>/<deg>/0.png`` to load instead of generating.
    clips : compute.clips.ClipSet or None, default=None
        The user's clips, one class each after ``classes`` (``names``); ``classes`` may then be empty. With
        ``clips.length == "clip"`` the shortest clip's length at 30 Hz replaces ``n_frames``.
    """

    n_instances: int = 3
    n_frames: int = N_FRAMES
    seed: int = 0
    classes: tuple[int, ...] = tuple(range(11))
    folder: str | None = None
    clips: ClipSet | None = None

    def __post_init__(self) -> None:
        for name, minimum in (("n_instances", 1), ("n_frames", 1), ("seed", 0)):
            object.__setattr__(self, name, check_int(getattr(self, name), name=name, low=minimum))
        if isinstance(self.classes, (str, bytes)) or not hasattr(self.classes, "__iter__"):
            raise TypeError(f"classes must be a sequence of class indices; got {type(self.classes).__name__}")
        classes = tuple(_check_class_index(c) for c in self.classes)
        if (not classes and self.clips is None) or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be a non-empty sequence of distinct class indices; got {classes}")
        object.__setattr__(self, "classes", classes)
        if self.folder is not None:
            if not isinstance(self.folder, (str, os.PathLike)):
                raise TypeError(f"folder must be a path or None; got {type(self.folder).__name__}")
            object.__setattr__(self, "folder", os.fspath(self.folder))
        if self.clips is not None:
            from compute.clips import ClipSet

            if not isinstance(self.clips, ClipSet):
                raise TypeError(f"clips must be a compute.clips.ClipSet or None; got {type(self.clips).__name__}")
            object.__setattr__(self, "n_frames", self.clips.frames_needed(self.n_frames))

    @property
    def names(self) -> tuple[str, ...]:
        """Class names of the suite in its order: the chosen ``CLASS_NAMES``, then the clip classes."""
        return tuple(CLASS_NAMES[c] for c in self.classes) + (() if self.clips is None else self.clips.names)

    def key_parts(self) -> dict:
        """JSON-able parts for ``compute.cache.content_key``; a folder enters by the hash of its images, clips
        by the hash of their bytes and their conversion options (no "clips" part without clips, so the keys
        of clip-free suites are unchanged)."""
        generated = self.folder is None
        parts = {"version": _SUITE_VERSION, "n_instances": self.n_instances, "n_frames": self.n_frames,
                 "classes": list(self.classes), "seed": self.seed if generated else None,
                 "folder": None if generated else _folder_hash(self.folder)}
        if self.clips is not None:
            parts["clips"] = self.clips.key_parts()
        return parts


# --------------------------------------------------------------------------------------------- drawing
def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


def _motion_axes(direction: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (x, row) along the motion and across it; rows grow downwards, so 90 deg is -row."""
    theta = np.deg2rad(direction)
    along = np.array([np.cos(theta), -np.sin(theta)])
    return along, np.array([-along[1], along[0]])


def _grating(bar_width: int, direction: int) -> np.ndarray:
    """Square wave with bars perpendicular to the motion, box-filtered over each pixel's footprint.

    The phase is the authors': with x to the right and y up from the canvas's bottom-left corner (pixel
    (x, y) covering [x, x+1] x [y, y+1]), the position along the orientation is s = x cos + y sin, and the
    wave is bright for s mod (2 bar widths) < bar width. At 0 and 90 degrees edges sit on pixel borders, so
    those images have two grey levels only, as the authors' do. At multiples of 45 degrees s is
    ``scale * (a * x + b * row) + constant`` with integer a, b, so the image is a look-up of a 1-D profile.
    """
    height, width = CANVAS_SHAPE
    along, _ = _motion_axes(direction % 180)
    scale = np.abs(along).max()
    a, b = np.rint(along / scale).astype(int)
    index = a * np.arange(width)[None, :] + b * np.arange(height)[:, None]      # (600, 800) ints
    offset = index.min()
    # pixel centres: x + 1/2 and y + 1/2 = height - 1/2 - row; b = -sign(sin) because rows grow downwards
    t = scale * (np.arange(offset, index.max() + 1) + a / 2 - b * (height - 0.5))
    period = 2 * bar_width
    footprint = abs(along[0]) + abs(along[1])

    def bright_integral(s):  # integral of the 0/1 square wave (bright on the first half-period)
        return np.floor(s / period) * bar_width + np.minimum(np.mod(s, period), bar_width)

    bright = (bright_integral(t + footprint / 2) - bright_integral(t - footprint / 2)) / footprint
    low, high = GRATING_LEVELS
    profile = np.rint(low + (high - low) * bright).astype(np.uint8)
    return profile[index - offset]


def _dot_centres(spec: _ClassSpec, direction: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Centres (x, row) of shape (n_dots, 2) and the diameter of one dot, for a canvas."""
    diameter = _DOT_DIAMETER[spec.size]
    pitch = 2 * diameter
    along, across = _motion_axes(direction)
    reach = 0.5 * np.hypot(*CANVAS_SHAPE) + pitch
    n_lines = int(np.ceil(2 * reach / pitch)) + 1
    u = rng.uniform(0, pitch) - reach + pitch * np.arange(n_lines)
    v = rng.uniform(0, pitch, size=(n_lines, 1)) - reach + pitch * np.arange(n_lines)
    u = np.broadcast_to(u[:, None], v.shape)
    limit = (pitch - diameter) / 2
    u = u + np.clip(rng.normal(0, _JITTER_ALONG * pitch, v.shape), -limit, limit)
    v = v + np.clip(rng.normal(0, _JITTER_ACROSS * pitch, v.shape), -limit, limit)
    u, v = u.ravel(), v.ravel()
    if spec.group == 3:
        diameter = _TRIPLET_DOT[spec.size]
        v = (v[:, None] + diameter * np.array([-1.0, 0.0, 1.0])).ravel()
        u = np.repeat(u, 3) + rng.normal(0, _TRIPLET_WOBBLE * diameter, 3 * u.size)
    centre = np.array([CANVAS_SHAPE[1], CANVAS_SHAPE[0]]) / 2
    points = centre + u[:, None] * along + v[:, None] * across
    margin = diameter / 2 + 1
    inside = ((points[:, 0] > -margin) & (points[:, 0] < CANVAS_SHAPE[1] - 1 + margin)
              & (points[:, 1] > -margin) & (points[:, 1] < CANVAS_SHAPE[0] - 1 + margin))
    return points[inside], diameter


def _disc_coverage(centres: np.ndarray, diameter: float, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of shape ``shape`` of discs at ``centres`` (n, 2) as (x, row).

    Each pixel's coverage is 1/2 + (radius - distance of its centre), clipped; discs that overlap add up
    and are clipped at 1. All discs are drawn at once on (n, k, k) patches, summed into a canvas with a
    k-pixel margin (so that no index needs a bounds check) and cropped.
    """
    radius = diameter / 2
    k = int(np.ceil(diameter)) + 2
    height, width = shape[0] + 2 * k, shape[1] + 2 * k
    start = np.floor(centres - radius - 0.5).astype(np.int64) + k      # (n, 2) patch corner, margin frame
    offsets = np.arange(k)
    dx = (start[:, 0, None] + offsets - k - centres[:, 0, None]).astype(np.float32)    # (n, k)
    dy = (start[:, 1, None] + offsets - k - centres[:, 1, None]).astype(np.float32)    # (n, k)
    dist = np.sqrt(dy[:, :, None] ** 2 + dx[:, None, :] ** 2)                           # (n, k, k)
    cover = np.clip(np.float32(radius + 0.5) - dist, 0.0, 1.0)
    flat = ((start[:, 1, None] + offsets) * width)[:, :, None] + (start[:, 0, None] + offsets)[:, None, :]
    total = np.bincount(flat.ravel(), weights=cover.ravel(), minlength=height * width)
    return np.minimum(total.reshape(height, width)[k:-k, k:-k], 1.0)


def render_image(class_index: int, direction: int, instance: int, *, seed: int = 0) -> np.ndarray:
    """The static canvas of one (class, direction, instance).

    Parameters
    ----------
    class_index : int
        Index into ``CLASS_NAMES``.
    direction : int
        Motion direction in degrees, one of ``DIRECTIONS``.
    instance : int
        Instance number: a different dot layout for each; gratings ignore it (one image per direction).
    seed : int, default=0
        Seed of the dot layouts; images are a deterministic function of all four numbers (gratings of the
        first two only).

    Returns
    -------
    ndarray of shape (600, 800), uint8
        The canvas (rows, columns) before the 0.7 resize.
    """
    spec = _SPECS[_check_class_index(class_index)]
    direction = _check_direction(direction)
    instance = check_int(instance, name="instance", low=0)
    seed = check_int(seed, name="seed", low=0)
    if spec.bar_width:
        return _grating(spec.bar_width, direction)
    rng = _rng(seed, spec.group, int(_DOT_DIAMETER[spec.size]), direction, instance)
    centres, diameter = _dot_centres(spec, direction, rng)
    cover = _disc_coverage(centres, diameter, CANVAS_SHAPE)
    return np.rint(BACKGROUND + (spec.level - BACKGROUND) * cover).astype(np.uint8)


# --------------------------------------------------------------------------------------------- sequences
def _resize(image: np.ndarray) -> np.ndarray:
    """Lanczos resize by ``RESIZE_FACTOR`` (800x600 -> 560x420), as the authors did."""
    height, width = image.shape
    size = (round(width * RESIZE_FACTOR), round(height * RESIZE_FACTOR))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def make_sequence(image: np.ndarray, direction: int, *, n_frames: int = N_FRAMES) -> np.ndarray:
    """Frames of an image drifting along ``direction`` at 1 px per frame.

    Frame f is the resized image rolled by f px (0 deg: +x, 90 deg: up, diagonals 1 px in x and 1 px in
    y) with wrap-around, then centre-cropped.

    Parameters
    ----------
    image : ndarray of shape (height, width), uint8
        A canvas, normally (600, 800); it is resized by 0.7 first.
    direction : int
        One of ``DIRECTIONS``.
    n_frames : int, default=37

    Returns
    -------
    ndarray of shape (n_frames, 144, 256), uint8
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 grey levels; got dtype {image.dtype} "
                        "(convert with np.clip(image, 0, 255).astype(np.uint8))")
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (rows, columns), one channel; got shape {image.shape}")
    direction = _check_direction(direction)
    n_frames = check_int(n_frames, name="n_frames", low=1)
    resized = _resize(image)
    height, width = resized.shape
    crop_h, crop_w = FRAME_SHAPE
    if height < crop_h or width < crop_w:
        raise ValueError(f"image of shape {image.shape} is {resized.shape} after the {RESIZE_FACTOR} resize, "
                         f"smaller than the {FRAME_SHAPE} crop; use a canvas of about {CANVAS_SHAPE}")
    return _drift(resized, direction, np.empty((n_frames, crop_h, crop_w), dtype=np.uint8))


def _drift(resized: np.ndarray, direction: int, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (n_frames, 144, 256) with the drifting crops of ``resized``: one image (height, width),
    or one per frame (n_frames, height, width) (a clip, ``compute.clips``)."""
    n_frames, crop_h, crop_w = out.shape
    height, width = resized.shape[-2:]
    along, _ = _motion_axes(direction)
    step_x, step_row = int(np.rint(along[0])), int(np.rint(along[1]))
    pad_rows, pad_cols = abs(step_row) * (n_frames - 1), abs(step_x) * (n_frames - 1)
    pads = ((0, 0),) * (resized.ndim - 2) + ((pad_rows, pad_rows), (pad_cols, pad_cols))
    tiled = np.pad(resized, pads, mode="wrap")
    top, left = pad_rows + (height - crop_h) // 2, pad_cols + (width - crop_w) // 2
    for f in range(n_frames):
        # rolling the image by +shift moves the crop window by -shift over the (wrapped) image
        r, c = top - f * step_row, left - f * step_x
        out[f] = (tiled if tiled.ndim == 2 else tiled[f])[r:r + crop_h, c:c + crop_w]
    return out


def render_suite(spec: SuiteSpec = SuiteSpec(), *, control: JobControl | None = None) -> np.ndarray:
    """Generate every sequence of a suite (``spec.folder`` is not used here; see ``get_suite``).

    The (class, direction) cells are drawn by a pool of threads, one per CPU (the Lanczos resize and
    most numpy work release the GIL). A grating is drawn once per direction and copied to every instance.

    Returns
    -------
    ndarray of shape (n_classes, 8, n_instances, n_frames, 144, 256), uint8
        Classes in ``spec.classes`` order, directions in ``DIRECTIONS`` order.
    """
    if not isinstance(spec, SuiteSpec):
        raise TypeError(f"spec must be a SuiteSpec; got {type(spec).__name__}")
    control = ensure_control(control)
    out = np.empty((len(spec.classes), len(DIRECTIONS), spec.n_instances, spec.n_frames, *FRAME_SHAPE),
                   dtype=np.uint8)

    def draw(i: int, j: int) -> str:
        distinct = 1 if _SPECS[spec.classes[i]].bar_width else spec.n_instances
        for k in range(distinct):
            image = render_image(spec.classes[i], DIRECTIONS[j], k, seed=spec.seed)
            _drift(_resize(image), DIRECTIONS[j], out[i, j, k])
        out[i, j, distinct:] = out[i, j, :1]
        return f"{CLASS_NAMES[spec.classes[i]]} {DIRECTIONS[j]} deg"

    cells = [(i, j) for i in range(out.shape[0]) for j in range(out.shape[1])]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = [pool.submit(draw, i, j) for i, j in cells]
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                text = future.result()
                control.report(done / len(cells), text)
                control.check()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return out


def runs_per_condition(frames: np.ndarray) -> np.ndarray:
    """Sequences a deterministic model must run per condition: 1 where all instances are identical.

    A deterministic model gives the same response to each copy of a sequence, so the instance average of
    a condition whose instances are pixel-identical (the gratings, METHODS section 1) is its single run.

    Parameters
    ----------
    frames : ndarray of shape (n_classes, n_directions, n_instances, n_frames, H, W)

    Returns
    -------
    ndarray of shape (n_classes, n_directions), int
        1 or n_instances per condition.
    """
    frames = np.asarray(frames)
    if frames.ndim != 6:
        raise ValueError("frames must be (n_classes, n_directions, n_instances, n_frames, H, W); "
                         f"got shape {frames.shape}")
    n_classes, n_directions, n_instances = frames.shape[:3]
    runs = np.full((n_classes, n_directions), n_instances)
    for i in range(n_classes):
        for j in range(n_directions):
            if all(np.array_equal(frames[i, j, 0], frames[i, j, k]) for k in range(1, n_instances)):
                runs[i, j] = 1
    return runs


# --------------------------------------------------------------------------------------------- folders
def _folder_images(path) -> dict[str, list[dict[int, Path]]]:
    """``{class name: [ {direction: png path} per instance ]}`` of a folder, classes in canonical order."""
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"stimulus folder {str(root)!r} does not exist or is not a folder")
    found: dict[str, set[int]] = {}
    for entry in root.iterdir():
        match = _FOLDER_ENTRY.fullmatch(entry.name)
        if entry.is_dir() and match and match["name"] in CLASS_NAMES:
            found.setdefault(match["name"], set()).add(int(match["instance"]))
    if not found:
        raise ValueError(f"no <class>_inst<k> folders in {str(root)!r}; expected e.g. "
                         f"{CLASS_NAMES[0]}_inst0/0/0.png, with class names from {CLASS_NAMES}")
    counts = {name: len(instances) for name, instances in found.items()}
    if any(found[name] != set(range(n)) for name, n in counts.items()) or len(set(counts.values())) > 1:
        listed = {name: sorted(found[name]) for name in CLASS_NAMES if name in found}
        raise ValueError(f"every class in {str(root)!r} must have the same instances 0..k-1; got {listed}")
    layout = {name: [{d: root / f"{name}_inst{k}" / str(d) / "0.png" for d in DIRECTIONS}
                     for k in range(counts[name])] for name in CLASS_NAMES if name in found}
    missing = [str(p.relative_to(root)) for instances in layout.values() for paths in instances
               for p in paths.values() if not p.is_file()]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise ValueError(f"{len(missing)} image(s) missing in {str(root)!r}: {shown}")
    return layout


def _folder_hash(path) -> str:
    digest = hashlib.sha256()
    root = Path(path)
    for instances in _folder_images(root).values():
        for paths in instances:
            for p in paths.values():
                digest.update(str(p.relative_to(root)).encode())
                digest.update(p.read_bytes())
    return digest.hexdigest()


def _read_channel0(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        image = np.asarray(im)
    if image.ndim == 3:
        image = image[..., 0]
    if image.dtype != np.uint8:
        raise ValueError(f"{path} must be an 8-bit image; got dtype {image.dtype}")
    return image


def _load_folder(path, n_frames: int) -> tuple[tuple[str, ...], np.ndarray]:
    layout = _folder_images(path)
    n_instances = len(next(iter(layout.values())))
    out = np.empty((len(layout), len(DIRECTIONS), n_instances, n_frames, *FRAME_SHAPE), dtype=np.uint8)
    for i, instances in enumerate(layout.values()):
        for k, paths in enumerate(instances):
            for j, direction in enumerate(DIRECTIONS):
                out[i, j, k] = make_sequence(_read_channel0(paths[direction]), direction, n_frames=n_frames)
    return tuple(layout), out


def load_suite_folder(path, *, n_frames: int = N_FRAMES) -> np.ndarray:
    """Sequences made from a folder of canvases laid out as ``<class>_inst<k>/<deg>/0.png``.

    Channel 0 of each image is used. Folders of unknown names are ignored; the classes present must
    all have instances 0..k-1 and every direction.

    Returns
    -------
    ndarray of shape (n_classes_present, 8, n_instances, n_frames, 144, 256), uint8
        Classes in canonical (``CLASS_NAMES``) order.
    """
    n_frames = check_int(n_frames, name="n_frames", low=1)
    return _load_folder(path, n_frames)[1]


# --------------------------------------------------------------------------------------------- cached
def _build_suite(spec: SuiteSpec, control: JobControl | None) -> np.ndarray:
    frames = _suite_frames(spec, control) if spec.classes else None
    if spec.clips is None:
        return frames
    from compute.clips import load_clips

    clips = load_clips(spec.clips, spec.n_frames, spec.n_instances)
    return clips if frames is None else np.concatenate([frames, clips])


def _suite_frames(spec: SuiteSpec, control: JobControl | None) -> np.ndarray:
    if spec.folder is None:
        return render_suite(spec, control=control)
    names, frames = _load_folder(spec.folder, spec.n_frames)
    wanted = [CLASS_NAMES[c] for c in spec.classes]
    lacking = [name for name in wanted if name not in names]
    if lacking:
        raise ValueError(f"stimulus folder {spec.folder!r} lacks classes {lacking}; it has {list(names)}. "
                         "Choose classes it has")
    if frames.shape[2] < spec.n_instances:
        raise ValueError(f"stimulus folder {spec.folder!r} has {frames.shape[2]} instance(s) per class and "
                         f"direction; n_instances={spec.n_instances} asks for more; lower n_instances")
    return frames[[names.index(name) for name in wanted], :, :spec.n_instances]


def get_suite(spec: SuiteSpec = SuiteSpec(), *, cache: ArtifactCache | None = None,
              control: JobControl | None = None) -> np.ndarray:
    """The suite of ``spec``, from the artefact cache or built (and stored) on a miss.

    Returns
    -------
    ndarray of shape (n_classes, 8, n_instances, n_frames, 144, 256), uint8
        Classes in ``spec.names`` order (``spec.classes``, then the clips), directions in ``DIRECTIONS``
        order. A bad clip raises its ValueError and nothing is stored.
    """
    if not isinstance(spec, SuiteSpec):
        raise TypeError(f"spec must be a SuiteSpec; got {type(spec).__name__}")
    cache = default_cache() if cache is None else cache
    parts = spec.key_parts()
    key = content_key("stimuli", **parts)

    def build():
        frames = _build_suite(spec, control)
        return {"frames": frames}, {"classes": list(spec.names),
                                    "directions": list(DIRECTIONS), "shape": list(frames.shape),
                                    "frame_rate": FRAME_RATE, "spec": parts}

    arrays, _ = cache.get_or_compute(key, build)
    return arrays["frames"]
