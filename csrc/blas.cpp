#include "blas.hpp"

#include <cblas.h>

namespace tsne {

void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n,
              std::int64_t d, std::int64_t ldc) {
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
                      static_cast<blasint>(n), static_cast<blasint>(d), 1.0f, a,
                      static_cast<blasint>(d), b, static_cast<blasint>(d), 0.0f, c,
                      static_cast<blasint>(ldc));
}

void gemm_abt(const double* a, const double* b, double* c, std::int64_t m, std::int64_t n,
              std::int64_t d, std::int64_t ldc) {
    scipy_cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
                      static_cast<blasint>(n), static_cast<blasint>(d), 1.0, a,
                      static_cast<blasint>(d), b, static_cast<blasint>(d), 0.0, c,
                      static_cast<blasint>(ldc));
}

SingleThreadedBlas::SingleThreadedBlas() : previous_(scipy_openblas_get_num_threads()) {
    scipy_openblas_set_num_threads(1);
}

SingleThreadedBlas::~SingleThreadedBlas() { scipy_openblas_set_num_threads(previous_); }

}  // namespace tsne
