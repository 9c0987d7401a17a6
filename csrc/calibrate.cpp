#include "calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "simd.hpp"

namespace tsne {
namespace {

constexpr std::int64_t kRowBlock = 1024;

// GCC notes that a copy of the helpers below compiled for the portable
// target would take vectors in other registers; they are always inlined
// (simd.hpp), so no such copy is called.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

TSNE_VECTOR_INLINE double splat(double value, double) { return value; }
TSNE_VECTOR_INLINE Doubles4 splat(double value, Doubles4) {
    return Doubles4{value, value, value, value};
}
TSNE_VECTOR_INLINE std::int64_t bits_of(double x) {
    std::int64_t bits;
    std::memcpy(&bits, &x, sizeof x);
    return bits;
}
TSNE_VECTOR_INLINE Words4 bits_of(Doubles4 x) { return reinterpret_cast<Words4>(x); }
TSNE_VECTOR_INLINE double from_bits(std::int64_t bits) {
    double x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}
TSNE_VECTOR_INLINE Doubles4 from_bits(Words4 bits) { return reinterpret_cast<Doubles4>(bits); }

// exp(x) for x <= 0 (a double, or four), within a few ulp of std::exp,
// without branches so that it runs in vector registers (std::exp is a scalar
// library call and was two thirds of the calibration time).  Cody-Waite
// reduction x = n ln2 + r, |r| <= ln2/2, then a degree-13 Taylor polynomial
// (truncation error below 1e-17).  Returns 0 below -708, where a weight is
// negligible next to the row's largest, exp(0).
template <class T>
TSNE_VECTOR_INLINE T exp_nonpositive(T x) {
    constexpr double log2e = 1.4426950408889634;
    constexpr double ln2_high = 6.93147180369123816490e-01;
    constexpr double ln2_low = 1.90821492927058770002e-10;
    constexpr double round_shift = 6755399441055744.0;  // 1.5 * 2^52: rounds to integers
    const T lowest = splat(-708.0, x);
    const T clamped = x < lowest ? lowest : x;
    const T shifted = clamped * log2e + round_shift;
    const T n = shifted - round_shift;
    const T r = (clamped - n * ln2_high) - n * ln2_low;
    T p = splat(1.0 / 6227020800.0, x);  // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2^n from the integer n held in the low bits of `shifted`.
    const T scale = from_bits((bits_of(shifted) - bits_of(round_shift) + 1023) << 52);
    return x < lowest ? splat(0.0, x) : p * scale;
}

struct EntropyAt {
    double entropy;   // nats
    double variance;  // of the shifted squared distances under p
};

// Entropy of p_j = exp(-beta s_j) / Z, where s_j >= 0 are squared distances
// shifted by their minimum so exp cannot underflow for every j at once.
// Also fills `weights` with the unnormalized exp(-beta s_j).  The sums are
// kept per lane (j % kLanes) as for_each_lane keeps them; whole groups of
// kLanes are taken four at a time in vector registers.
TSNE_VECTOR_CLONES EntropyAt entropy_at(const std::vector<double>& shifted, double beta,
                                        std::vector<double>& weights) {
    static_assert(kLanes % 4 == 0);
    constexpr std::int64_t kVectors = kLanes / 4;
    const std::int64_t k = static_cast<std::int64_t>(shifted.size());
    const double* s = shifted.data();
    double* out = weights.data();
    Doubles4 z[kVectors] = {}, first[kVectors] = {}, second[kVectors] = {};
    std::int64_t j = 0;
    for (; j + kLanes <= k; j += kLanes) {
        for (std::int64_t v = 0; v < kVectors; ++v) {
            const Doubles4 distance = *reinterpret_cast<const Doubles4*>(s + j + 4 * v);
            const Doubles4 w = exp_nonpositive(-beta * distance);
            *reinterpret_cast<Doubles4*>(out + j + 4 * v) = w;
            z[v] += w;
            first[v] += w * distance;
            second[v] += w * distance * distance;
        }
    }
    double z_lanes[kLanes], first_lanes[kLanes], second_lanes[kLanes];
    for (std::int64_t lane = 0; lane < kLanes; ++lane) {
        z_lanes[lane] = z[lane / 4][lane % 4];
        first_lanes[lane] = first[lane / 4][lane % 4];
        second_lanes[lane] = second[lane / 4][lane % 4];
    }
    for (std::int64_t lane = 0; j < k; ++j, ++lane) {
        const double w = exp_nonpositive(-beta * s[j]);
        out[j] = w;
        z_lanes[lane] += w;
        first_lanes[lane] += w * s[j];
        second_lanes[lane] += w * s[j] * s[j];
    }
    const double total = combine_lanes(z_lanes), mean = combine_lanes(first_lanes) / total;
    return {std::log(total) + beta * mean,
            std::max(0.0, combine_lanes(second_lanes) / total - mean * mean)};
}

// Safeguarded Newton iteration on beta: H(beta) decreases from log k at beta = 0,
// with dH/dbeta = -beta * Var(s).  Steps leaving the bracket fall back to
// bisection (geometric for a bracket spanning orders of magnitude), or doubling
// while no upper bound is known.
double solve_beta(const std::vector<double>& shifted, double target,
                  const CalibrationSettings& settings, std::vector<double>& weights) {
    double mean = 0.0;
    for (double s : shifted) mean += s;
    mean /= static_cast<double>(shifted.size());
    double beta = 1.0 / mean, low = 0.0, high = std::numeric_limits<double>::infinity();
    for (int iteration = 0; iteration < settings.max_iterations; ++iteration) {
        const EntropyAt at = entropy_at(shifted, beta, weights);
        const double excess = at.entropy - target;
        if (std::abs(excess) <= settings.entropy_tolerance) break;
        if (excess > 0) low = beta; else high = beta;
        if (std::isfinite(high) && high - low <= 4 * std::numeric_limits<double>::epsilon() * high) break;
        const double slope = beta * at.variance;
        double next = slope > 0 ? beta + excess / slope : -1.0;
        if (!(next > low && next < high)) {
            if (!std::isfinite(high)) {
                next = 2 * beta;
            } else if (low > 0 && high > 4 * low) {
                // A bracket over orders of magnitude (distances from 1e-30 to 1e30
                // in one row): halving it would take hundreds of steps.
                next = std::sqrt(low) * std::sqrt(high);
            } else {
                next = 0.5 * (low + high);
            }
        }
        beta = next;
    }
    entropy_at(shifted, beta, weights);  // weights for the beta returned
    return beta;
}

void calibrate_row(const double* distances, std::int64_t row, std::int64_t k,
                   const CalibrationSettings& settings, std::vector<double>& shifted,
                   std::vector<double>& weights, double* probabilities, double* beta) {
    double largest = 0.0;
    for (std::int64_t j = 0; j < k; ++j) {
        const double d = distances[j];
        if (!(d >= 0.0) || !std::isfinite(d)) {
            throw std::invalid_argument("distances must be finite and non-negative; row " +
                                        std::to_string(row) + " has " + std::to_string(d));
        }
        largest = std::max(largest, d);
    }
    // The row is solved in units of 2^exponent, the power of two just above its
    // largest distance.  Scaling by a power of two is exact, so ordinary rows
    // give the same bits as unscaled ones; it keeps the squares of tiny
    // distances (below 1e-154) out of the subnormal range, where 1/mean
    // overflowed to an infinite beta and NaN weights, and those of huge ones
    // from overflowing.
    int exponent = 0;
    if (largest > 0.0) std::frexp(largest, &exponent);
    double smallest = std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < k; ++j) {
        const double d = std::ldexp(distances[j], -exponent);
        shifted[j] = d * d;
        smallest = std::min(smallest, shifted[j]);
    }
    std::int64_t ties_at_min = 0;
    for (std::int64_t j = 0; j < k; ++j) {
        shifted[j] -= smallest;
        ties_at_min += shifted[j] == 0.0;
    }

