// Edge cases of the native core's C++ interface (csrc/*.hpp), without Python.
//
// Built only with -DTSNE_BUILD_NATIVE_TESTS=ON; tests/test_sanitizers.py builds
// it with -DTSNE_SANITIZE=ON (AddressSanitizer, UndefinedBehaviorSanitizer) and
// runs it.  Prints one line per failed check and exits non-zero if any failed.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "buffer.hpp"
#include "calibrate.hpp"
#include "knn.hpp"
#include "parallel.hpp"
#include "symmetrize.hpp"

namespace {

int failures = 0;
int checks = 0;

void check(bool ok, const std::string& what, int line) {
    ++checks;
    if (!ok) {
        ++failures;
        std::printf("FAILED (line %d): %s\n", line, what.c_str());
    }
}
#define CHECK(condition) check((condition), #condition, __LINE__)

// Runs `call`, expecting it to throw `Expected`.
template <class Expected, class Call>
void expect_throw(Call&& call, const std::string& what, int line) {
    ++checks;
    try {
        call();
    } catch (const Expected&) {
        return;
    } catch (const std::exception& error) {
        ++failures;
        std::printf("FAILED (line %d): %s threw another exception: %s\n", line, what.c_str(),
                    error.what());
        return;
    }
    ++failures;
    std::printf("FAILED (line %d): %s did not throw\n", line, what.c_str());
}
#define EXPECT_THROW(Expected, ...) \
    expect_throw<Expected>([&] { __VA_ARGS__; }, #__VA_ARGS__, __LINE__)

tsne::RunOptions threads(int n) { return {n, {}}; }

struct Knn {
    std::vector<std::int64_t> indices;
    std::vector<double> distances;
    bool operator==(const Knn& other) const {
        return indices == other.indices &&
               std::memcmp(distances.data(), other.distances.data(),
                           distances.size() * sizeof(double)) == 0;
    }
};

template <class T>
Knn exact(const std::vector<T>& x, std::int64_t n, std::int64_t d, std::int64_t k,
          tsne::Metric metric, const tsne::RunOptions& options) {
    Knn result{std::vector<std::int64_t>(n * k, -7), std::vector<double>(n * k, -7.0)};
    tsne::exact_knn<T>(x.data(), n, d, k, metric, result.indices.data(),
                       result.distances.data(), options);
    return result;
}

template <class T>
Knn rerank(const std::vector<T>& x, std::int64_t n, std::int64_t d,
           const std::vector<std::int64_t>& candidates, std::int64_t c, std::int64_t k,
           tsne::Metric metric, const tsne::RunOptions& options) {
    Knn result{std::vector<std::int64_t>(n * k, -7), std::vector<double>(n * k, -7.0)};
    tsne::rerank_knn<T>(x.data(), n, d, candidates.data(), c, k, metric,
                        result.indices.data(), result.distances.data(), options);
    return result;
}

template <class T>
double reference_distance(const std::vector<T>& x, std::int64_t d, std::int64_t i,
                          std::int64_t j, tsne::Metric metric) {
    double squared = 0, dot = 0, norm_i = 0, norm_j = 0;
    for (std::int64_t c = 0; c < d; ++c) {
        const double a = x[i * d + c], b = x[j * d + c];
        squared += (a - b) * (a - b);
        dot += a * b;
        norm_i += a * a;
        norm_j += b * b;
    }
    if (metric == tsne::Metric::euclidean) return std::sqrt(squared);
    return std::max(0.0, 1.0 - dot / (std::sqrt(norm_i) * std::sqrt(norm_j)));
}

// The brute-force neighbours: nearest first, ties by smaller index.
template <class T>
bool matches_brute_force(const std::vector<T>& x, std::int64_t n, std::int64_t d,
                         std::int64_t k, tsne::Metric metric, const Knn& knn) {
    for (std::int64_t i = 0; i < n; ++i) {
        std::vector<std::pair<double, std::int64_t>> all;
        for (std::int64_t j = 0; j < n; ++j) {
            if (j != i) all.emplace_back(reference_distance(x, d, i, j, metric), j);
        }
        std::sort(all.begin(), all.end());
        for (std::int64_t c = 0; c < k; ++c) {
            const double got = knn.distances[i * k + c], want = all[c].first;
            if (std::abs(got - want) > 1e-12 * std::max(1.0, want)) return false;
            // The listed neighbour is at the listed distance.
            const double listed = reference_distance(x, d, i, knn.indices[i * k + c], metric);
            if (std::abs(got - listed) > 1e-12 * std::max(1.0, listed)) return false;
        }
    }
    return true;
}

bool well_formed(const Knn& knn, std::int64_t n, std::int64_t k) {
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t c = 0; c < k; ++c) {
            const std::int64_t j = knn.indices[i * k + c];
            const double dist = knn.distances[i * k + c];
            if (j < 0 || j >= n || j == i || !std::isfinite(dist) || dist < 0) return false;
            if (c > 0) {
                const double previous = knn.distances[i * k + c - 1];
                if (dist < previous) return false;
                if (dist == previous && j < knn.indices[i * k + c - 1]) return false;
            }
        }
    }
    return true;
}

