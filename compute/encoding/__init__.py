"""Encoding manifolds (METHODS.md section 5): tensor preparation, permuted CP, neural matrix, IAN kernel,
diffusion map, and the pipeline (cached as the app's "encoding" view, ``compute.workflows``). Importing this
package does not import torch."""

from compute.encoding.diffusion import DiffusionMap, diffusion_map, hdbscan_clusters
from compute.encoding.ian import IANKernel, gabriel_graph, ian_kernel
from compute.encoding.manifold import (EncodingManifold, chance_purity, clusteredness, encoding_manifold,
                                       encoding_manifold_from_factors, nearest_neighbour_outliers, neighbour_purity)
from compute.encoding.neural_matrix import NeuralMatrix, factor_coordinates, neural_matrix, reduce_pca
from compute.encoding.permuted_cp import (PermutedCPResult, RankDiagnostics, effective_dimensionality,
                                          factor_match_score, permuted_cp, rank_diagnostics)
from compute.encoding.tensor import EncodingTensor, encoding_tensor

__all__ = ["DiffusionMap", "EncodingManifold", "EncodingTensor", "IANKernel", "NeuralMatrix",
           "PermutedCPResult", "RankDiagnostics", "chance_purity", "clusteredness", "diffusion_map",
           "effective_dimensionality", "encoding_manifold", "encoding_manifold_from_factors", "encoding_tensor",
           "factor_coordinates", "factor_match_score", "gabriel_graph", "hdbscan_clusters", "ian_kernel",
           "nearest_neighbour_outliers", "neighbour_purity", "neural_matrix", "permuted_cp", "rank_diagnostics",
           "reduce_pca"]
