#include "calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace tsne {
namespace {

constexpr std::int64_t kRowBlock = 1024;

struct EntropyAt {
    double entropy;   // nats
    double variance;  // of the shifted squared distances under p
};

// Entropy of p_j = exp(-beta s_j) / Z, where s_j >= 0 are squared distances
// shifted by their minimum so exp cannot underflow for every j at once.
// Also fills `weights` with the unnormalized exp(-beta s_j).
EntropyAt entropy_at(const std::vector<double>& shifted, double beta,
                     std::vector<double>& weights) {
    double z = 0.0, first = 0.0, second = 0.0;
    for (std::size_t j = 0; j < shifted.size(); ++j) {
        const double w = std::exp(-beta * shifted[j]);
        weights[j] = w;
        z += w;
        first += w * shifted[j];
        second += w * shifted[j] * shifted[j];
    }
    const double mean = first / z;
    return {std::log(z) + beta * mean, std::max(0.0, second / z - mean * mean)};
}

// Safeguarded Newton iteration on beta: H(beta) decreases from log k at beta = 0,
// with dH/dbeta = -beta * Var(s).  Steps leaving the bracket fall back to
// bisection, or doubling while no upper bound is known.
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
        if (!(next > low && next < high)) next = std::isfinite(high) ? 0.5 * (low + high) : 2 * beta;
        beta = next;
    }
    entropy_at(shifted, beta, weights);  // weights for the beta returned
    return beta;
}

void calibrate_row(const double* distances, std::int64_t row, std::int64_t k,
                   const CalibrationSettings& settings, std::vector<double>& shifted,
                   std::vector<double>& weights, double* probabilities, double* beta) {
    double smallest = std::numeric_limits<double>::infinity();
    for (std::int64_t j = 0; j < k; ++j) {
        const double d = distances[j];
        if (!(d >= 0.0) || !std::isfinite(d)) {
            throw std::invalid_argument("distances must be finite and non-negative; row " +
                                        std::to_string(row) + " has " + std::to_string(d));
        }
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
    *beta = solve_beta(shifted, target, settings, weights);
    double z = 0.0;
    for (std::int64_t j = 0; j < k; ++j) z += weights[j];
    for (std::int64_t j = 0; j < k; ++j) probabilities[j] = weights[j] / z;
}

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
    const std::int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
    ParallelGuard guard(options);
#pragma omp parallel num_threads(std::max(1, options.n_threads))
    {
        std::vector<double> shifted, weights;
        guard.run([&] {
            shifted.resize(k);
            weights.resize(k);
        });
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t b = 0; b < blocks; ++b) {
            guard.run([&] {
                const std::int64_t end = std::min(n, (b + 1) * kRowBlock);
                for (std::int64_t i = b * kRowBlock; i < end; ++i) {
                    calibrate_row(distances + i * k, i, k, settings, shifted, weights,
                                  probabilities + i * k, betas + i);
                }
            });
        }
    }
    guard.rethrow();
}

}  // namespace tsne