template <class T>
std::vector<T> random_data(std::int64_t n, std::int64_t d, unsigned seed, double scale = 1.0) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<T> x(n * d);
    for (auto& value : x) value = static_cast<T>(scale * normal(rng));
    return x;
}

template <class T>
void knn_edge_cases(const char* type) {
    std::printf("exact_knn / rerank_knn <%s>\n", type);
    using tsne::Metric;
    for (Metric metric : {Metric::euclidean, Metric::cosine}) {
        // n = 2, k = 1: each point's only neighbour is the other.
        const std::vector<T> two = {1, 2, 3, 4, 5, 7};
        const Knn pair = exact(two, 2, 3, 1, metric, threads(2));
        CHECK(pair.indices == (std::vector<std::int64_t>{1, 0}));
        CHECK(pair.distances[0] == pair.distances[1]);
        CHECK(matches_brute_force(two, 2, 3, 1, metric, pair));

        // k = n - 1 on random data: every other point, in the brute-force order.
        const std::int64_t n = 23, d = 5;
        const std::vector<T> x = random_data<T>(n, d, 1);
        const Knn all = exact(x, n, d, n - 1, metric, threads(3));
        CHECK(well_formed(all, n, n - 1));
        CHECK(matches_brute_force(x, n, d, n - 1, metric, all));

        // rerank_knn with every row as a candidate equals exact_knn, also when the
        // candidates list the row itself and repeats.
        std::vector<std::int64_t> candidates;
        for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t j = n - 1; j >= 0; --j) candidates.push_back(j);
            candidates.push_back(0);
        }
        const Knn reranked = rerank(x, n, d, candidates, n + 1, 6, metric, threads(2));
        const Knn six = exact(x, n, d, 6, metric, threads(1));
        CHECK(reranked == six);
        CHECK(matches_brute_force(x, n, d, 6, metric, six));
    }

    // Exact duplicates: distance 0, ties broken by the smaller index.
    {
        const std::int64_t n = 6, d = 3;
        std::vector<T> same(n * d);
        for (std::int64_t i = 0; i < n; ++i) {
            for (std::int64_t c = 0; c < d; ++c) same[i * d + c] = static_cast<T>(c + 1);
        }
        for (Metric metric : {Metric::euclidean, Metric::cosine}) {
            const Knn knn = exact(same, n, d, n - 1, metric, threads(2));
            CHECK(well_formed(knn, n, n - 1));
            bool zero = true, ascending = true;
            for (std::int64_t i = 0; i < n; ++i) {
                for (std::int64_t c = 0; c < n - 1; ++c) {
                    zero &= knn.distances[i * (n - 1) + c] == 0.0;
                    ascending &= knn.indices[i * (n - 1) + c] == (c < i ? c : c + 1);
                }
            }
            CHECK(zero);
            CHECK(ascending);
        }
        // Half duplicates, half distinct points.
        std::vector<T> mixed = random_data<T>(12, 4, 2);
        for (std::int64_t i = 6; i < 12; ++i) {
            std::copy(mixed.begin() + 2 * 4, mixed.begin() + 3 * 4, mixed.begin() + i * 4);
        }
        const Knn knn = exact(mixed, 12, 4, 7, Metric::euclidean, threads(2));
        CHECK(well_formed(knn, 12, 7));
        CHECK(matches_brute_force(mixed, 12, 4, 7, Metric::euclidean, knn));
    }

    // An all-zero row has no direction: cosine distance is undefined.
    {
        std::vector<T> x = random_data<T>(5, 3, 3);
        std::fill(x.begin() + 6, x.begin() + 9, T(0));
        EXPECT_THROW(std::invalid_argument, exact(x, 5, 3, 2, Metric::cosine, threads(2)));
        const std::vector<std::int64_t> candidates = {1, 2, 3, 0, 2, 3, 0, 1, 3, 0, 1, 2, 0, 1, 2};
        EXPECT_THROW(std::invalid_argument,
                     rerank(x, 5, 3, candidates, 3, 2, Metric::cosine, threads(2)));
        // ... but Euclidean distances are fine.
        CHECK(well_formed(exact(x, 5, 3, 2, Metric::euclidean, threads(2)), 5, 2));
    }

    // Bad sizes and bad candidates.
    {
        const std::vector<T> x = random_data<T>(4, 2, 4);
        EXPECT_THROW(std::invalid_argument, exact(x, 4, 2, 4, Metric::euclidean, threads(1)));
        EXPECT_THROW(std::invalid_argument, exact(x, 4, 2, 0, Metric::euclidean, threads(1)));
        EXPECT_THROW(std::invalid_argument, exact(x, 1, 2, 1, Metric::euclidean, threads(1)));
        EXPECT_THROW(std::invalid_argument, exact(x, 4, 0, 1, Metric::euclidean, threads(1)));
        const std::vector<std::int64_t> out_of_range = {1, 4, 0, 2, 0, 1, 0, 1};
        EXPECT_THROW(std::invalid_argument,
                     rerank(x, 4, 2, out_of_range, 2, 1, Metric::euclidean, threads(2)));
        const std::vector<std::int64_t> negative = {1, 2, 0, 2, 0, -1, 0, 1};
        EXPECT_THROW(std::invalid_argument,
                     rerank(x, 4, 2, negative, 2, 1, Metric::euclidean, threads(2)));
        // Row 0 offers only itself and one other point: fewer than k = 2.
        const std::vector<std::int64_t> too_few = {0, 1, 1, 0, 2, 0, 1, 0, 1, 0, 1, 2};
        EXPECT_THROW(std::invalid_argument,
                     rerank(x, 4, 2, too_few, 3, 2, Metric::euclidean, threads(2)));
    }
}

