// What the k-nearest-neighbour searches share (exact_knn and rerank_knn in
// knn.cpp, nearest_centroids in knn_centroids.cpp, probed_knn in
// knn_probed.cpp): block sizes, the running top-k of a query row (Candidates,
// or PackedCandidates in one 64-bit word each), the GEMM ranking keys and
// the checks of sizes and row numbers.  Private to those three files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "knn.hpp"
#include "simd.hpp"

namespace tsne {
namespace knn_detail {

// Rows per query block and columns per reference block: a block's product
// (kQueryBlock x kReferenceBlock) stays in L2/L3 while its rows' candidates are updated.
constexpr std::int64_t kQueryBlock = 384;
constexpr std::int64_t kReferenceBlock = 2048;

// The `capacity` best (smallest key, then smallest index) candidates of one
// query row.  Keys below the threshold are appended; when the buffer (twice the
// capacity) is full, the best `capacity` are kept and the threshold drops to the
// worst of them.  Amortized O(1) per offer: a heap's sift touched O(log c)
// scattered entries per offer, which dominated the search when d is small.
template <class T>
class Candidates {
public:
    struct Entry {
        T key;
        std::int64_t id;
        bool operator<(const Entry& other) const {
            return key < other.key || (key == other.key && id < other.id);
        }
    };

    // Only keys below `bound` are ever taken (a caller that knows an upper
    // bound of the capacity-th smallest key skips the offers above it).
    Candidates(Entry* storage, std::int64_t capacity,
               T bound = std::numeric_limits<T>::infinity())
        : entries_(storage), capacity_(capacity), threshold_(bound) {}

    T threshold() const { return threshold_; }

    void offer(T key, std::int64_t id) {
        entries_[count_++] = {key, id};
        if (count_ == 2 * capacity_) shrink();
    }

    // The best candidates kept (at most `capacity`, in no particular order).
    std::pair<const Entry*, std::int64_t> best() {
        if (count_ > capacity_) shrink();
        return {entries_, count_};
    }

private:
    void shrink() {
        std::nth_element(entries_, entries_ + capacity_ - 1, entries_ + count_);
        count_ = capacity_;
        threshold_ = entries_[capacity_ - 1].key;
    }

    Entry* entries_;
    std::int64_t capacity_;
    std::int64_t count_ = 0;
    T threshold_;
};

// The `capacity` best candidates of one query (smallest key, then smallest
// id: a slot of the probed search's inverted file, or a centroid), each packed
// in one 64-bit word: the key's bits, made to order as an unsigned integer,
// above the id.  Keys below the threshold are appended, one by one or (the
// probed search's bfloat16 kernel) a panel's at once, compressed in a vector
// register and stored whole, which needs one array of whole words (offering
// row by row cost more: bench/RESULTS.md, commits 5fcf08b and a2c0d04); at
// 2 * capacity words the best `capacity` are kept and the threshold drops to
// the worst of them.
class PackedCandidates {
public:
    // Words one store may write beyond 2 * capacity before the shrink (the
    // probed search's stores whole vector registers of compressed words).
    static constexpr std::int64_t kSlack = 16;

    // `storage` holds 2 * capacity + kSlack words.  Only keys below `bound`
    // are ever taken (a caller that knows an upper bound of the capacity-th
    // smallest key skips the offers above it).
    PackedCandidates(std::uint64_t* storage, std::int64_t capacity,
                     float bound = std::numeric_limits<float>::infinity())
        : words_(storage), capacity_(capacity), threshold_(bound) {}

    float threshold() const { return threshold_; }

    void offer(float key, std::int64_t id) {
        words_[count_++] = std::uint64_t(ordered_bits(key)) << 32 | std::uint32_t(id);
        if (count_ >= 2 * capacity_) shrink();
    }

    // Where the next words go, and that `count` were written there.
    std::uint64_t* end() { return words_ + count_; }
    void appended(std::int64_t count) {
        count_ += count;
        if (count_ >= 2 * capacity_) shrink();
    }

    // Writes the ids of the best candidates kept (in no particular order, or
    // nearest first) and returns how many there are (at most `capacity`).
    std::int64_t best(std::int64_t* ids, bool nearest_first = false) {
        if (count_ > capacity_) shrink();
        if (nearest_first) std::sort(words_, words_ + count_);
        for (std::int64_t t = 0; t < count_; ++t) {
            ids[t] = static_cast<std::int64_t>(words_[t] & 0xffffffffu);
        }
        return count_;
    }

    // The bits of a float (not NaN) as an unsigned integer in the order of
    // the floats' values (-0 just before +0).
    static std::uint32_t ordered_bits(float key) {
        std::uint32_t bits;
        std::memcpy(&bits, &key, sizeof bits);
        return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    }

private:
    static float key_of(std::uint64_t word) {
        std::uint32_t bits = static_cast<std::uint32_t>(word >> 32);
        bits = (bits & 0x80000000u) ? bits & 0x7fffffffu : ~bits;
        float key;
        std::memcpy(&key, &bits, sizeof key);
        return key;
    }

