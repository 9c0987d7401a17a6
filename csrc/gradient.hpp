// The t-SNE gradient's parts: attraction along P's edges, and the repulsion
// of all pairs, by interpolation on a grid (FIt-SNE) or by Barnes-Hut.
//
// The kernel is w(d) = (1 + d^2 / dof)^(-dof); dof = 1 is classic t-SNE.  For
// an embedding y (n x d, row-major) the KL gradient, without the constant
// factor 4 (as openTSNE, whose learning rates assume it), is
//   attraction_i - repulsion_i / Z,
//   attraction_i = sum_j p_ij w_ij^(1/dof) (y_i - y_j),
//   repulsion_i  = sum_j w_ij^(1+1/dof) (y_i - y_j),   Z = sum_{i != j} w_ij.
// Every result is the same for any options.n_threads: each output value is
// summed by one thread in a fixed order.
#pragma once

#include <cstdint>

#include "parallel.hpp"

namespace tsne {

// attraction (n x d) of y along the CSR matrix (indptr n + 1, indices, p) whose
// columns index `reference` (m x d: y itself, or a fixed map that new points
// are placed against).  The reference is single precision: the reads jump
// across the whole map, and half the bytes keep more of it in cache; its
// rounding (1e-7 of the map's extent) is far below the steps' own noise.  Returns sum_ij p_ij log w_ij, the attraction's part of
// the KL divergence, when `with_kl` (its logarithms cost more than the forces),
// else 0.
double attractive_forces(const std::int64_t* indptr, const std::int32_t* indices,
                         const float* p, const double* y, std::int64_t n,
                         const float* reference, std::int64_t m, std::int64_t d, double dof,
                         bool with_kl, double* attraction, const RunOptions& options);

// A grid over the square (cube) [lower, lower + n_boxes * box_width)^d, each
// box holding `points_per_box` equispaced interpolation nodes per dimension,
// so n_boxes * points_per_box nodes per dimension in all (node_count()).
struct InterpolationGrid {
    std::int64_t dimensions;      // 1, 2 or 3
    std::int64_t n_boxes;         // per dimension
    std::int64_t points_per_box;  // per dimension, >= 1
    double lower;                 // the same on every axis
    double box_width;             // > 0

    std::int64_t nodes_per_axis() const { return n_boxes * points_per_box; }
    std::int64_t node_count() const;
};

// charges ((d + 1) x node_count(), row-major, each grid in C order with axis k
// the embedding's dimension k): the Lagrange interpolation onto the nodes of
// each point's box of the charges 1, y_0, ..., y_{d-1}.  Points outside the grid
// are given to the nearest box (their weights extrapolate).  Single precision,
// as the FFTs that convolve them.
void spread_charges(const double* y, std::int64_t n, const InterpolationGrid& grid,
                    float* charges, const RunOptions& options);

// values (n x n_fields): the n_fields potentials interpolated at each point
// from the nodes of its box.  potentials (node_count() x n_fields, nodes in
// the order of charges above) holds a node's fields together: a point's
// stencil then reads a few cache lines instead of a few per field.
void interpolate_potentials(const double* y, std::int64_t n, const InterpolationGrid& grid,
                            const float* potentials, std::int64_t n_fields, double* values,
                            const RunOptions& options);

// Barnes-Hut estimate of repulsion (n x d) and of each point's share of Z,
// sum_j w_ij (z, n), of the points y against the points `sources` (m x d, y
// itself when fitting: a point's own term, w = 1, is then left out by
// `exclude_self`).  A cell of width s at distance r from a point stands for
// its points when s / r < theta (theta = 0: exact).  d <= 3.
void barnes_hut_repulsion(const double* y, std::int64_t n, const double* sources, std::int64_t m,
                          std::int64_t d, double dof, double theta, bool exclude_self,
                          double* repulsion, double* z, const RunOptions& options);

}  // namespace tsne