void knn_extreme_values() {
    std::printf("exact_knn: extreme magnitudes\n");
    using tsne::Metric;
    // Huge values whose squared distances still fit (what the Python checks let through).
    for (double scale : {1e150, 1e-150, 1e-300}) {
        const std::vector<double> x = random_data<double>(9, 3, 5, scale);
        const Knn knn = exact(x, 9, 3, 4, Metric::euclidean, threads(2));
        CHECK(well_formed(knn, 9, 4));
        if (scale >= 1e-150) CHECK(matches_brute_force(x, 9, 3, 4, Metric::euclidean, knn));
    }
    {
        const std::vector<float> x = random_data<float>(9, 3, 6, 1e18);
        const Knn knn = exact(x, 9, 3, 4, Metric::euclidean, threads(2));
        CHECK(well_formed(knn, 9, 4));
        CHECK(matches_brute_force(x, 9, 3, 4, Metric::euclidean, knn));
        const Knn cosine = exact(x, 9, 3, 4, Metric::cosine, threads(2));
        CHECK(well_formed(cosine, 9, 4));
        CHECK(matches_brute_force(x, 9, 3, 4, Metric::cosine, cosine));
    }
    {
        // Points far from the origin, close to each other.
        std::vector<double> x = random_data<double>(9, 3, 7, 1e-3);
        for (auto& value : x) value += 1e6;
        const Knn knn = exact(x, 9, 3, 4, Metric::euclidean, threads(2));
        CHECK(well_formed(knn, 9, 4));
    }
}

std::vector<double> calibrated(const std::vector<double>& distances, std::int64_t n,
                               std::int64_t k, double perplexity, std::vector<double>* betas,
                               const tsne::RunOptions& options) {
    std::vector<double> p(n * k, -1.0), beta(n, -1.0);
    tsne::CalibrationSettings settings;
    settings.perplexity = perplexity;
    tsne::calibrate(distances.data(), n, k, settings, p.data(), beta.data(), options);
    if (betas) *betas = beta;
    return p;
}

bool rows_are_distributions(const std::vector<double>& p, std::int64_t n, std::int64_t k) {
    for (std::int64_t i = 0; i < n; ++i) {
        double sum = 0;
        for (std::int64_t j = 0; j < k; ++j) {
            const double value = p[i * k + j];
            if (!std::isfinite(value) || value < 0) return false;
            sum += value;
        }
        if (std::abs(sum - 1.0) > 1e-12) return false;
    }
    return true;
}

double entropy(const double* p, std::int64_t k) {
    double h = 0;
    for (std::int64_t j = 0; j < k; ++j) {
        if (p[j] > 0) h -= p[j] * std::log(p[j]);
    }
    return h;
}