    const double target = std::log(settings.perplexity);
    if (std::log(static_cast<double>(ties_at_min)) >= target - settings.entropy_tolerance) {
        // Even an infinitely narrow kernel spreads p over the tied nearest
        // neighbours (e.g. duplicates): that is the closest reachable entropy.
        for (std::int64_t j = 0; j < k; ++j) {
            probabilities[j] = shifted[j] == 0.0 ? 1.0 / static_cast<double>(ties_at_min) : 0.0;
        }
        *beta = std::numeric_limits<double>::infinity();
        return;
    }
    if (target >= std::log(static_cast<double>(k)) - settings.entropy_tolerance) {
        std::fill(probabilities, probabilities + k, 1.0 / static_cast<double>(k));
        *beta = 0.0;
        return;
    }
    // beta in the caller's units; it overflows to infinity only for rows whose
    // distances are all below about 1e-154 (sigma then reads 0).
    *beta = std::ldexp(solve_beta(shifted, target, settings, weights), -2 * exponent);
    double z = 0.0;
    for (std::int64_t j = 0; j < k; ++j) z += weights[j];
    for (std::int64_t j = 0; j < k; ++j) probabilities[j] = weights[j] / z;
}

// Per-thread scratch space: one row's shifted squared distances and weights.
struct RowScratch {
    std::vector<double> shifted, weights;
};

}  // namespace

void calibrate(const double* distances, std::int64_t n, std::int64_t k,
               const CalibrationSettings& settings, double* probabilities, double* betas,
               const RunOptions& options) {
    if (n < 1 || k < 1) {
        throw std::invalid_argument("distances must have at least one row and one column");
    }
    if (!(settings.perplexity > 0.0) || settings.perplexity > static_cast<double>(k)) {
        throw std::invalid_argument("perplexity must be in (0, k] = (0, " + std::to_string(k) +
                                    "], got " + std::to_string(settings.perplexity));
    }
    if (!(settings.entropy_tolerance > 0.0) || settings.max_iterations < 1) {
        throw std::invalid_argument("entropy tolerance and iteration limit must be positive");
    }
    // Rows between two interrupt checks inside a block (a power of two): about
    // 2^14 distances, so a block of long rows still stops soon after Ctrl-C.
    std::int64_t rows_per_check = 1;
    while (rows_per_check * 2 * k <= (std::int64_t{1} << 14) && rows_per_check < kRowBlock) {
        rows_per_check *= 2;
    }
    const std::int64_t check_mask = rows_per_check - 1;
    for_each_block<RowScratch>(
        block_count(n, kRowBlock), options,
        [&](RowScratch& scratch) {
            scratch.shifted.resize(k);
            scratch.weights.resize(k);
        },
        [&](std::int64_t b, RowScratch& scratch, ParallelGuard& guard) {
            const std::int64_t end = std::min(n, (b + 1) * kRowBlock);
            for (std::int64_t i = b * kRowBlock; i < end; ++i) {
                if ((i & check_mask) == 0 && guard.checkpoint()) return;
                calibrate_row(distances + i * k, i, k, settings, scratch.shifted,
                              scratch.weights, probabilities + i * k, betas + i);
            }
        });
}

}  // namespace tsne
