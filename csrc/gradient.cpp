// Attraction along P's edges and Barnes-Hut repulsion (see gradient.hpp).
#include "gradient.hpp"

#include "simd.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace tsne {
namespace {

constexpr std::int64_t kRowBlock = 512;
// A Barnes-Hut cell is split until it holds one point, or is this deep (many
// duplicates, or points closer than float rounding): its points are then summed
// one by one.
constexpr int kMaxDepth = 48;

void check_kernel(std::int64_t d, double dof) {
    if (d < 1 || d > 3) throw std::invalid_argument("the embedding must have 1 to 3 columns");
    if (!(dof > 0) || !std::isfinite(dof)) throw std::invalid_argument("dof must be > 0");
}

// w^(1/dof) = 1 / (1 + d^2 / dof) for a squared distance.
inline double root_kernel(double squared, double dof) { return 1.0 / (1.0 + squared / dof); }

// (w, w^(1 + 1/dof)) from w^(1/dof).
inline std::array<double, 2> kernel_powers(double root, double dof) {
    if (dof == 1.0) return {root, root * root};
    const double w = std::pow(root, dof);
    return {w, w * root};
}

// A cell of the Barnes-Hut tree: its sources are order[begin, end).
struct Cell {
    std::array<double, 3> center_of_mass{};
    std::array<double, 3> center{};
    double width = 0;
    std::int64_t begin = 0, end = 0;
    std::int64_t first_child = -1, n_children = 0;
};

class Tree {
public:
    Tree(const double* points, std::int64_t m, std::int64_t d) : points_(points), d_(d) {
        order_.resize(static_cast<std::size_t>(m));
        std::iota(order_.begin(), order_.end(), std::int64_t{0});
        std::array<double, 3> low{}, high{};
        for (std::int64_t k = 0; k < d; ++k) {
            low[k] = std::numeric_limits<double>::infinity();
            high[k] = -low[k];
        }
        for (std::int64_t j = 0; j < m; ++j) {
            for (std::int64_t k = 0; k < d; ++k) {
                low[k] = std::min(low[k], points[j * d + k]);
                high[k] = std::max(high[k], points[j * d + k]);
            }
        }
        double width = 0;
        std::array<double, 3> center{};
        for (std::int64_t k = 0; k < d; ++k) {
            width = std::max(width, high[k] - low[k]);
            center[k] = 0.5 * (low[k] + high[k]);
        }
        cells_.push_back({});
        build(0, 0, m, center, std::max(width, 1e-300), 0);
    }

    const std::vector<Cell>& cells() const { return cells_; }
    const std::vector<std::int64_t>& order() const { return order_; }

private:
    void build(std::int64_t cell, std::int64_t begin, std::int64_t end,
               const std::array<double, 3>& center, double width, int depth) {
        Cell& c = cells_[cell];
        c.begin = begin;
        c.end = end;
        c.width = width;
        c.center = center;
        for (std::int64_t i = begin; i < end; ++i) {
            for (std::int64_t k = 0; k < d_; ++k) c.center_of_mass[k] += points_[order_[i] * d_ + k];
        }
        for (std::int64_t k = 0; k < d_; ++k) c.center_of_mass[k] /= double(end - begin);
        if (end - begin <= 1 || depth >= kMaxDepth) return;
        // Sort the cell's sources by child (bit k: above the center on axis k).
        const std::int64_t n_octants = std::int64_t{1} << d_;
        std::vector<std::int64_t> counts(n_octants + 1, 0), octant(end - begin);
        for (std::int64_t i = begin; i < end; ++i) {
            std::int64_t o = 0;
            for (std::int64_t k = 0; k < d_; ++k) {
                if (points_[order_[i] * d_ + k] > center[k]) o |= std::int64_t{1} << k;
            }
            octant[i - begin] = o;
            ++counts[o + 1];
        }
        std::partial_sum(counts.begin(), counts.end(), counts.begin());
        std::vector<std::int64_t> sorted(end - begin);
        std::vector<std::int64_t> next(counts.begin(), counts.end() - 1);
        for (std::int64_t i = begin; i < end; ++i) sorted[next[octant[i - begin]]++] = order_[i];
        std::copy(sorted.begin(), sorted.end(), order_.begin() + begin);
        const std::int64_t first = static_cast<std::int64_t>(cells_.size());
        std::int64_t children = 0;
        for (std::int64_t o = 0; o < n_octants; ++o) children += counts[o + 1] > counts[o];
        cells_.resize(cells_.size() + children);
        cells_[cell].first_child = first;
        cells_[cell].n_children = children;
        std::int64_t child = first;
        for (std::int64_t o = 0; o < n_octants; ++o) {
            if (counts[o + 1] == counts[o]) continue;
            std::array<double, 3> child_center{};
            for (std::int64_t k = 0; k < d_; ++k) {
                child_center[k] = center[k] + ((o >> k) & 1 ? 0.25 : -0.25) * width;
            }
            build(child++, begin + counts[o], begin + counts[o + 1], child_center, 0.5 * width,
                  depth + 1);
        }
    }