void calibrate_edge_cases() {
    std::printf("calibrate\n");
    // Random distances: the entropy is log(perplexity) in every row.
    {
        const std::int64_t n = 50, k = 12;
        std::vector<double> distances = random_data<double>(n, k, 8);
        for (auto& value : distances) value = std::abs(value);
        std::vector<double> betas;
        const std::vector<double> p = calibrated(distances, n, k, 4.0, &betas, threads(2));
        CHECK(rows_are_distributions(p, n, k));
        double worst = 0;
        for (std::int64_t i = 0; i < n; ++i) {
            worst = std::max(worst, std::abs(entropy(&p[i * k], k) - std::log(4.0)));
        }
        CHECK(worst <= 1e-7);
        CHECK(std::all_of(betas.begin(), betas.end(),
                          [](double b) { return std::isfinite(b) && b > 0; }));
    }
    // n = 1, k = 1, perplexity = 1: the only neighbour gets everything.
    {
        const std::vector<double> p = calibrated({2.5}, 1, 1, 1.0, nullptr, threads(2));
        CHECK(p == std::vector<double>{1.0});
    }
    // Duplicates (all distances 0): uniform, never NaN.
    {
        const std::vector<double> p = calibrated(std::vector<double>(3 * 5, 0.0), 3, 5, 2.0,
                                                 nullptr, threads(2));
        CHECK(rows_are_distributions(p, 3, 5));
        CHECK(std::all_of(p.begin(), p.end(), [](double v) { return v == 0.2; }));
    }
    // Ties at the smallest distance beyond the perplexity: uniform over the ties.
    {
        const std::vector<double> p = calibrated({0, 0, 0, 1, 2}, 1, 5, 2.0, nullptr,
                                                 threads(1));
        CHECK(rows_are_distributions(p, 1, 5));
        CHECK(p[3] == 0.0 && p[4] == 0.0);
    }
    // perplexity = k: uniform weights.
    {
        std::vector<double> betas;
        const std::vector<double> p = calibrated({1, 2, 3, 4}, 1, 4, 4.0, &betas, threads(1));
        CHECK(rows_are_distributions(p, 1, 4));
        CHECK(betas[0] == 0.0);
    }
    // Tiny (squares subnormal or zero) and huge distances: finite, normalized,
    // and the same distribution as the distances scaled to ordinary sizes.
    {
        const std::vector<double> unit = {0.5, 1.0, 1.5, 2.0, 3.0, 4.0};
        const std::vector<double> reference = calibrated(unit, 1, 6, 2.5, nullptr, threads(1));
        for (double scale : {1e-160, 1e-200, 1e-300, 1e-305, 1e150, 1e300}) {
            std::vector<double> scaled = unit;
            for (auto& value : scaled) value *= scale;
            const std::vector<double> p = calibrated(scaled, 1, 6, 2.5, nullptr, threads(1));
            CHECK(rows_are_distributions(p, 1, 6));
            double largest_difference = 0;
            for (int j = 0; j < 6; ++j) {
                largest_difference = std::max(largest_difference, std::abs(p[j] - reference[j]));
            }
            check(largest_difference <= 1e-6,
                  "calibration at scale " + std::to_string(scale) + " differs by " +
                      std::to_string(largest_difference), __LINE__);
        }
        // A row mixing tiny and ordinary distances.
        const std::vector<double> p = calibrated({1e-300, 1e-160, 1e-10, 1.0, 2.0}, 1, 5, 2.0,
                                                 nullptr, threads(1));
        CHECK(rows_are_distributions(p, 1, 5));
    }
    // Bad input.
    const std::vector<double> ok = {1, 2, 3, 4};
    EXPECT_THROW(std::invalid_argument, calibrated(ok, 1, 4, 5.0, nullptr, threads(1)));
    EXPECT_THROW(std::invalid_argument, calibrated(ok, 1, 4, 0.0, nullptr, threads(1)));
    EXPECT_THROW(std::invalid_argument,
                 calibrated(ok, 1, 4, std::numeric_limits<double>::quiet_NaN(), nullptr,
                            threads(1)));
    EXPECT_THROW(std::invalid_argument, calibrated(ok, 0, 4, 1.0, nullptr, threads(1)));
    EXPECT_THROW(std::invalid_argument, calibrated({1, -2, 3, 4}, 1, 4, 2.0, nullptr, threads(1)));
    EXPECT_THROW(std::invalid_argument,
                 calibrated({1, 2, std::numeric_limits<double>::quiet_NaN(), 4}, 1, 4, 2.0,
                            nullptr, threads(2)));
    EXPECT_THROW(std::invalid_argument,
                 calibrated({1, 2, std::numeric_limits<double>::infinity(), 4}, 1, 4, 2.0,
                            nullptr, threads(2)));
}

bool joint_is_valid(const tsne::CsrMatrix& p, std::int64_t n) {
    if (static_cast<std::int64_t>(p.indptr.size()) != n + 1 || p.indptr[0] != 0) return false;
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t e = p.indptr[i]; e < p.indptr[i + 1]; ++e) {
            const std::int64_t j = p.indices[e];
            if (j < 0 || j >= n || j == i || !(p.data[e] >= 0) || !std::isfinite(p.data[e])) {
                return false;
            }
            if (e > p.indptr[i] && p.indices[e - 1] >= j) return false;  // sorted, distinct
            // The mirror entry (j, i) holds the same value.
            const auto first = p.indices.begin() + p.indptr[j];
            const auto last = p.indices.begin() + p.indptr[j + 1];
            const auto mirror = std::lower_bound(first, last, static_cast<std::int32_t>(i));
            if (mirror == last || *mirror != i) return false;
            if (p.data[mirror - p.indices.begin()] != p.data[e]) return false;
            total += p.data[e];
        }
    }
    // Each of the nnz additions rounds by at most an ulp of the running total.
    const double nnz = static_cast<double>(p.indptr[n]);
    return std::abs(total - 1.0) <= 1e-12 + nnz * std::numeric_limits<double>::epsilon();
}

