"""The biological references: mouse retina and V1 (Dyballa et al., PNAS 2024; METHODS.md section 3).

Two sources, in order of preference:

1. the authors' full trace tensors (N, 6, 8, 135), when a user has them (``traces=`` or
   TWINSCOPE_BIO_TRACES);
2. the published permuted-CP factors, always available (``python -m compute bio fetch``). Their
   reconstruction is direction-aligned (the direction shifts of the permuted decomposition were not saved),
   so :func:`load_dataset` gives each neuron one seeded direction offset and labels the set
   "reconstructed from published factors". Crossing numbers (S_cross) on such a set are unreliable.

Every file is checked against its pinned SHA-256 before it is parsed, and pickles go through the
restricted unpickler of :mod:`compute.bio.safe_pickle`.

The cell-info entries are not in factor-row order and some factor rows have no entry. The join
(:func:`match_cells_to_factor_rows`) aligns, in order, each factor row's per-stimulus response size with
each cell's significance flags, allowing exactly ``n_rows - n_cells`` skipped rows. It is derived at load
time and reproduces the reference table ``cell_to_factor_row.json`` of shared/data/bio exactly (V1 skips
factor rows 43, 45, 78, 242; retina 486, 977, 1029), so no derived table ships with the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compute._validation import check_random_state
from compute.bio.fetch import FILES, default_bio_dir, verify_file
from compute.bio.safe_pickle import safe_load_object_npy, safe_load_pickle
from compute.responses import ResponseSet
from compute.stimuli import preset_names

DATASETS = ("retina", "V1")
#: The canonical class names of the 6 biological stimuli, in biological (= factor) order: the
#: "bio-matched" preset.
BIO_STIMULI = preset_names("bio-matched")
N_DIRECTIONS = 8
N_TIME = 135
ONSET_INDEX = 10

# dataset -> (factors file, lambdas file, cell-info file, 'sig. stims' keys in BIO_STIMULI order)
_SOURCES = {
    "retina": ("retina_R16_best_factors.npy", "retina_R16_best_lambdas.npy", "retina_cell_info.pkl",
               ("alow-grats", "high-grats", "neg-flow_1dot_bg", "neg-flow_3dot_bg", "pos-flow_1dot_bg",
                "pos-flow_3dot_bg")),
    "V1": ("R17_factors.npy", "R17_lambdas.npy", "V1_cell_info.pkl",
           ("alow-grats", "high-grats", "neg-1dot", "neg-3dot", "pos-1dot", "pos-3dot")),
}
# cell-info key -> unit column name (None values become '')
_CELL_COLUMNS = {"retina": {"type": "cell_type"}, "V1": {"layer": "layer", "put. type": "put_type"}}
_TRACE_FILE_NAMES = ("{name}_tensor_traces.npy", "tensor4d_{name}.npy")


@dataclass(frozen=True, eq=False)
class BioFactors:
    """The published permuted non-negative CP factors of one dataset, joined to its cell info.

    Attributes
    ----------
    name : str
        "retina" or "V1".
    lambdas : ndarray of shape (R,)
        Component weights.
    neurons : ndarray of shape (n_rows, R)
        Neuron factors, one row per factor row (more rows than cells: some rows have no cell entry).
    stimuli : ndarray of shape (6, R)
        Stimulus factors, rows in ``BIO_STIMULI`` order.
    maps : ndarray of shape (8 * 135, R)
        Response-map factors, flattened in Fortran order: index = direction + 8 * time.
    cell_rows : ndarray of shape (n_cells,), int
        Factor row of each cell-info entry.
    cells : dict of str -> ndarray of shape (n_cells,)
        Per-cell metadata: cell_id, experiment, and cell_type ('' for untyped; retina) or layer and
        put_type (V1).
    significant : ndarray of shape (n_cells, 6), bool
        Significant response to each stimulus.
    """

    name: str
    lambdas: np.ndarray
    neurons: np.ndarray
    stimuli: np.ndarray
    maps: np.ndarray
    cell_rows: np.ndarray
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    significant: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return self.lambdas.shape[0]

    @property
    def n_cells(self) -> int:
        return self.cell_rows.shape[0]

    def row_tensor(self, rows: np.ndarray | None = None) -> np.ndarray:
        """sum_r lambda_r a_r (x) b_r (x) c_r for factor rows ``rows`` (default all).

        Returns
        -------
        ndarray of shape (n_rows_selected, 6, 8, 135), float64, direction-aligned.
        """
        a = self.neurons if rows is None else self.neurons[np.asarray(rows)]
        weights = (a * self.lambdas)[:, None, :] * self.stimuli[None]          # (n, 6, R)
        flat = weights @ self.maps.T                                            # (n, 6, 1080)
        # Fortran order index = direction + 8 * time, i.e. C order (time, direction).
        return flat.reshape(a.shape[0], self.stimuli.shape[0], -1, N_DIRECTIONS).transpose(0, 1, 3, 2)

    def to_tensor(self) -> np.ndarray:
        """The reconstruction for the cells, in cell-info order.

        Returns
        -------
        ndarray of shape (n_cells, 6, 8, 135), float64, direction-aligned.
        """
        return self.row_tensor(self.cell_rows)

    def response_sizes(self) -> np.ndarray:
        """L2 norm of every factor row's reconstructed (direction x time) map per stimulus.

        Returns
        -------
        ndarray of shape (n_rows, 6)
        """
        return _response_sizes(self.lambdas, self.neurons, self.stimuli, self.maps)


def _response_sizes(lambdas: np.ndarray, neurons: np.ndarray, stimuli: np.ndarray, maps: np.ndarray) -> np.ndarray:
    weights = (neurons * lambdas)[:, None, :] * stimuli[None]        # (n_rows, 6, R)
    gram = maps.T @ maps                                             # (R, R): the maps are not orthogonal
    return np.sqrt(np.maximum(np.einsum("isr,rq,isq->is", weights, gram, weights), 0.0))


def match_cells_to_factor_rows(row_sizes: np.ndarray, significant: np.ndarray) -> np.ndarray:
    """Order-preserving join of cell-info entries to factor rows.

    Each cell j is matched to a factor row f(j) with f strictly increasing, skipping exactly
    ``n_rows - n_cells`` rows, so that sum_j sum_s (size[f(j), s] - significant[j, s])^2 is minimal
    (dynamic programming). Factor maps have unit norm, so a significant response has size about 1 and a
    non-significant one about 0.

    Parameters
    ----------
    row_sizes : ndarray of shape (n_rows, n_stimuli)
        Response size of every factor row per stimulus (``BioFactors.response_sizes``).
    significant : ndarray of shape (n_cells, n_stimuli), bool
        Significance flags of the cells, in cell-info order.

    Returns
    -------
    ndarray of shape (n_cells,), int
        Factor row of each cell.
    """
    sizes = np.asarray(row_sizes, dtype=np.float64)
    sig = np.asarray(significant, dtype=np.float64)
    if sizes.ndim != 2 or sig.ndim != 2 or sizes.shape[1] != sig.shape[1]:
        raise ValueError(f"row_sizes (n_rows, n_stimuli) and significant (n_cells, n_stimuli) must be 2-D with "
                         f"the same number of stimuli; got {sizes.shape} and {sig.shape}")
    n_rows, n_cells = sizes.shape[0], sig.shape[0]
    n_skip = n_rows - n_cells
    if n_skip < 0:
        raise ValueError(f"{n_cells} cells cannot be matched to only {n_rows} factor rows")
    offsets = np.arange(n_skip + 1)
    # cost[j, s]: cell j placed on row j + s (s rows skipped before it)
    cost = ((sizes[np.arange(n_cells)[:, None] + offsets[None, :]] - sig[:, None, :]) ** 2).sum(axis=2)
    total = np.zeros(n_skip + 1)
    back = np.zeros((n_cells, n_skip + 1), dtype=np.int64)
    for j in range(n_cells):
        # best predecessor state with at most s skips (earliest on ties)
        best_prev = np.minimum.accumulate(total)
        back[j] = [int(np.argmin(total[: s + 1])) for s in offsets]
        total = best_prev + cost[j]
    rows = np.empty(n_cells, dtype=np.int64)
    s = int(np.argmin(total))
    for j in range(n_cells - 1, -1, -1):
        rows[j] = j + s
        s = back[j, s]
    return rows


def resolve_bio_dir(data_dir: str | os.PathLike | None) -> Path:
    """The folder holding the files: ``data_dir`` itself, its ``bio/`` subfolder, or the settings' default."""
    if data_dir is None:
        return default_bio_dir()
    path = Path(data_dir)
    if not any((path / name).exists() for name in FILES) and (path / "bio").is_dir():
        return path / "bio"
    return path


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    return name


