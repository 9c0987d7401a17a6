#include "blas.hpp"

#include <cblas.h>

namespace tsne {

namespace {

// C = A B^T for row-major A (m x d), B (n x d) and C (m x ldc), by the BLAS
// routine of T's precision.
template <class T, class Gemm>
void row_major_abt(Gemm gemm, const T* a, const T* b, T* c, std::int64_t m, std::int64_t n,
                   std::int64_t d, std::int64_t ldc) {
    const auto rows = static_cast<blasint>(m), columns = static_cast<blasint>(n),
               depth = static_cast<blasint>(d);
    gemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, columns, depth, T(1), a, depth, b,
         depth, T(0), c, static_cast<blasint>(ldc));
}

}  // namespace

void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n,
              std::int64_t d, std::int64_t ldc) {
    row_major_abt(scipy_cblas_sgemm, a, b, c, m, n, d, ldc);
}

void gemm_abt(const double* a, const double* b, double* c, std::int64_t m, std::int64_t n,
              std::int64_t d, std::int64_t ldc) {
    row_major_abt(scipy_cblas_dgemm, a, b, c, m, n, d, ldc);
}

SingleThreadedBlas::SingleThreadedBlas() : previous_(scipy_openblas_get_num_threads()) {
    scipy_openblas_set_num_threads(1);
}

SingleThreadedBlas::~SingleThreadedBlas() { scipy_openblas_set_num_threads(previous_); }

}  // namespace tsne
