// k-nearest-neighbour searches: exact, re-ranking of candidates, and the
// probed (inverted-file) first stage of the approximate search.
#pragma once

#include <cstdint>

#include "parallel.hpp"

namespace tsne {

enum class Metric { euclidean, cosine };

// For each of the n rows of x (row-major, n x d), finds its k nearest other
// rows.  Writes their indices and distances (n x k, row-major) ordered by
// increasing distance, ties broken by smaller index; a row is never its own
// neighbour.  Distances are Euclidean (not squared) for Metric::euclidean and
// 1 - cos(angle) for Metric::cosine, computed exactly in double precision.
//
// Candidates come from blocked GEMM products (||y||^2 - 2 x.y, or -x.y/||y||)
// with a running top-k per row; a few more than k candidates are kept and
// re-ranked by their exact distance so rounding in the products cannot drop a
// true neighbour.  Results do not depend on options.n_threads.
//
// Throws std::invalid_argument for bad sizes or, with Metric::cosine, an
// all-zero row; tsne::Interrupted when options.interrupt_check asks to stop.
template <class T>
void exact_knn(const T* x, std::int64_t n, std::int64_t d, std::int64_t k, Metric metric,
               std::int64_t* indices, double* distances, const RunOptions& options);

// exact_knn for some rows only: the k nearest other rows of each of rows
// rows[0 .. n_rows) of x (n x d), written to indices and distances (n_rows x
// k) as exact_knn writes them.  A sample of rows whose true neighbours check
// an approximate search is searched here.
//
// Throws std::invalid_argument for bad sizes or a row outside [0, n), and as
// exact_knn does otherwise.
template <class T>
void exact_knn_of_rows(const T* x, std::int64_t n, std::int64_t d, const std::int64_t* rows,
                       std::int64_t n_rows, std::int64_t k, Metric metric,
                       std::int64_t* indices, double* distances, const RunOptions& options);

// Re-ranks candidate neighbours by their exact distance in x: for each of the n
// rows, `candidates` (n x c, row-major) lists c row numbers (the row itself and
// repeats are skipped); writes the k nearest of them (n x k) ordered as
// exact_knn does, with the same distances.  The approximate search finds
// candidates in a projection and settles them here in the full dimension.
//
// Throws std::invalid_argument for bad sizes, a candidate outside [0, n), fewer
// than k distinct candidates in a row or (cosine) an all-zero row;
// tsne::Interrupted when options.interrupt_check asks to stop.
template <class T>
void rerank_knn(const T* x, std::int64_t n, std::int64_t d, const std::int64_t* candidates,
                std::int64_t c, std::int64_t k, Metric metric, std::int64_t* indices,
                double* distances, const RunOptions& options);

// rerank_knn for n_queries points that are not rows of x (queries, n_queries x
// d): candidates (n_queries x c) are rows of x, none is skipped, and
// 1 <= k <= n.  New points placed on a fitted map find their neighbours here.
template <class T>
void rerank_query_knn(const T* x, std::int64_t n, std::int64_t d, const T* queries,
                      std::int64_t n_queries, const std::int64_t* candidates, std::int64_t c,
                      std::int64_t k, Metric metric, std::int64_t* indices, double* distances,
                      const RunOptions& options);

// The `count` nearest of the m centroids (m x d, row-major) of each of the n
// rows of x (n x d), nearest first, ties broken by smaller centroid number:
// nearest (n x count, row-major).  Keys come from blocked GEMM products
// (||c||^2 - 2 x.c) as in exact_knn; when there are more rows than centroids,
// each row's selection starts from the neighbourhood of its nearest centroid,
// whose keys bound the count-th smallest, so that a chunk of keys above the
// bound is dismissed in vector registers.  The inverted file's probes and the
// assignments of k-means come from here.  Results do not depend on
// options.n_threads.
//
// Throws std::invalid_argument for bad sizes or keys that are not finite;
// tsne::Interrupted when options.interrupt_check asks to stop.
void nearest_centroids(const float* x, std::int64_t n, std::int64_t d, const float* centroids,
                       std::int64_t m, std::int64_t count, std::int64_t* nearest,
                       const RunOptions& options);

// Candidate neighbours from an inverted file: the first stage of the
// approximate search, run in a low-dimensional projection.  Row i of x (n x
// d, row-major) lives in cluster homes[i] < m.  Query row queries[t] (t <
// n_queries) looks only at the rows whose home is one of the p clusters
// probes[t * p .. t * p + p - 1] (its home first, then nearest first) and
// writes the c nearest of them (Euclidean, the row itself excluded, ties
// broken by a fixed order) to candidates[t * c .. t * c + c - 1], in no
// particular order, padded with -1 when those clusters hold fewer than c
// other rows.  A cluster listed twice by a query is searched once.
//
// The queries of a home cluster are searched together: for each cluster any
// of them probes, the queries probing it are gathered and multiplied with its
// rows, packed once in panels, four queries by sixteen rows at a time in
// vector registers; the products rank candidates as in exact_knn.  Results
// do not depend on options.n_threads; a query's candidates, as a set, do not
// depend on the other queries (but for rounding in the products).
//
// With `bfloat16` on a CPU that multiplies bfloat16 natively
// (native_bfloat16()), the rows and queries are rounded to bfloat16 (8
// significant bits) and multiplied in pairs, sixteen rows by one query per
// instruction (AVX512-BF16), twice the products of a float32 multiply-add:
// the candidates are then the c nearest by the rounded values, so that a
// caller wanting the k nearest asks for a few more than k and re-ranks them.
//
// Throws std::invalid_argument for bad sizes, a home or probe outside [0, m)
// or a query outside [0, n); tsne::Interrupted when options.interrupt_check
// asks to stop.
void probed_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                std::int64_t m, const std::int64_t* queries, std::int64_t n_queries,
                const std::int64_t* probes, std::int64_t p, std::int64_t c,
                std::int64_t* candidates, bool bfloat16, const RunOptions& options);

// probed_knn for n_queries points that are not rows of x (queries, n_queries x
// d): row i of x lives in cluster homes[i] < m, query t probes the clusters
// probes[t * p .. t * p + p - 1] (nearest first) and gets the c <= n nearest
// rows there, none excluded, padded with -1 as above.
void probed_query_knn(const float* x, std::int64_t n, std::int64_t d, const std::int64_t* homes,
                      std::int64_t m, const float* queries, std::int64_t n_queries,
                      const std::int64_t* probes, std::int64_t p, std::int64_t c,
                      std::int64_t* candidates, bool bfloat16, const RunOptions& options);

// Whether this CPU multiplies bfloat16 pairs natively (AVX512-BF16), so that
// the probed searches can use their bfloat16 kernel.
bool native_bfloat16();

}  // namespace tsne