    void shrink() {
        std::nth_element(words_, words_ + capacity_ - 1, words_ + count_);
        count_ = capacity_;
        threshold_ = key_of(words_[capacity_ - 1]);
    }

    std::uint64_t* words_;
    std::int64_t capacity_;
    std::int64_t count_ = 0;
    float threshold_;
};

// The ranking key of reference row j for a fixed query row is
// offset[j] + scale[j] * dot(query, row j): ||y||^2 - 2 x.y for Euclidean
// (||x||^2 is constant per query), -x.y / ||y|| for cosine (||x|| likewise).
template <class T>
struct RankingTerms {
    std::vector<T> offset;
    std::vector<T> scale;
    std::vector<double> norms;  // ||row||, exact in double
};

template <class T>
RankingTerms<T> ranking_terms(const T* x, std::int64_t n, std::int64_t d, Metric metric,
                              int n_threads) {
    RankingTerms<T> terms{std::vector<T>(n), std::vector<T>(n), std::vector<double>(n)};
    std::int64_t zero_row = n;  // the first all-zero row, if any (cosine only)
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(min : zero_row)
    for (std::int64_t i = 0; i < n; ++i) {
        const T* row = x + i * d;
        double squared = 0.0;
        for (std::int64_t c = 0; c < d; ++c) squared += double(row[c]) * double(row[c]);
        terms.norms[i] = std::sqrt(squared);
        if (metric == Metric::euclidean) {
            terms.offset[i] = static_cast<T>(squared);
            terms.scale[i] = T(-2);
        } else {
            if (squared == 0.0) zero_row = std::min(zero_row, i);
            terms.offset[i] = T(0);
            terms.scale[i] = squared > 0.0 ? static_cast<T>(-1.0 / terms.norms[i]) : T(0);
        }
    }
    if (zero_row < n) {
        throw std::invalid_argument("cosine distance is undefined for an all-zero row (row " +
                                    std::to_string(zero_row) + ")");
    }
    return terms;
}

// Offers reference rows first_ref .. first_ref + refs - 1 to query row `self`'s
// candidates, given their dot products with the query.  Keys are computed and
// compared with the threshold a chunk at a time in vector registers; only the
// keys below it are then looked at one by one (the threshold only drops, so
// the others could not be taken).
template <class T>
TSNE_VECTOR_CLONES void offer_block_row(const T* dots, const T* offset, const T* scale,
                                        std::int64_t refs, std::int64_t first_ref,
                                        std::int64_t self, Candidates<T>& best) {
    constexpr std::int64_t kChunk = 16;
    T keys[kChunk];
    for (std::int64_t start = 0; start < refs; start += kChunk) {
        const std::int64_t count = std::min(kChunk, refs - start);
        for (std::int64_t c = 0; c < count; ++c) {
            keys[c] = offset[start + c] + scale[start + c] * dots[start + c];
        }
        const T threshold = best.threshold();
        unsigned below = 0;
        for (std::int64_t c = 0; c < count; ++c) below |= unsigned(keys[c] < threshold) << c;
        while (below != 0) {
            const int c = __builtin_ctz(below);
            below &= below - 1;
            const std::int64_t id = first_ref + start + c;
            if (keys[c] < best.threshold() && id != self) best.offer(keys[c], id);
        }
    }
}

// n rows of d columns and k neighbours (or candidates) per row.
inline void check_sizes(std::int64_t n, std::int64_t d, std::int64_t k) {
    if (n < 2) throw std::invalid_argument("need at least 2 rows, got " + std::to_string(n));
    if (d < 1) throw std::invalid_argument("need at least 1 column, got " + std::to_string(d));
    if (k < 1 || k >= n) {
        throw std::invalid_argument("k must be in [1, n - 1] = [1, " + std::to_string(n - 1) +
                                    "], got " + std::to_string(k));
    }
}

// Throws unless `size` fits the 32-bit sizes the GEMMs take.
inline void check_blas_size(std::int64_t size) {
    if (size > std::numeric_limits<int>::max()) {
        throw std::invalid_argument("data too large for 32-bit BLAS dimensions");
    }
}

// Throws std::invalid_argument, with the message `describe(t)`, for the first
// t < count with values[t] outside [0, limit).
template <class Describe>
void check_in_range(const std::int64_t* values, std::int64_t count, std::int64_t limit,
                    Describe describe) {
    for (std::int64_t t = 0; t < count; ++t) {
        if (values[t] < 0 || values[t] >= limit) throw std::invalid_argument(describe(t));
    }
}

}  // namespace knn_detail
}  // namespace tsne