    const double* points_;
    std::int64_t d_;
    std::vector<std::int64_t> order_;
    std::vector<Cell> cells_;
};

// The arrays of one attraction pass.
struct Rows {
    const std::int64_t* indptr;
    const std::int32_t* indices;
    const float* p;
    const double* y;
    const float* reference;
    std::int64_t m;  // rows of reference
    double inverse_dof, dof;
    double* attraction;
    double* row_log;
};

// The attraction of row i, for maps of D columns.  This loop over P's edges is
// most of an iteration's work: it keeps per-lane partial sums so that it runs
// in vector registers (with gathers) and its sums have the same order, hence
// the same bits, in every build.  A column index out of range is read as the
// last row and reported after the row.
template <int D>
TSNE_VECTOR_CLONES bool attract_row(const Rows& rows, std::int64_t i) {
    const std::int64_t first = rows.indptr[i];
    const std::int64_t count = rows.indptr[i + 1] - first;
    const std::int32_t* columns = rows.indices + first;
    const float* p = rows.p + first;
    const auto last = static_cast<std::uint32_t>(rows.m - 1);
    double point[D];
    for (int k = 0; k < D; ++k) point[k] = rows.y[i * D + k];
    double partial[D][kLanes] = {};
    std::uint32_t out_of_range[kLanes] = {};
    for_each_lane(count, [&](std::int64_t e, std::int64_t lane) {
        const auto column = static_cast<std::uint32_t>(columns[e]);
        out_of_range[lane] |= column > last;
        const float* other = rows.reference + std::min(column, last) * D;
        double difference[D];
        double squared = 0;
        for (int k = 0; k < D; ++k) {
            difference[k] = point[k] - double(other[k]);
            squared += difference[k] * difference[k];
        }
        const double weight = double(p[e]) / (1.0 + squared * rows.inverse_dof);
        for (int k = 0; k < D; ++k) partial[k][lane] += weight * difference[k];
    });
    for (int k = 0; k < D; ++k) rows.attraction[i * D + k] = combine_lanes(partial[k]);
    std::uint32_t any = 0;
    for (std::int64_t lane = 0; lane < kLanes; ++lane) any |= out_of_range[lane];
    return any == 0;
}

// sum_j p_ij log w_ij of row i (for the KL divergence: every KL_EVERY iterations).
double row_log_kernel(const Rows& rows, std::int64_t i, std::int64_t d) {
    double log_sum = 0;
    for (std::int64_t e = rows.indptr[i]; e < rows.indptr[i + 1]; ++e) {
        const float* other = rows.reference + std::int64_t{rows.indices[e]} * d;
        double squared = 0;
        for (std::int64_t k = 0; k < d; ++k) {
            const double difference = rows.y[i * d + k] - double(other[k]);
            squared += difference * difference;
        }
        log_sum -= double(rows.p[e]) * rows.dof * std::log1p(squared * rows.inverse_dof);
    }
    return log_sum;
}

template <int D>
void attract(const Rows& rows, std::int64_t begin, std::int64_t end, bool with_kl) {
    for (std::int64_t i = begin; i < end; ++i) {
        if (!attract_row<D>(rows, i)) throw std::invalid_argument("a column index is out of range");
        rows.row_log[i] = with_kl ? row_log_kernel(rows, i, D) : 0.0;
    }
}

}  // namespace

