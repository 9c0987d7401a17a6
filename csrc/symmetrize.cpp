#include "symmetrize.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace tsne {
namespace {

constexpr std::int64_t kRowBlock = 1024;

using Entry = std::pair<std::int32_t, double>;  // (column, value)

// The transpose of the neighbour graph: for each point j, the points i that list
// j as a neighbour (ascending) and their P(j|i).
struct Transpose {
    std::vector<std::int64_t> indptr;
    std::vector<std::int32_t> sources;
    std::vector<double> values;
};

Transpose transpose(const std::int64_t* neighbors, const double* conditional, std::int64_t n,
                    std::int64_t k) {
    Transpose t{std::vector<std::int64_t>(n + 1, 0), std::vector<std::int32_t>(n * k),
                std::vector<double>(n * k)};
    for (std::int64_t e = 0; e < n * k; ++e) ++t.indptr[neighbors[e] + 1];
    for (std::int64_t j = 0; j < n; ++j) t.indptr[j + 1] += t.indptr[j];
    std::vector<std::int64_t> cursor(t.indptr.begin(), t.indptr.end() - 1);
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t c = 0; c < k; ++c) {
            const std::int64_t slot = cursor[neighbors[i * k + c]]++;
            t.sources[slot] = static_cast<std::int32_t>(i);
            t.values[slot] = conditional[i * k + c];
        }
    }
    return t;
}

void check_row(const std::int64_t* neighbors, const double* conditional, std::int64_t i,
               std::int64_t n, std::int64_t k) {
    for (std::int64_t c = 0; c < k; ++c) {
        const std::int64_t j = neighbors[c];
        if (j < 0 || j >= n) {
            throw std::invalid_argument("neighbour index " + std::to_string(j) + " in row " +
                                        std::to_string(i) + " is outside [0, " +
                                        std::to_string(n) + ")");
        }
        if (j == i) {
            throw std::invalid_argument("row " + std::to_string(i) +
                                        " lists the point itself as a neighbour");
        }
        const double p = conditional[c];
        if (!(p >= 0.0) || !std::isfinite(p)) {
            throw std::invalid_argument("conditional probabilities must be finite and "
                                        "non-negative; row " + std::to_string(i) + " has " +
                                        std::to_string(p));
        }
    }
}

// Row i's own neighbours sorted by column.
void sorted_row(const std::int64_t* neighbors, const double* conditional, std::int64_t i,
                std::int64_t k, std::vector<Entry>& own) {
    own.clear();
    for (std::int64_t c = 0; c < k; ++c) {
        own.emplace_back(static_cast<std::int32_t>(neighbors[c]), conditional[c]);
    }
    std::sort(own.begin(), own.end());
    for (std::int64_t c = 1; c < k; ++c) {
        if (own[c].first == own[c - 1].first) {
            throw std::invalid_argument("row " + std::to_string(i) + " lists neighbour " +
                                        std::to_string(own[c].first) + " twice");
        }
    }
}

// Merges row i's own entries with the transposed ones.  With `columns` and
// `values` null it only counts the distinct columns; otherwise it writes the
// summed entries there.  Returns (count, sum of the written values).
std::pair<std::int64_t, double> merge_row(const std::vector<Entry>& own, const Transpose& t,
                                          std::int64_t i, std::int32_t* columns,
                                          double* values) {
    std::int64_t a = 0, count = 0;
    std::int64_t b = t.indptr[i];
    const std::int64_t a_end = static_cast<std::int64_t>(own.size()), b_end = t.indptr[i + 1];
    double sum = 0.0;
    while (a < a_end || b < b_end) {
        std::int32_t column;
        double value;
        if (b == b_end || (a < a_end && own[a].first < t.sources[b])) {
            column = own[a].first;
            value = own[a++].second;
        } else if (a == a_end || t.sources[b] < own[a].first) {
            column = t.sources[b];
            value = t.values[b++];
        } else {
            column = own[a].first;
            value = own[a++].second + t.values[b++];
        }
        if (columns) {
            columns[count] = column;
            values[count] = value;
            sum += value;
        }
        ++count;
    }
    return {count, sum};
}

// Runs body(i, scratch) for every row, in parallel blocks of rows.
template <class Body>
void for_each_row(std::int64_t n, std::int64_t k, const RunOptions& options, Body&& body) {
    const std::int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
    ParallelGuard guard(options);
#pragma omp parallel num_threads(std::max(1, options.n_threads))
    {
        std::vector<Entry> own;
        guard.run([&] { own.reserve(k); });
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < blocks; ++b) {
            guard.run([&] {
                const std::int64_t end = std::min(n, (b + 1) * kRowBlock);
                for (std::int64_t i = b * kRowBlock; i < end; ++i) body(i, own);
            });
        }
    }
    guard.rethrow();
}

}  // namespace

CsrMatrix symmetrize(const std::int64_t* neighbors, const double* conditional, std::int64_t n,
                     std::int64_t k, const RunOptions& options) {
    if (n < 1 || k < 1) throw std::invalid_argument("need at least one row and one neighbour");
    if (n > std::numeric_limits<std::int32_t>::max()) {
        throw std::invalid_argument("more than 2^31 - 1 points are not supported");
    }
    for_each_row(n, k, options, [&](std::int64_t i, std::vector<Entry>&) {
        check_row(neighbors + i * k, conditional + i * k, i, n, k);
    });
    const Transpose t = transpose(neighbors, conditional, n, k);

    CsrMatrix p;
    p.indptr.assign(n + 1, 0);
    for_each_row(n, k, options, [&](std::int64_t i, std::vector<Entry>& own) {
        sorted_row(neighbors + i * k, conditional + i * k, i, k, own);
        p.indptr[i + 1] = merge_row(own, t, i, nullptr, nullptr).first;
    });
    for (std::int64_t i = 0; i < n; ++i) p.indptr[i + 1] += p.indptr[i];

    p.indices.resize(p.indptr[n]);
    p.data.resize(p.indptr[n]);
    std::vector<double> row_sums(n);
    for_each_row(n, k, options, [&](std::int64_t i, std::vector<Entry>& own) {
        sorted_row(neighbors + i * k, conditional + i * k, i, k, own);
        row_sums[i] = merge_row(own, t, i, p.indices.data() + p.indptr[i],
                                p.data.data() + p.indptr[i]).second;
    });

    double total = 0.0;  // summed in row order, so independent of the thread count
    for (double s : row_sums) total += s;
    if (!(total > 0.0)) throw std::invalid_argument("conditional probabilities sum to zero");
    const double scale = 1.0 / total;
    const std::int64_t nnz = p.indptr[n];
#pragma omp parallel for schedule(static) num_threads(std::max(1, options.n_threads))
    for (std::int64_t e = 0; e < nnz; ++e) p.data[e] *= scale;
    return p;
}

}  // namespace tsne
