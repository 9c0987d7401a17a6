// Per-point Gaussian calibration to a target perplexity.
#pragma once

#include <cstdint>

#include "parallel.hpp"

namespace tsne {

struct CalibrationSettings {
    double perplexity = 30.0;
    double entropy_tolerance = 1e-8;  // nats
    int max_iterations = 200;
};

// For each of the n rows of `distances` (n x k, row-major, non-negative),
// finds the precision beta_i such that the conditional distribution
//   p_j = exp(-beta_i * d_j^2) / sum_l exp(-beta_i * d_l^2)
// has entropy log(perplexity) nats, and writes p (n x k) and beta (n).
// Two kinds of rows have no finite positive beta_i; they are tested in this
// order, each to within the entropy tolerance:
// - at least `perplexity` distances tie at the row's smallest (duplicates, or
//   all k distances equal): even an infinitely narrow kernel spreads p over
//   those ties, so p is uniform over them, 0 elsewhere, and beta_i = +inf;
// - otherwise, perplexity == k: p is uniform over all k and beta_i = 0.
// Otherwise beta_i is finite, except that it overflows to +inf for a row whose
// distances are all below about 1e-154.
//
// Throws std::invalid_argument for bad sizes, a perplexity outside (0, k] or a
// negative or non-finite distance.  Results do not depend on n_threads.
void calibrate(const double* distances, std::int64_t n, std::int64_t k,
               const CalibrationSettings& settings, double* probabilities, double* betas,
               const RunOptions& options);

}  // namespace tsne
