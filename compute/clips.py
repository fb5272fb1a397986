"""The user's own clips as extra stimulus classes (issue 14, part 2).

A clip set is a folder of short videos (``.mp4``, ``.avi`` through imageio + imageio-ffmpeg; ``.gif``
through Pillow) and ``.npy`` arrays of shape (T, H, W) (grey; uint8 levels 0..255, or float: values all in
[0, 1] are scaled by 255, otherwise they must lie in [0, 255]). Other files in the folder are ignored. Each
clip becomes one class named ``clip_<stem>`` (characters other than letters, digits, '_' and '-' become
'_'), appended after the suite's classes (``compute.stimuli.SuiteSpec.clips``).

Conversion to the suite's format, one rule per step:

1. Grey: luminance Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, Pillow's "L"), rounded; alpha ignored.
2. Time: 30 Hz. The frame at tick i (t = i / 30 s) is the clip's frame on screen at t, i.e. the last one
   that started at or before t (a video's frame k starts at k / fps; a GIF's after the durations of the
   frames before it; an ``.npy`` array is taken as 30 Hz). A 60 Hz clip keeps every second frame, a 10 Hz
   one shows each frame for three ticks.
3. Size: an 800 x 600 frame (a suite canvas) is resized by 0.7 (Lanczos) exactly like the suite's images;
   any other frame is scaled (Lanczos) by the smallest factor that makes it cover 144 x 256, so nothing is
   padded. Then the centre 144 x 256 is cut out.
4. Length: the suite's ``n_frames`` (37 by default) first ticks; ``length="clip"`` sets the whole suite's
   ``n_frames`` to the shortest clip's length at 30 Hz instead (one time axis for every class).
5. Luminance (``match_mean``, default off: a clip is shown as it is): one additive offset per clip makes
   the mean of its centre crops the suite's grey 128; values are then clipped to 0..255 (so a clip with
   much black or white may end slightly off 128).
6. Directions (``directions``): "8" moves each clip like the suite moves its images
   (``compute.stimuli.make_sequence``): frame f of direction d is the clip's frame f rolled by f pixels
   along d with wrap-around, on top of the clip's own motion (a frame that just covers the crop shows the
   wrapped edge from the second frame on). "1" (natural movies, which have no direction): the unshifted
   clip fills all 8 direction slots, so the responses layout (unit, stimulus, 8 directions, time) and every
   analysis stay as they are; the 8 conditions of such a clip are identical, so its 8 points coincide in a
   decoding manifold and decoding its direction is at chance.

A clip is one instance: every instance slot holds the same sequence, so extraction runs it once. Bad input
(unreadable or non-video file, zero frames, too short, larger than ``MAX_SIDE`` pixels a side or
``MAX_DECODED_BYTES`` decoded, an empty folder) raises one ValueError naming the file and the fix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageSequence

from compute._validation import check_bool, check_choice, check_instance, check_int
from compute.stimuli import BACKGROUND, CANVAS_SHAPE, DIRECTIONS, FRAME_RATE, FRAME_SHAPE, _drift, _resize

VIDEO_EXTENSIONS = (".mp4", ".avi")
CLIP_EXTENSIONS = (*VIDEO_EXTENSIONS, ".gif", ".npy")
DIRECTION_MODES = ("8", "1")
LENGTHS = ("suite", "clip")
PREFIX = "clip_"
MAX_SIDE = 4096
MAX_DECODED_BYTES = 2**30
_LUMA = np.array([0.299, 0.587, 0.114])
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_NAME = 64


# ---------------------------------------------------------------------------------------------- the set
@dataclass(frozen=True)
class ClipSet:
    """A folder of clips and how to convert them (see the module docstring).

    folder : str, path of the folder
    directions : "8" (drifted like the suite's images) or "1" (unshifted in every direction slot)
    match_mean : bool, shift each clip's mean luminance to the suite's grey 128
    length : "suite" (the suite's n_frames) or "clip" (the shortest clip's length sets the suite's n_frames)
    """

    folder: str
    directions: str = "8"
    match_mean: bool = False
    length: str = "suite"

    def __post_init__(self) -> None:
        check_instance(self.folder, (str, os.PathLike), name="ClipSet.folder", what="a path")
        object.__setattr__(self, "folder", os.fspath(self.folder))
        check_choice(self.directions, DIRECTION_MODES, name="ClipSet.directions")
        check_choice(self.length, LENGTHS, name="ClipSet.length")
        object.__setattr__(self, "match_mean", check_bool(self.match_mean, name="ClipSet.match_mean"))

    @property
    def names(self) -> tuple[str, ...]:
        """Class names of the clips, in file-name order."""
        return tuple(clip_files(self.folder))

    def key_parts(self) -> dict:
        """JSON-able parts of a cache key: the content hash of the clips and the conversion options."""
        return {"sha256": clips_hash(self.folder), "directions": self.directions, "match_mean": self.match_mean,
                "length": self.length}

    def record(self) -> dict:
        """JSON-able record for a manifest: the folder, the options and the content hash (``from_record``)."""
        return {"folder": self.folder, **self.key_parts()}

    @classmethod
    def from_record(cls, record: dict) -> "ClipSet":
        """The set a ``record`` names; ValueError when the folder's clips are no longer the recorded ones."""
        clips = cls(folder=record["folder"], directions=record["directions"], match_mean=record["match_mean"],
                    length=record["length"])
        found = clips_hash(clips.folder)
        if found != record["sha256"]:
            raise ValueError(f"the clips in {clips.folder!r} changed since they were recorded (sha256 "
                             f"{record['sha256'][:12]}..., now {found[:12]}...); restore them to get the same keys")
        return clips

    def frames_needed(self, n_frames: int) -> int:
        """Frames per sequence: ``n_frames``, or the shortest clip's length at 30 Hz with ``length="clip"``."""
        if self.length == "suite":
            return n_frames
        return min(_clip_length(path, *_stat(path)) for path in clip_files(self.folder).values())


def clip_files(folder) -> dict[str, Path]:
    """``{class name: path}`` of the clips in ``folder``, sorted by file name; ValueError if there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"clip folder {str(root)!r} does not exist or is not a folder; create it and put "
                         f"clips ({', '.join(CLIP_EXTENSIONS)}) in it")
    files = sorted(p for p in root.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in CLIP_EXTENSIONS)
    if not files:
        raise ValueError(f"clip folder {str(root)!r} holds no clips; expected files ending in "
                         f"{', '.join(CLIP_EXTENSIONS)}")
    named: dict[str, Path] = {}
    for path in files:
        name = clip_name(path.stem)
        if name in named:
            raise ValueError(f"clips {named[name].name!r} and {path.name!r} in {str(root)!r} both become class "
                             f"{name!r}; rename one of them")
        named[name] = path
    return named


def clip_name(stem: str) -> str:
    """``clip_<stem>`` with unsafe characters as '_' and at most 64 characters (a valid stimulus name)."""
    safe = _UNSAFE.sub("_", stem).strip("_") or "unnamed"
    return (PREFIX + safe)[:_MAX_NAME]


def clip_names_in(stimuli) -> tuple[str, ...]:
    """The clip class names (``clip_name``'s form) among a stimulus selection (a name or a sequence)."""
    items = [stimuli] if isinstance(stimuli, str) else list(stimuli) if hasattr(stimuli, "__iter__") else []
    return tuple(dict.fromkeys(s for s in items if isinstance(s, str) and s.startswith(PREFIX)
                               and clip_name(s[len(PREFIX):]) == s))


def _stat(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=256)
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    # Memoised on (path, size, mtime): keys are computed on every page render, the clips may be large.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def clips_hash(folder) -> str:
    """SHA-256 of every clip's class name and bytes, in name order."""
    digest = hashlib.sha256()
    for name, path in clip_files(folder).items():
        digest.update(f"{name}\0{_file_digest(path, *_stat(path))}\0".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- reading
def _bad(path: Path, why: str) -> ValueError:
    return ValueError(f"clip {str(path)!r}: {why}")


def _unreadable(path: Path, error: Exception) -> ValueError:
    # ffmpeg's errors carry its whole banner: keep the first line and the last (the actual complaint).
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    reason = "; ".join(dict.fromkeys((lines[0], lines[-1])))[:300]
    return _bad(path, f"cannot be read as a {path.suffix.lower()} clip ({reason}). "
                      "Check that it is a video or an .npy array; re-encode it (e.g. ffmpeg -i in.mov out.mp4) "
                      "or remove it from the folder")


def _check_size(path: Path, height: int, width: int) -> None:
    if max(height, width) > MAX_SIDE:
        raise _bad(path, f"frames of {width} x {height} px exceed the limit of {MAX_SIDE} px a side; "
                         f"scale it down first (e.g. ffmpeg -i in.mp4 -vf scale=1024:-2 out.mp4)")


def _grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) uint8 luminance of a (H, W) or (H, W, 3|4) frame."""
    if frame.ndim == 3:
        frame = frame[..., :3].astype(np.float64) @ _LUMA
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def _video_frames(path: Path) -> Iterator[tuple[np.ndarray, float, float]]:
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path, plugin="FFMPEG")
        fps = float(meta["fps"])
        width, height = meta["size"]
    except Exception as error:  # imageio / ffmpeg raise many types for a file that is not a video
        raise _unreadable(path, error) from None
    _check_size(path, height, width)
    if not fps > 0:
        raise _bad(path, f"its frame rate is {fps}; re-encode it with a frame rate (e.g. ffmpeg -r 30)")
    frames = iio.imiter(path, plugin="FFMPEG")
    k = 0
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except Exception as error:
            raise _unreadable(path, error) from None
        yield frame, k / fps, (k + 1) / fps
        k += 1


def _gif_frames(path: Path) -> Iterator[tuple[np.ndarray, float, float]]:
    try:
        image = Image.open(path)
    except Exception as error:
        raise _unreadable(path, error) from None
    with image:
        _check_size(path, image.height, image.width)
        start = 0.0
        try:
            for frame in ImageSequence.Iterator(image):
                end = start + max(float(frame.info.get("duration") or 100.0), 10.0) / 1000.0
                yield np.asarray(frame.convert("RGB")), start, end
                start = end
        except (OSError, EOFError, SyntaxError) as error:
            raise _unreadable(path, error) from None


def _npy_frames(path: Path) -> Iterator[tuple[np.ndarray, float, float]]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as error:
        raise _unreadable(path, error) from None
    if array.ndim != 3:
        raise _bad(path, f"an .npy clip must be (T, H, W) grey frames; got shape {array.shape}. For RGB, "
                         "convert to luminance first")
    _check_size(path, array.shape[1], array.shape[2])
    if array.dtype == np.uint8:
        scale = 1.0
    elif np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer):
        low, high = (float(np.min(array)), float(np.max(array))) if array.size else (0.0, 0.0)
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
            raise _bad(path, f"values must lie in [0, 1] or [0, 255]; got [{low}, {high}]. Rescale it")
        scale = 255.0 if high <= 1.0 else 1.0
    else:
        raise _bad(path, f"dtype {array.dtype} is not a grey level; save uint8 (0..255) or float ([0, 1] or "
                         "[0, 255]) frames")
    for k in range(array.shape[0]):
        yield np.asarray(array[k], dtype=np.float64) * scale, k / FRAME_RATE, (k + 1) / FRAME_RATE


def _frames(path: Path) -> Iterator[tuple[np.ndarray, float, float]]:
    """(frame as decoded, start time, end time in s) of each frame of a clip."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy_frames(path)
    if suffix == ".gif":
        return _gif_frames(path)
    return _video_frames(path)


def _fit(grey: np.ndarray) -> np.ndarray:
    """Resize rule 3 of the module docstring: (H, W) uint8 -> (h, w) uint8 covering (144, 256)."""
    height, width = grey.shape
    if grey.shape == CANVAS_SHAPE:
        return _resize(grey)
    scale = max(FRAME_SHAPE[0] / height, FRAME_SHAPE[1] / width)
    if scale == 1.0:
        return grey
    size = (max(FRAME_SHAPE[1], round(width * scale)), max(FRAME_SHAPE[0], round(height * scale)))
    return np.asarray(Image.fromarray(grey).resize(size, Image.Resampling.LANCZOS))


def _read(path: Path, n_ticks: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Fitted grey frames (T, h, w) uint8, their start times (T,) in s and the last one's end, read up to the
    frame on screen at tick ``n_ticks - 1`` (all frames when None)."""
    last_tick = None if n_ticks is None else (n_ticks - 1) / FRAME_RATE
    fitted, starts, decoded, end = [], [], 0, 0.0
    for frame, start, end in _frames(path):
        if last_tick is not None and start > last_tick + 1e-9:
            break
        decoded += frame.size  # one byte per value, as 8-bit video (an .npy frame arrives as float)
        if decoded > MAX_DECODED_BYTES:
            raise _bad(path, f"more than {MAX_DECODED_BYTES / 2**20:.0f} MB of decoded frames; shorten or "
                             "scale it down first")
        if frame.ndim not in (2, 3) or min(frame.shape[:2]) < 1:
            raise _bad(path, f"frames of shape {frame.shape} are not images")
        fitted.append(_fit(_grey(frame)))
        starts.append(start)
    if not fitted:
        raise _bad(path, "it has zero frames; remove it or export it again")
    return np.stack(fitted), np.asarray(starts), end


def _ticks(starts: np.ndarray, n_ticks: int) -> np.ndarray:
    """Index (n_ticks,) of the frame on screen at each tick i / 30 s (rule 2)."""
    times = np.arange(n_ticks) / FRAME_RATE
    return np.searchsorted(starts, times + 1e-9, side="right") - 1


def _length(end: float) -> int:
    """Ticks at 30 Hz before the clip ends at ``end`` s (its last frame's end)."""
    return int(np.ceil(end * FRAME_RATE - 1e-6))


@functools.lru_cache(maxsize=64)
def _clip_length(path: Path, size: int, mtime_ns: int) -> int:
    return _length(_read(path, None)[2])


# ---------------------------------------------------------------------------------------------- converting
def convert_clip(path, n_frames: int, *, directions: str = "8", match_mean: bool = False) -> np.ndarray:
    """One clip in the suite's format (module docstring, rules 1-6).

    Parameters
    ----------
    path : path of a clip (.mp4, .avi, .gif or .npy)
    n_frames : int
        Frames at 30 Hz; the clip must last at least that long.
    directions : "8" or "1"
    match_mean : bool

    Returns
    -------
    ndarray of shape (8, n_frames, 144, 256), uint8
        Directions in ``compute.stimuli.DIRECTIONS`` order.
    """
    path = Path(path)
    n_frames = check_int(n_frames, name="n_frames", low=1)
    check_choice(directions, DIRECTION_MODES, name="directions")
    match_mean = check_bool(match_mean, name="match_mean")
    fitted, starts, end = _read(path, n_frames)
    if _length(end) < n_frames:
        raise _bad(path, f"it lasts {end:.2f} s = {_length(end)} frame(s) at "
                         f"{FRAME_RATE:g} Hz; the suite needs {n_frames}. Use a longer clip or fewer frames "
                         "(n_frames)")
    frames = fitted[_ticks(starts, n_frames)]
    height, width = frames.shape[1:]
    top, left = (height - FRAME_SHAPE[0]) // 2, (width - FRAME_SHAPE[1]) // 2
    crops = frames[:, top:top + FRAME_SHAPE[0], left:left + FRAME_SHAPE[1]]
    if match_mean:
        offset = BACKGROUND - crops.mean(dtype=np.float64)
        frames = np.clip(np.rint(frames + offset), 0, 255).astype(np.uint8)
        crops = frames[:, top:top + FRAME_SHAPE[0], left:left + FRAME_SHAPE[1]]
    out = np.empty((len(DIRECTIONS), n_frames, *FRAME_SHAPE), dtype=np.uint8)
    for j, direction in enumerate(DIRECTIONS):
        if directions == "8":
            _drift(frames, direction, out[j])
        else:
            out[j] = crops
    return out


def load_clips(clips: ClipSet, n_frames: int, n_instances: int) -> np.ndarray:
    """Every clip of a set converted, one copy per instance.

    Returns
    -------
    ndarray of shape (n_clips, 8, n_instances, n_frames, 144, 256), uint8
        Clips in ``clips.names`` order.
    """
    files = clip_files(clips.folder)
    out = np.empty((len(files), len(DIRECTIONS), n_instances, n_frames, *FRAME_SHAPE), dtype=np.uint8)
    for i, path in enumerate(files.values()):
        out[i] = convert_clip(path, n_frames, directions=clips.directions, match_mean=clips.match_mean)[:, None]
    return out


# ---------------------------------------------------------------------------------------------- the app's set
def clips_root(settings) -> Path:
    """Where a server's clip sets live: ``<data dir>/clips/<set>/``; nothing outside it can be chosen."""
    return Path(settings.data_dir) / "clips"


def clip_sets(settings) -> list[str]:
    """Names of the sub-folders of ``clips_root`` that hold clips, sorted."""
    root = clips_root(settings)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and any(f.suffix.lower() in CLIP_EXTENSIONS for f in p.iterdir() if f.is_file()))


def set_folder(settings, name: str) -> Path:
    """The folder of clip set ``name`` under ``clips_root``; ValueError for anything else (no paths)."""
    available = clip_sets(settings)
    if name not in available:
        raise ValueError(f"no clip set {name!r} in {str(clips_root(settings))!r}; sets there: {available}. "
                         "Put a folder of clips there first")
    return clips_root(settings) / name


def _active_file(settings) -> Path:
    return Path(settings.cache_dir) / "clips_active.json"


def active_clips(settings) -> ClipSet | None:
    """The clip set this server's pages use (chosen on the Stimuli page), or None."""
    try:
        chosen = json.loads(_active_file(settings).read_text())
        return ClipSet(folder=str(set_folder(settings, chosen["set"])), directions=chosen["directions"],
                       match_mean=chosen["match_mean"], length=chosen["length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none chosen, or the chosen folder was removed: the suite alone


def choose_clips(settings, name: str | None, *, directions: str = "8", match_mean: bool = False,
                 length: str = "suite", n_frames: int = 37) -> ClipSet | None:
    """Make set ``name`` (None: no clips) the one the pages use, after converting every clip once.

    Every clip is read and converted first (``n_frames`` frames), so a bad file raises its ValueError here
    and nothing is chosen.
    """
    check_int(n_frames, name="n_frames", low=1)
    match_mean = check_bool(match_mean, name="match_mean")
    target = _active_file(settings)
    if name is None:
        target.unlink(missing_ok=True)
        return None
    clips = ClipSet(folder=str(set_folder(settings, name)), directions=directions,
                    match_mean=match_mean, length=length)
    frames = clips.frames_needed(n_frames)
    for path in clip_files(clips.folder).values():
        convert_clip(path, frames, directions=directions, match_mean=match_mean)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"set": name, "directions": directions, "match_mean": match_mean,
                                     "length": length}))
    temporary.replace(target)
    return clips