def _cell_table(info: object, name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    sig_keys = _SOURCES[name][3]
    if not isinstance(info, dict) or sorted(info) != list(range(len(info))):
        raise ValueError(f"{name} cell info must be a dict keyed 0..n-1")
    entries = [info[j] for j in range(len(info))]
    significant = np.empty((len(entries), len(sig_keys)), dtype=bool)
    for j, entry in enumerate(entries):
        flags = entry["sig. stims"]
        if tuple(flags) != sig_keys:
            raise ValueError(f"{name} cell {j}: 'sig. stims' keys {tuple(flags)} differ from {sig_keys}")
        significant[j] = [bool(flags[k]) for k in sig_keys]
    cells = {"cell_id": np.arange(len(entries)),
             "experiment": np.array([str(e["experiment"]) for e in entries])}
    for key, column in _CELL_COLUMNS[name].items():
        values = [e[key] for e in entries]
        cells[column] = (np.array(["" if v is None else str(v) for v in values])
                         if any(v is None or isinstance(v, str) for v in values) else np.array(values))
    return cells, significant


def load_factors(name: str, *, data_dir: str | os.PathLike | None = None) -> BioFactors:
    """The published factors and cell info of one dataset, checksum-verified and safely unpickled.

    Parameters
    ----------
    name : {"retina", "V1"}
    data_dir : path, default=None
        Folder with the published files (or a data folder whose ``bio/`` holds them); None means
        ``Settings.from_env().bio_dir``.

    Returns
    -------
    BioFactors
        retina: 1149 factor rows, rank 16, 1146 cells; V1: 641 rows, rank 17, 637 cells.
    """
    _check_name(name)
    folder = resolve_bio_dir(data_dir)
    factors_file, lambdas_file, info_file, _ = _SOURCES[name]
    paths = {f: verify_file(folder / f, f) for f in (factors_file, lambdas_file, info_file)}
    neurons, stimuli, maps = (np.asarray(m, dtype=np.float64) for m in safe_load_object_npy(paths[factors_file]))
    lambdas = np.asarray(safe_load_object_npy(paths[lambdas_file]), dtype=np.float64)
    cells, significant = _cell_table(safe_load_pickle(paths[info_file]), name)
    cell_rows = match_cells_to_factor_rows(_response_sizes(lambdas, neurons, stimuli, maps), significant)
    return BioFactors(name=name, lambdas=lambdas, neurons=neurons, stimuli=stimuli, maps=maps,
                      cell_rows=cell_rows, cells=cells, significant=significant)


def _find_traces(name: str, traces: str | os.PathLike | None) -> Path | None:
    """The trace file to use: ``traces`` (a file, or a folder with a known file name), else the
    TWINSCOPE_BIO_TRACES folder when it holds one, else None."""
    from compute.config import Settings

    explicit = traces is not None
    folder = Path(traces) if explicit else Settings.from_env().bio_traces_dir
    if folder is None:
        return None
    if folder.is_file():
        return folder
    candidates = [folder / pattern.format(name=name) for pattern in _TRACE_FILE_NAMES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if explicit:
        raise FileNotFoundError(f"no {name} trace tensor at {folder}; expected a .npy file or a folder with "
                                f"one of {[c.name for c in candidates]}")
    return None


def _load_traces(path: Path, name: str, n_cells: int) -> np.ndarray:
    try:
        traces = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"{path} is not a plain numeric .npy array ({exc}); expected the authors' "
                         f"{name} trace tensor") from None
    expected = (n_cells, len(BIO_STIMULI), N_DIRECTIONS, N_TIME)
    if traces.shape != expected:
        raise ValueError(f"{name} traces must have shape {expected} (cell, stimulus, direction, time); "
                         f"got {traces.shape} from {path}")
    if not np.issubdtype(traces.dtype, np.number):
        raise ValueError(f"{name} traces must be numeric; got dtype {traces.dtype} from {path}")
    if not np.all(np.isfinite(traces)):
        raise ValueError(f"{name} traces contain NaN or infinite values ({path})")
    if traces.min() < 0:
        raise ValueError(f"{name} traces must be non-negative firing rates; minimum is {traces.min():.3g} "
                         f"in {path}")
    return traces.astype(np.float32)


def load_dataset(name: str, *, data_dir: str | os.PathLike | None = None,
                 traces: str | os.PathLike | None = None,
                 random_state: int | np.random.Generator | None = 0) -> ResponseSet:
    """The retina or V1 responses as a ResponseSet of shape (n_cells, 6, 8, 135).

    Parameters
    ----------
    name : {"retina", "V1"}
    data_dir : path, default=None
        Folder with the published files (see :func:`load_factors`).
    traces : path, default=None
        The authors' trace tensor (a ``.npy`` of shape (n_cells, 6, 8, 135)) or a folder holding
        ``<name>_tensor_traces.npy`` / ``tensor4d_<name>.npy``. None uses TWINSCOPE_BIO_TRACES when it holds
        this dataset, else the reconstruction from the published factors.
    random_state : int, Generator or None, default=0
        Seeds the per-neuron direction offsets of a reconstruction.

    Returns
    -------
    ResponseSet
        responses (n_cells, 6, 8, 135); stimuli ``BIO_STIMULI``; time ``arange(135)`` in "bin", onset at
        bin 10; unit columns cell_id, experiment, cell_type or layer/put_type, factor_row (and
        direction_offset for a reconstruction); significant (n_cells, 6);
        provenance["reconstructed"] says which source was used.
    """
    _check_name(name)
    rng = check_random_state(random_state)
    factors = load_factors(name, data_dir=data_dir)
    trace_path = _find_traces(name, traces)
    units = {**factors.cells, "factor_row": factors.cell_rows}
    provenance = {"dataset": name, "reference": "Dyballa et al., PNAS 121(4) e2317773121 (2024)",
                  "files": {f: FILES[f][1] for f in _SOURCES[name][:3]}}
    if trace_path is not None:
        responses = _load_traces(trace_path, name, factors.n_cells)
        provenance.update(label=name, reconstructed=False, traces=str(trace_path))
    else:
        aligned = factors.to_tensor()
        offsets = rng.integers(0, N_DIRECTIONS, size=factors.n_cells)
        responses = np.empty(aligned.shape, dtype=np.float32)
        for i, shift in enumerate(offsets):
            responses[i] = np.roll(aligned[i], shift, axis=1)
        units["direction_offset"] = offsets
        provenance.update(label=f"{name} (reconstructed from published factors)", reconstructed=True,
                          random_state=random_state if isinstance(random_state, (int, np.integer)) else None,
                          note="direction-aligned reconstruction with one seeded direction offset per neuron; "
                               "crossing numbers (S_cross) on it are unreliable")
    return ResponseSet(responses=responses, stimuli=BIO_STIMULI, time=np.arange(N_TIME, dtype=np.float64),
                       time_unit="bin", onset_index=ONSET_INDEX, units=units, significant=factors.significant,
                       provenance=provenance)