void symmetrize_edge_cases() {
    std::printf("symmetrize\n");
    {
        const tsne::CsrMatrix p = tsne::symmetrize(std::vector<std::int64_t>{1, 0}.data(),
                                                   std::vector<double>{1, 1}.data(), 2, 1,
                                                   threads(2));
        CHECK(joint_is_valid(p, 2));
        CHECK(p.data.size() == 2 && p.data[0] == 0.5 && p.data[1] == 0.5);
    }
    {
        // Unequal conditionals (one of them 0) in the two directions.
        const std::vector<std::int64_t> neighbors = {2, 1, 0, 2, 1, 0};
        const std::vector<double> conditional = {0.75, 0.25, 0.5, 0.5, 1.0, 0.0};
        const tsne::CsrMatrix p = tsne::symmetrize(neighbors.data(), conditional.data(), 3, 2,
                                                   threads(3));
        CHECK(joint_is_valid(p, 3));
    }
    const std::vector<double> conditional = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    EXPECT_THROW(std::invalid_argument,
                 tsne::symmetrize(std::vector<std::int64_t>{0, 1, 0, 2, 0, 1}.data(),
                                  conditional.data(), 3, 2, threads(2)));  // self
    EXPECT_THROW(std::invalid_argument,
                 tsne::symmetrize(std::vector<std::int64_t>{1, 1, 0, 2, 0, 1}.data(),
                                  conditional.data(), 3, 2, threads(2)));  // repeat
    EXPECT_THROW(std::invalid_argument,
                 tsne::symmetrize(std::vector<std::int64_t>{1, 3, 0, 2, 0, 1}.data(),
                                  conditional.data(), 3, 2, threads(2)));  // out of range
    EXPECT_THROW(std::invalid_argument,
                 tsne::symmetrize(std::vector<std::int64_t>{1, 2, 0, 2, 0, 1}.data(),
                                  std::vector<double>{0.5, -0.5, 0.5, 0.5, 0.5, 0.5}.data(), 3,
                                  2, threads(2)));  // negative
    EXPECT_THROW(std::invalid_argument,
                 tsne::symmetrize(std::vector<std::int64_t>{1, 2, 0, 2, 0, 1}.data(),
                                  std::vector<double>(6, 0.0).data(), 3, 2,
                                  threads(2)));  // all zero
    EXPECT_THROW(std::invalid_argument,
                 tsne::symmetrize(std::vector<std::int64_t>{}.data(),
                                  std::vector<double>{}.data(), 0, 2, threads(2)));
}

// The first of each row's p probes (n x p): its home cluster.
std::vector<std::int64_t> first_probes(const std::vector<std::int64_t>& probes, std::int64_t p) {
    std::vector<std::int64_t> homes(probes.size() / p);
    for (std::size_t i = 0; i < homes.size(); ++i) homes[i] = probes[i * p];
    return homes;
}

// The probes (n x p) of rows `queries`, a row per query.
std::vector<std::int64_t> probes_of(const std::vector<std::int64_t>& probes, std::int64_t p,
                                    const std::vector<std::int64_t>& queries) {
    std::vector<std::int64_t> rows;
    for (const std::int64_t i : queries) {
        const bool valid = i >= 0 && static_cast<std::size_t>((i + 1) * p) <= probes.size();
        for (std::int64_t col = 0; col < p; ++col) rows.push_back(valid ? probes[i * p + col] : 0);
    }
    return rows;
}

// The probed search of every row, each row's home the first of its probes.
// Products in float32 unless `bfloat16` (and the CPU has them).
std::vector<std::int64_t> probed(const std::vector<float>& x, std::int64_t n, std::int64_t d,
                                 const std::vector<std::int64_t>& probes, std::int64_t p,
                                 std::int64_t m, std::int64_t c, int n_threads,
                                 bool bfloat16 = false) {
    std::vector<std::int64_t> queries(n);
    for (std::int64_t i = 0; i < n; ++i) queries[i] = i;
    std::vector<std::int64_t> candidates(n * c, -7);
    tsne::probed_knn(x.data(), n, d, first_probes(probes, p).data(), m, queries.data(), n,
                     probes.data(), p, c, candidates.data(), bfloat16, threads(n_threads));
    return candidates;
}

