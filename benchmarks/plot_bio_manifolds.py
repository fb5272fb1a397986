"""Images of the retina and V1 encoding manifolds from the published factors (matplotlib, benchmarks only).

Writes <out>/encoding_retina.png (coloured by cell type; untyped cells grey) and <out>/encoding_V1.png
(coloured by layer): the first three diffusion coordinates from two viewpoints, and the first two PCs
of the neural matrix. Prints the 10-NN purity of the colouring label in PC space and its chance level.

Usage: python benchmarks/plot_bio_manifolds.py [--out /tmp]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def plot(name: str, label: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from compute.bio.datasets import load_factors
    from compute.encoding.manifold import chance_purity, encoding_manifold_from_factors, neighbour_purity

    m = encoding_manifold_from_factors(load_factors(name))
    labels = np.asarray(m.units[label]).astype(str)
    kinds = sorted(set(labels.tolist()) - {""})
    colours = plt.get_cmap("tab10")
    purity, chance = neighbour_purity(m.pcs, m.units[label]), chance_purity(m.units[label])
    fig = plt.figure(figsize=(16, 5.2))
    views = [(20, 45), (60, 135)]
    for i, (elev, azim) in enumerate(views):
        ax = fig.add_subplot(1, 3, i + 1, projection="3d")
        untyped = labels == ""
        ax.scatter(*m.coords[untyped].T, s=4, c="lightgrey", alpha=0.5, label="untyped" if untyped.any() else None)
        for j, kind in enumerate(kinds):
            sel = labels == kind
            ax.scatter(*m.coords[sel].T, s=7, color=colours(j % 10), label=kind)
        ax.view_init(elev, azim)
        ax.set_xlabel("DC1"), ax.set_ylabel("DC2"), ax.set_zlabel("DC3")
        ax.set_title(f"diffusion map, view {i + 1}")
    ax = fig.add_subplot(1, 3, 3)
    ax.scatter(*m.pcs[labels == "", :2].T, s=4, c="lightgrey", alpha=0.5)
    for j, kind in enumerate(kinds):
        ax.scatter(*m.pcs[labels == kind, :2].T, s=7, color=colours(j % 10), label=kind)
    ax.set_xlabel("PC1"), ax.set_ylabel("PC2"), ax.set_title("neural matrix, PCs 1-2")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    d = m.diagnostics
    fig.suptitle(f"{name} encoding manifold (published rank-{d['rank']} factors), coloured by {label}: "
                 f"10-NN purity {purity:.2f} (chance {chance:.2f}); {d['n_pcs']} PCs, "
                 f"{d['n_clusters']} HDBSCAN clusters")
    fig.tight_layout()
    path = out / f"encoding_{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"{name}: purity of {label} {purity:.3f} (chance {chance:.3f}); clusteredness {d['clusteredness']} -> {path}")
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp", help="output folder (/tmp)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot("retina", "cell_type", out)
    plot("V1", "layer", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
