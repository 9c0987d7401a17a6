// Charges spread onto, and potentials read from, the interpolation grid of
// FIt-SNE (Linderman et al., 2019): Lagrange polynomials through the
// equispaced nodes of each point's box (see gradient.hpp).
#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "gradient.hpp"

namespace tsne {
namespace {

constexpr std::int64_t kPointBlock = 1024;
constexpr std::int64_t kBoxBlock = 64;
constexpr std::int64_t kMaxPointsPerBox = 8;

// Where a point sits on the grid: its box's first node on each axis and the
// Lagrange weights of the box's nodes on each axis.
struct Stencil {
    std::array<std::int64_t, 3> first_node{};
    std::array<std::array<double, kMaxPointsPerBox>, 3> weights{};
    std::int64_t box = 0;  // flat box number, C order
};

class Interpolator {
public:
    explicit Interpolator(const InterpolationGrid& grid) : grid_(grid) {
        const std::int64_t p = grid.points_per_box;
        if (grid.dimensions < 1 || grid.dimensions > 3) {
            throw std::invalid_argument("the grid must have 1 to 3 dimensions");
        }
        if (p < 1 || p > kMaxPointsPerBox || grid.n_boxes < 1) {
            throw std::invalid_argument("the grid needs at least one box of 1 to 8 nodes");
        }
        if (!(grid.box_width > 0) || !std::isfinite(grid.box_width) || !std::isfinite(grid.lower)) {
            throw std::invalid_argument("the grid's boxes must have a finite width > 0");
        }
        for (std::int64_t k = 0; k < p; ++k) nodes_[k] = (k + 0.5) / double(p);
        for (std::int64_t k = 0; k < p; ++k) {
            double denominator = 1;
            for (std::int64_t l = 0; l < p; ++l) {
                if (l != k) denominator *= nodes_[k] - nodes_[l];
            }
            inverse_denominators_[k] = 1.0 / denominator;
        }
    }

    Stencil stencil(const double* point) const {
        Stencil s;
        const std::int64_t p = grid_.points_per_box;
        for (std::int64_t k = 0; k < grid_.dimensions; ++k) {
            if (!std::isfinite(point[k])) throw std::invalid_argument("the embedding is not finite");
            const double position = (point[k] - grid_.lower) / grid_.box_width;
            const std::int64_t box = std::clamp<std::int64_t>(
                static_cast<std::int64_t>(std::floor(position)), 0, grid_.n_boxes - 1);
            const double u = position - double(box);
            for (std::int64_t a = 0; a < p; ++a) {
                double product = inverse_denominators_[a];
                for (std::int64_t b = 0; b < p; ++b) {
                    if (b != a) product *= u - nodes_[b];
                }
                s.weights[k][a] = product;
            }
            s.first_node[k] = box * p;
            s.box = s.box * grid_.n_boxes + box;
        }
        return s;
    }

