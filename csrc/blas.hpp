// The two GEMM shapes the core needs, from OpenBLAS (scipy-openblas32, whose
// symbols carry the `scipy_` prefix so they never clash with numpy's copy).
#pragma once

#include <cstdint>

namespace tsne {

// C (m x n, row-major, leading dimension ldc) = A (m x d) * B (n x d)^T,
// A and B row-major with leading dimension d.  Single-threaded: callers
// parallelize over blocks themselves.
void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n,
              std::int64_t d, std::int64_t ldc);
void gemm_abt(const double* a, const double* b, double* c, std::int64_t m, std::int64_t n,
              std::int64_t d, std::int64_t ldc);

// Keeps OpenBLAS single-threaded for its lifetime (nested threading inside an
// OpenMP region oversubscribes the cores); restores the previous setting.
class SingleThreadedBlas {
public:
    SingleThreadedBlas();
    ~SingleThreadedBlas();
    SingleThreadedBlas(const SingleThreadedBlas&) = delete;
    SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

private:
    int previous_;
};

}  // namespace tsne