// Whether each row's candidates are the c nearest rows (by squared distance,
// as a sorted list) among those whose home cluster (first probe) it probes.
bool matches_probed_brute_force(const std::vector<float>& x, std::int64_t n, std::int64_t d,
                                const std::vector<std::int64_t>& probes, std::int64_t p,
                                std::int64_t c, const std::vector<std::int64_t>& candidates) {
    auto squared = [&](std::int64_t i, std::int64_t j) {
        const double distance = reference_distance(x, d, i, j, tsne::Metric::euclidean);
        return distance * distance;
    };
    for (std::int64_t i = 0; i < n; ++i) {
        std::vector<double> allowed, found;
        for (std::int64_t j = 0; j < n; ++j) {
            const std::int64_t* row = probes.data() + i * p;
            if (j != i && std::find(row, row + p, probes[j * p]) != row + p) {
                allowed.push_back(squared(i, j));
            }
        }
        std::sort(allowed.begin(), allowed.end());
        allowed.resize(std::min<std::size_t>(allowed.size(), c));
        for (std::int64_t col = 0; col < c; ++col) {
            const std::int64_t j = candidates[i * c + col];
            if (col >= static_cast<std::int64_t>(allowed.size())) {
                if (j != -1) return false;  // padding
                continue;
            }
            if (j < 0 || j >= n || j == i) return false;
            found.push_back(squared(i, j));
        }
        std::sort(found.begin(), found.end());
        for (std::size_t col = 0; col < found.size(); ++col) {
            if (std::abs(found[col] - allowed[col]) > 1e-4 * std::max(1.0, allowed[col])) {
                return false;
            }
        }
    }
    return true;
}

void probed_knn_edge_cases() {
    std::printf("probed_knn\n");
    const std::int64_t n = 700, d = 5, m = 40, p = 4, c = 25;
    const std::vector<float> x = random_data<float>(n, d, 13);
    std::mt19937_64 rng(14);
    std::vector<std::int64_t> probes(n * p);
    for (auto& probe : probes) probe = static_cast<std::int64_t>(rng() % m);
    const std::vector<std::int64_t> found = probed(x, n, d, probes, p, m, c, 1);
    CHECK(matches_probed_brute_force(x, n, d, probes, p, c, found));
    CHECK(found == probed(x, n, d, probes, p, m, c, 3));
    // A cluster listed twice by a row is searched once.
    std::vector<std::int64_t> repeated = probes;
    for (std::int64_t i = 0; i < n; ++i) repeated[i * p + 3] = repeated[i * p];
    CHECK(matches_probed_brute_force(x, n, d, repeated, p, c,
                                     probed(x, n, d, repeated, p, m, c, 2)));
    // Empty clusters, and rows whose clusters hold fewer than c others: -1 padding.
    const std::vector<std::int64_t> sparse_probes{0, 9, 0, 9, 0, 9, 5, 5};
    const std::vector<float> four = random_data<float>(4, d, 15);
    const std::vector<std::int64_t> padded = probed(four, 4, d, sparse_probes, 2, 10, 3, 2);
    CHECK(matches_probed_brute_force(four, 4, d, sparse_probes, 2, 3, padded));
    CHECK(padded[3 * 3] == -1 && padded[0 * 3 + 2] == -1);

    // Values that bfloat16 holds exactly (small integers, odd d): the bfloat16
    // kernel, where the CPU has it, finds what float32 products find.
    std::vector<float> integers(n * 7);
    for (auto& value : integers) value = static_cast<float>(static_cast<int>(rng() % 17) - 8);
    const std::vector<std::int64_t> exact = probed(integers, n, 7, probes, p, m, c, 2);
    const std::vector<std::int64_t> rounded = probed(integers, n, 7, probes, p, m, c, 2, true);
    // Ties abound: the distances found must agree, not which of the tied rows.
    auto found_distances = [&](const std::vector<std::int64_t>& found, std::int64_t i) {
        std::vector<double> row;
        for (std::int64_t col = 0; col < c; ++col) {
            const double distance = reference_distance(integers, 7, i, found[i * c + col],
                                                        tsne::Metric::euclidean);
            row.push_back(distance);
        }
        std::sort(row.begin(), row.end());
        return row;
    };
    bool same_distances = true;
    for (std::int64_t i = 0; i < n; ++i) {
        same_distances = same_distances && found_distances(exact, i) == found_distances(rounded, i);
    }
    CHECK(same_distances);
    std::printf("  (bfloat16 products %s)\n", tsne::native_bfloat16() ? "native" : "absent");

    // Some queries, one twice: the same candidates (as sets) as in the search of every row.
    const std::vector<std::int64_t> some{650, 4, 4, 123};
    std::vector<std::int64_t> some_found(some.size() * c);
    tsne::probed_knn(x.data(), n, d, first_probes(probes, p).data(), m, some.data(), 4,
                     probes_of(probes, p, some).data(), p, c, some_found.data(), false,
                     threads(2));
    bool same = true;
    for (std::size_t t = 0; t < some.size(); ++t) {
        std::vector<std::int64_t> mine(some_found.begin() + t * c,
                                       some_found.begin() + (t + 1) * c);
        std::vector<std::int64_t> all(found.begin() + some[t] * c,
                                      found.begin() + (some[t] + 1) * c);
        std::sort(mine.begin(), mine.end());
        std::sort(all.begin(), all.end());
        same = same && mine == all;
    }
    CHECK(same);

    std::vector<std::int64_t> out(n * c);
    auto search = [&](const std::vector<std::int64_t>& probes_, std::int64_t m_,
                      const std::vector<std::int64_t>& queries, std::int64_t c_) {
        tsne::probed_knn(x.data(), n, d, first_probes(probes_, p).data(), m_, queries.data(),
                         static_cast<std::int64_t>(queries.size()),
                         probes_of(probes_, p, queries).data(), p, c_, out.data(), false,
                         threads(2));
    };
    std::vector<std::int64_t> bad = probes;
    bad[17] = m;
    EXPECT_THROW(std::invalid_argument, search(bad, m, some, c));
    bad[17] = -1;
    EXPECT_THROW(std::invalid_argument, search(bad, m, some, c));
    bad = probes;
    bad[0] = m;  // the home of row 0, which no query probes
    EXPECT_THROW(std::invalid_argument, search(bad, m, some, c));
    EXPECT_THROW(std::invalid_argument, search(probes, 0, some, c));
    EXPECT_THROW(std::invalid_argument, search(probes, m, some, n));
    EXPECT_THROW(std::invalid_argument, search(probes, m, std::vector<std::int64_t>{3, n}, c));
    EXPECT_THROW(std::invalid_argument, search(probes, m, std::vector<std::int64_t>{-1}, c));
}

