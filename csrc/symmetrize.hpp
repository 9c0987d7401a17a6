// Joint probabilities from conditional neighbour rows.
#pragma once

#include <cstdint>
#include <vector>

#include "buffer.hpp"
#include "parallel.hpp"

namespace tsne {

// A sparse matrix in compressed sparse row form, column indices sorted per row.
struct CsrMatrix {
    Buffer<std::int64_t> indptr;  // n + 1
    Buffer<std::int32_t> indices; // nnz
    Buffer<double> data;          // nnz
};

// Given, for each of n points, k neighbour indices and the conditional
// probabilities P(j|i) (both n x k, row-major), returns the joint matrix
//   P = (P(j|i) + P(i|j)) / S,   S = the sum of all entries of P(j|i) + P(i|j)
// (S = 2n when every row sums to 1), symmetric with a zero diagonal.
// Throws std::invalid_argument for an index out of range, a point listed as
// its own neighbour or the same neighbour listed twice in one row, and for
// negative or non-finite probabilities.
CsrMatrix symmetrize(const std::int64_t* neighbors, const double* conditional, std::int64_t n,
                     std::int64_t k, const RunOptions& options);

}  // namespace tsne