    // visit(node, weight) for each of the p^d nodes of the stencil's box.
    template <class Visit>
    void for_each_node(const Stencil& s, Visit&& visit) const {
        const std::int64_t p = grid_.points_per_box, d = grid_.dimensions;
        const std::int64_t axis = grid_.nodes_per_axis();
        // Axes beyond d have one node of weight 1 and stride 0: three nested loops serve 1-D to 3-D.
        std::array<std::int64_t, 3> count{1, 1, 1}, stride{0, 0, 0}, first{0, 0, 0};
        std::array<std::array<double, kMaxPointsPerBox>, 3> weight{};
        for (std::int64_t k = 0; k < 3; ++k) weight[k][0] = 1.0;
        std::int64_t scale = 1;
        for (std::int64_t k = d - 1; k >= 0; --k) {
            count[k] = p;
            stride[k] = scale;
            first[k] = s.first_node[k] * scale;
            weight[k] = s.weights[k];
            scale *= axis;
        }
        for (std::int64_t a = 0; a < count[0]; ++a) {
            for (std::int64_t b = 0; b < count[1]; ++b) {
                const double ab = weight[0][a] * weight[1][b];
                const std::int64_t row = first[0] + a * stride[0] + first[1] + b * stride[1];
                for (std::int64_t c = 0; c < count[2]; ++c) {
                    visit(row + first[2] + c * stride[2], ab * weight[2][c]);
                }
            }
        }
    }

private:
    InterpolationGrid grid_;
    std::array<double, kMaxPointsPerBox> nodes_{};
    std::array<double, kMaxPointsPerBox> inverse_denominators_{};
};

std::int64_t box_count(const InterpolationGrid& grid) {
    std::int64_t boxes = 1;
    for (std::int64_t k = 0; k < grid.dimensions; ++k) boxes *= grid.n_boxes;
    return boxes;
}

}  // namespace

std::int64_t InterpolationGrid::node_count() const {
    std::int64_t nodes = 1;
    for (std::int64_t k = 0; k < dimensions; ++k) nodes *= nodes_per_axis();
    return nodes;
}

void spread_charges(const double* y, std::int64_t n, const InterpolationGrid& grid,
                    float* charges, const RunOptions& options) {
    const Interpolator interpolator(grid);
    const std::int64_t d = grid.dimensions, nodes = grid.node_count(), boxes = box_count(grid);
    // Points by box, in index order within a box: each box's nodes are written by
    // the one thread that owns the box, in the same order for any thread count.
    std::vector<std::int64_t> box_of(static_cast<std::size_t>(n));
    for_each_block(block_count(n, kPointBlock), options, [&](std::int64_t b, ParallelGuard&) {
        const std::int64_t end = std::min(n, (b + 1) * kPointBlock);
        for (std::int64_t i = b * kPointBlock; i < end; ++i) {
            box_of[i] = interpolator.stencil(y + i * d).box;
        }
    });
    std::vector<std::int64_t> starts(boxes + 1, 0), order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) ++starts[box_of[i] + 1];
    for (std::int64_t b = 0; b < boxes; ++b) starts[b + 1] += starts[b];
    std::vector<std::int64_t> next(starts.begin(), starts.end() - 1);
    for (std::int64_t i = 0; i < n; ++i) order[next[box_of[i]]++] = i;
    std::fill(charges, charges + (d + 1) * nodes, 0.0f);
    for_each_block(block_count(boxes, kBoxBlock), options, [&](std::int64_t b, ParallelGuard&) {
        const std::int64_t end = std::min(boxes, (b + 1) * kBoxBlock);
        for (std::int64_t s = starts[b * kBoxBlock]; s < starts[end]; ++s) {
            const double* point = y + order[s] * d;
            interpolator.for_each_node(interpolator.stencil(point),
                                       [&](std::int64_t node, double weight) {
                charges[node] += static_cast<float>(weight);
                for (std::int64_t k = 0; k < d; ++k) {
                    charges[(k + 1) * nodes + node] += static_cast<float>(weight * point[k]);
                }
            });
        }
    });
}

void interpolate_potentials(const double* y, std::int64_t n, const InterpolationGrid& grid,
                            const float* potentials, std::int64_t n_fields, double* values,
                            const RunOptions& options) {
    const Interpolator interpolator(grid);
    const std::int64_t d = grid.dimensions;
    for_each_block(block_count(n, kPointBlock), options, [&](std::int64_t b, ParallelGuard&) {
        const std::int64_t end = std::min(n, (b + 1) * kPointBlock);
        for (std::int64_t i = b * kPointBlock; i < end; ++i) {
            double* value = values + i * n_fields;
            std::fill(value, value + n_fields, 0.0);
            interpolator.for_each_node(interpolator.stencil(y + i * d),
                                       [&](std::int64_t node, double weight) {
                const float* fields = potentials + node * n_fields;
                for (std::int64_t f = 0; f < n_fields; ++f) value[f] += weight * fields[f];
            });
        }
    });
}

}  // namespace tsne