void nearest_centroids_edge_cases() {
    std::printf("nearest_centroids\n");
    const std::int64_t n = 900, d = 6, m = 70;
    const std::vector<float> x = random_data<float>(n, d, 16);
    const std::vector<float> centroids = random_data<float>(m, d, 17);
    for (const std::int64_t count : {std::int64_t{1}, std::int64_t{9}, m}) {
        std::vector<std::int64_t> nearest(n * count);
        tsne::nearest_centroids(x.data(), n, d, centroids.data(), m, count, nearest.data(),
                                threads(2));
        // The count nearest, nearest first: each one's distance is the s-th smallest
        // (up to rounding in the GEMM keys, which may swap near-ties).
        bool nearest_first = true;
        for (std::int64_t i = 0; i < n; ++i) {
            std::vector<double> squared(m, 0.0);
            for (std::int64_t j = 0; j < m; ++j) {
                for (std::int64_t col = 0; col < d; ++col) {
                    const double diff = double(x[i * d + col]) - double(centroids[j * d + col]);
                    squared[j] += diff * diff;
                }
            }
            std::vector<double> sorted = squared;
            std::sort(sorted.begin(), sorted.end());
            for (std::int64_t s = 0; s < count; ++s) {
                const std::int64_t j = nearest[i * count + s];
                nearest_first = nearest_first && j >= 0 && j < m &&
                                std::abs(squared[j] - sorted[s]) < 1e-4 * (1.0 + sorted[s]);
            }
        }
        CHECK(nearest_first);
    }
    std::vector<std::int64_t> out(n);
    EXPECT_THROW(std::invalid_argument,
                 tsne::nearest_centroids(x.data(), n, d, centroids.data(), m, m + 1, out.data(),
                                         threads(1)));
    EXPECT_THROW(std::invalid_argument,
                 tsne::nearest_centroids(x.data(), n, d, centroids.data(), 0, 1, out.data(),
                                         threads(1)));
}