double attractive_forces(const std::int64_t* indptr, const std::int32_t* indices,
                         const float* p, const double* y, std::int64_t n,
                         const float* reference, std::int64_t m, std::int64_t d, double dof,
                         bool with_kl, double* attraction, const RunOptions& options) {
    check_kernel(d, dof);
    if (n < 0 || indptr[0] != 0) throw std::invalid_argument("indptr must start at 0");
    if (m < 1 && indptr[n] > 0) throw std::invalid_argument("a column index is out of range");
    std::vector<double> row_log(static_cast<std::size_t>(n), 0.0);
    const Rows rows{indptr, indices, p, y, reference, m, 1.0 / dof, dof, attraction,
                    row_log.data()};
    for_each_block(block_count(n, kRowBlock), options, [&](std::int64_t b, ParallelGuard&) {
        const std::int64_t begin = b * kRowBlock, end = std::min(n, begin + kRowBlock);
        if (d == 1) attract<1>(rows, begin, end, with_kl);
        if (d == 2) attract<2>(rows, begin, end, with_kl);
        if (d == 3) attract<3>(rows, begin, end, with_kl);
    });
    return std::accumulate(row_log.begin(), row_log.end(), 0.0);
}

void barnes_hut_repulsion(const double* y, std::int64_t n, const double* sources, std::int64_t m,
                          std::int64_t d, double dof, double theta, bool exclude_self,
                          double* repulsion, double* z, const RunOptions& options) {
    check_kernel(d, dof);
    if (!(theta >= 0)) throw std::invalid_argument("theta must be >= 0");
    if (m < 1) throw std::invalid_argument("Barnes-Hut needs at least one source point");
    const Tree tree(sources, m, d);
    const auto& cells = tree.cells();
    const auto& order = tree.order();
    const double theta2 = theta * theta;
    for_each_block(block_count(n, kRowBlock), options, [&](std::int64_t b, ParallelGuard&) {
        std::vector<std::int64_t> stack;
        const std::int64_t end = std::min(n, (b + 1) * kRowBlock);
        for (std::int64_t i = b * kRowBlock; i < end; ++i) {
            const double* point = y + i * d;
            std::array<double, 3> force{};
            double share = 0;
            // One source, or a cell standing for `count` sources at `at`.
            auto add = [&](const double* at, double count) {
                std::array<double, 3> difference{};
                double squared = 0;
                for (std::int64_t k = 0; k < d; ++k) {
                    difference[k] = point[k] - at[k];
                    squared += difference[k] * difference[k];
                }
                const auto [w, w_force] = kernel_powers(root_kernel(squared, dof), dof);
                share += count * w;
                for (std::int64_t k = 0; k < d; ++k) force[k] += count * w_force * difference[k];
            };
            stack.assign(1, 0);
            while (!stack.empty()) {
                const Cell& cell = cells[stack.back()];
                stack.pop_back();
                double squared = 0;
                for (std::int64_t k = 0; k < d; ++k) {
                    const double difference = point[k] - cell.center_of_mass[k];
                    squared += difference * difference;
                }
                bool inside = true;  // a cell that holds the point is never one far source
                for (std::int64_t k = 0; k < d; ++k) {
                    inside = inside && std::abs(point[k] - cell.center[k]) <= 0.5 * cell.width;
                }
                if (cell.n_children > 0 && !inside && cell.width * cell.width < theta2 * squared) {
                    add(cell.center_of_mass.data(), double(cell.end - cell.begin));
                } else if (cell.n_children > 0) {
                    for (std::int64_t c = cell.n_children - 1; c >= 0; --c) {
                        stack.push_back(cell.first_child + c);
                    }
                } else {
                    for (std::int64_t s = cell.begin; s < cell.end; ++s) {
                        if (exclude_self && order[s] == i) continue;
                        add(sources + order[s] * d, 1.0);
                    }
                }
            }
            for (std::int64_t k = 0; k < d; ++k) repulsion[i * d + k] = force[k];
            z[i] = share;
        }
    });
}

}  // namespace tsne