void thread_count_does_not_matter() {
    std::printf("1 thread vs several: identical bits\n");
    // Large enough for several row blocks (1024 rows) and GEMM blocks.
    const std::int64_t n = 2600, d = 24, k = 15;
    const std::vector<float> x32 = random_data<float>(n, d, 9);
    const std::vector<double> x64 = random_data<double>(n, d, 10);
    for (tsne::Metric metric : {tsne::Metric::euclidean, tsne::Metric::cosine}) {
        const Knn one = exact(x32, n, d, k, metric, threads(1));
        CHECK(one == exact(x32, n, d, k, metric, threads(2)));
        CHECK(one == exact(x32, n, d, k, metric, threads(5)));
        const Knn one64 = exact(x64, n, d, k, metric, threads(1));
        CHECK(one64 == exact(x64, n, d, k, metric, threads(3)));
    }
    const Knn knn = exact(x64, n, d, k, tsne::Metric::euclidean, threads(1));
    CHECK(well_formed(knn, n, k));
    const Knn wide = exact(x32, n, d, 2 * k, tsne::Metric::euclidean, threads(2));
    const Knn reranked1 = rerank(x64, n, d, wide.indices, 2 * k, k, tsne::Metric::euclidean,
                                 threads(1));
    CHECK(reranked1 == rerank(x64, n, d, wide.indices, 2 * k, k, tsne::Metric::euclidean,
                              threads(4)));

    std::vector<double> betas1, betas4;
    const std::vector<double> p1 = calibrated(knn.distances, n, k, 5.0, &betas1, threads(1));
    const std::vector<double> p4 = calibrated(knn.distances, n, k, 5.0, &betas4, threads(4));
    CHECK(rows_are_distributions(p1, n, k));
    CHECK(std::memcmp(p1.data(), p4.data(), p1.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(betas1.data(), betas4.data(), betas1.size() * sizeof(double)) == 0);

    const tsne::CsrMatrix s1 = tsne::symmetrize(knn.indices.data(), p1.data(), n, k, threads(1));
    const tsne::CsrMatrix s3 = tsne::symmetrize(knn.indices.data(), p1.data(), n, k, threads(3));
    CHECK(joint_is_valid(s1, n));
    CHECK(std::equal(s1.indptr.begin(), s1.indptr.end(), s3.indptr.begin(), s3.indptr.end()));
    CHECK(std::equal(s1.indices.begin(), s1.indices.end(), s3.indices.begin(),
                     s3.indices.end()));
    CHECK(s1.data.size() == s3.data.size() &&
          std::memcmp(s1.data.data(), s3.data.data(), s1.data.size() * sizeof(double)) == 0);
}

void interrupts() {
    std::printf("interrupt checks\n");
    // A check that always says stop: the work ends with tsne::Interrupted.  The
    // core polls at most every 100 ms, so each call must run longer than that;
    // a check that never says stop lets the same work finish.
    int calls = 0;
    const tsne::RunOptions stop{2, [&calls] {
                                    ++calls;
                                    return true;
                                }};
    {
        const std::int64_t n = 30000, d = 16, k = 5;
        const std::vector<float> x = random_data<float>(n, d, 11);
        EXPECT_THROW(tsne::Interrupted, exact(x, n, d, k, tsne::Metric::euclidean, stop));
        CHECK(calls >= 1);
    }
    {
        const std::int64_t n = 600000, k = 30;
        std::vector<double> distances = random_data<double>(n, k, 12);
        for (auto& value : distances) value = std::abs(value);
        calls = 0;
        EXPECT_THROW(tsne::Interrupted, calibrated(distances, n, k, 10.0, nullptr, stop));
        CHECK(calls >= 1);
        int quiet_calls = 0;
        const tsne::RunOptions go_on{2, [&quiet_calls] {
                                         ++quiet_calls;
                                         return false;
                                     }};
        std::vector<double> betas;
        const std::vector<double> p = calibrated(distances, 2000, k, 10.0, &betas, go_on);
        CHECK(rows_are_distributions(p, 2000, k));
    }
}

}  // namespace

void large_buffers() {
    std::printf("large buffers\n");
    // Past 16 MB a Buffer is 2 MB-aligned memory of its own, freed as such
    // (the sanitizers check the pairing); moves keep it.
    tsne::Buffer<double> big(std::size_t{3} << 20);
    CHECK(reinterpret_cast<std::uintptr_t>(big.data()) % (std::uintptr_t{1} << 21) == 0);
    std::fill(big.begin(), big.end(), 1.0);
    tsne::Buffer<double> moved = std::move(big);
    CHECK(moved.size() == (std::size_t{3} << 20) && moved.back() == 1.0);
    moved.resize(16);  // shrinking keeps the allocation, and its kind
    CHECK(moved[15] == 1.0);
    // A symmetrization whose P needs such buffers.
    const std::int64_t n = 200000, k = 12;
    std::vector<std::int64_t> neighbors(n * k);
    for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t c = 0; c < k; ++c) neighbors[i * k + c] = (i + 1 + c * 7919) % n;
    }
    const tsne::CsrMatrix p = tsne::symmetrize(neighbors.data(),
                                               std::vector<double>(n * k, 1.0 / k).data(), n, k,
                                               threads(2));
    CHECK(p.data.size() * sizeof(double) >= (std::size_t{16} << 20));
    CHECK(joint_is_valid(p, n));
}

int main() {
    try {
        knn_edge_cases<float>("float");
        knn_edge_cases<double>("double");
        knn_extreme_values();
        probed_knn_edge_cases();
        nearest_centroids_edge_cases();
        calibrate_edge_cases();
        symmetrize_edge_cases();
        large_buffers();
        thread_count_does_not_matter();
        interrupts();
    } catch (const std::exception& error) {
        std::printf("FAILED: unexpected exception: %s\n", error.what());
        return 2;
    }
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
