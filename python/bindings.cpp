// The only file that knows about Python: converts arrays in and out of the
// native core, releases the GIL around it and maps its exceptions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>
#include <utility>

#include "calibrate.hpp"
#include "gradient.hpp"
#include "knn.hpp"
#include "parallel.hpp"
#include "symmetrize.hpp"

namespace py = pybind11;

namespace {

tsne::RunOptions run_options(int n_threads) {
    return {n_threads, [] {
                py::gil_scoped_acquire gil;
                return PyErr_CheckSignals() != 0;
            }};
}

// Hands a vector's buffer to numpy without copying it.
template <class T>
py::array_t<T> to_numpy(tsne::Buffer<T>&& values) {
    auto* owner = new tsne::Buffer<T>(std::move(values));
    py::capsule release(owner, [](void* p) { delete static_cast<tsne::Buffer<T>*>(p); });
    return py::array_t<T>(static_cast<py::ssize_t>(owner->size()), owner->data(), release);
}

template <class T>
using InArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
py::tuple exact_knn(const InArray<T>& x, std::int64_t k, tsne::Metric metric, int n_threads) {
    if (x.ndim() != 2) throw std::invalid_argument("X must be 2-D");
    const std::int64_t n = x.shape(0), d = x.shape(1);
    py::array_t<std::int64_t> indices({n, k});
    py::array_t<double> distances({n, k});
    {
        py::gil_scoped_release nogil;
        tsne::exact_knn<T>(x.data(), n, d, k, metric, indices.mutable_data(),
                           distances.mutable_data(), run_options(n_threads));
    }
    return py::make_tuple(indices, distances);
}

template <class T>
py::tuple exact_knn_of_rows(const InArray<T>& x, const InArray<std::int64_t>& rows,
                            std::int64_t k, tsne::Metric metric, int n_threads) {
    if (x.ndim() != 2 || rows.ndim() != 1) {
        throw std::invalid_argument("X must be 2-D and rows 1-D");
    }
    const std::int64_t n_rows = rows.shape(0);
    py::array_t<std::int64_t> indices({n_rows, k});
    py::array_t<double> distances({n_rows, k});
    {
        py::gil_scoped_release nogil;
        tsne::exact_knn_of_rows<T>(x.data(), x.shape(0), x.shape(1), rows.data(), n_rows, k,
                                   metric, indices.mutable_data(), distances.mutable_data(),
                                   run_options(n_threads));
    }
    return py::make_tuple(indices, distances);
}

template <class T>
py::tuple rerank_knn(const InArray<T>& x, const InArray<std::int64_t>& candidates, std::int64_t k,
                     tsne::Metric metric, int n_threads) {
    if (x.ndim() != 2 || candidates.ndim() != 2 || candidates.shape(0) != x.shape(0)) {
        throw std::invalid_argument("X and candidates must be 2-D with the same number of rows");
    }
    const std::int64_t n = x.shape(0), d = x.shape(1);
    py::array_t<std::int64_t> indices({n, k});
    py::array_t<double> distances({n, k});
    {
        py::gil_scoped_release nogil;
        tsne::rerank_knn<T>(x.data(), n, d, candidates.data(), candidates.shape(1), k, metric,
                            indices.mutable_data(), distances.mutable_data(),
                            run_options(n_threads));
    }
    return py::make_tuple(indices, distances);
}

py::array_t<std::int64_t> nearest_centroids(const InArray<float>& x,
                                            const InArray<float>& centroids, std::int64_t count,
                                            int n_threads) {
    if (x.ndim() != 2 || centroids.ndim() != 2 || centroids.shape(1) != x.shape(1)) {
        throw std::invalid_argument("X and centroids must be 2-D with as many columns");
    }
    py::array_t<std::int64_t> nearest({x.shape(0), count});
    {
        py::gil_scoped_release nogil;
        tsne::nearest_centroids(x.data(), x.shape(0), x.shape(1), centroids.data(),
                                centroids.shape(0), count, nearest.mutable_data(),
                                run_options(n_threads));
    }
    return nearest;
}

py::array_t<std::int64_t> probed_knn(const InArray<float>& x,
                                     const InArray<std::int64_t>& homes, std::int64_t m,
                                     const InArray<std::int64_t>& queries,
                                     const InArray<std::int64_t>& probes, std::int64_t c,
                                     int n_threads, bool bfloat16) {
    if (x.ndim() != 2 || homes.ndim() != 1 || homes.shape(0) != x.shape(0) ||
        queries.ndim() != 1 || probes.ndim() != 2 || probes.shape(0) != queries.shape(0)) {
        throw std::invalid_argument(
            "X must be 2-D, homes a cluster per row of X, queries 1-D, probes a row per query");
    }
    const std::int64_t n_queries = queries.shape(0);
    py::array_t<std::int64_t> candidates({n_queries, c});
    {
        py::gil_scoped_release nogil;
        tsne::probed_knn(x.data(), x.shape(0), x.shape(1), homes.data(), m, queries.data(),
                         n_queries, probes.data(), probes.shape(1), c,
                         candidates.mutable_data(), bfloat16, run_options(n_threads));
    }
    return candidates;
}

template <class T>
py::tuple rerank_query_knn(const InArray<T>& x, const InArray<T>& queries,
                           const InArray<std::int64_t>& candidates, std::int64_t k,
                           tsne::Metric metric, int n_threads) {
    if (x.ndim() != 2 || queries.ndim() != 2 || candidates.ndim() != 2 ||
        queries.shape(1) != x.shape(1) || candidates.shape(0) != queries.shape(0)) {
        throw std::invalid_argument(
            "X and queries must be 2-D with as many columns, candidates a row per query");
    }
    const std::int64_t n_queries = queries.shape(0);
    py::array_t<std::int64_t> indices({n_queries, k});
    py::array_t<double> distances({n_queries, k});
    {
        py::gil_scoped_release nogil;
        tsne::rerank_query_knn<T>(x.data(), x.shape(0), x.shape(1), queries.data(), n_queries,
                                  candidates.data(), candidates.shape(1), k, metric,
                                  indices.mutable_data(), distances.mutable_data(),
                                  run_options(n_threads));
    }
    return py::make_tuple(indices, distances);
}

py::array_t<std::int64_t> probed_query_knn(const InArray<float>& x,
                                           const InArray<std::int64_t>& homes, std::int64_t m,
                                           const InArray<float>& queries,
                                           const InArray<std::int64_t>& probes, std::int64_t c,
                                           int n_threads, bool bfloat16) {
    if (x.ndim() != 2 || homes.ndim() != 1 || homes.shape(0) != x.shape(0) ||
        queries.ndim() != 2 || queries.shape(1) != x.shape(1) || probes.ndim() != 2 ||
        probes.shape(0) != queries.shape(0)) {
        throw std::invalid_argument(
            "X and queries must be 2-D with as many columns, homes a cluster per row of X, "
            "probes a row per query");
    }
    const std::int64_t n_queries = queries.shape(0);
    py::array_t<std::int64_t> candidates({n_queries, c});
    {
        py::gil_scoped_release nogil;
        tsne::probed_query_knn(x.data(), x.shape(0), x.shape(1), homes.data(), m,
                               queries.data(), n_queries, probes.data(), probes.shape(1), c,
                               candidates.mutable_data(), bfloat16, run_options(n_threads));
    }
    return candidates;
}

py::tuple calibrate(const InArray<double>& distances, double perplexity, double tolerance,
                    int max_iterations, int n_threads) {
    if (distances.ndim() != 2) throw std::invalid_argument("distances must be 2-D");
    const std::int64_t n = distances.shape(0), k = distances.shape(1);
    py::array_t<double> probabilities({n, k});
    py::array_t<double> betas(n);
    {
        py::gil_scoped_release nogil;
        tsne::calibrate(distances.data(), n, k, {perplexity, tolerance, max_iterations},
                        probabilities.mutable_data(), betas.mutable_data(),
                        run_options(n_threads));
    }
    return py::make_tuple(probabilities, betas);
}

py::tuple symmetrize(const InArray<std::int64_t>& neighbors, const InArray<double>& conditional,
                     int n_threads) {
    if (neighbors.ndim() != 2 || conditional.ndim() != 2 ||
        neighbors.shape(0) != conditional.shape(0) || neighbors.shape(1) != conditional.shape(1)) {
        throw std::invalid_argument("neighbors and conditional must be 2-D of the same shape");
    }
    tsne::CsrMatrix p;
    {
        py::gil_scoped_release nogil;
        p = tsne::symmetrize(neighbors.data(), conditional.data(), neighbors.shape(0),
                             neighbors.shape(1), run_options(n_threads));
    }
    return py::make_tuple(to_numpy(std::move(p.indptr)), to_numpy(std::move(p.indices)),
                          to_numpy(std::move(p.data)));
}

template <class T>
void check_embedding(const InArray<T>& y, const char* name) {
    if (y.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
}

tsne::InterpolationGrid make_grid(std::int64_t dimensions, std::int64_t n_boxes,
                                  std::int64_t points_per_box, double lower, double box_width) {
    return {dimensions, n_boxes, points_per_box, lower, box_width};
}

py::tuple attractive_forces(const InArray<std::int64_t>& indptr,
                            const InArray<std::int32_t>& indices, const InArray<float>& p,
                            const InArray<double>& y, const InArray<float>& reference,
                            double dof, bool with_kl, int n_threads) {
    check_embedding(y, "y");
    check_embedding(reference, "reference");
    const std::int64_t n = y.shape(0), d = y.shape(1);
    if (indptr.ndim() != 1 || indptr.shape(0) != n + 1 || indices.ndim() != 1 ||
        p.ndim() != 1 || indices.shape(0) != p.shape(0) || reference.shape(1) != d ||
        indptr.at(n) != indices.shape(0)) {
        throw std::invalid_argument("P must be an n x m CSR matrix for y (n x d), reference (m x d)");
    }
    py::array_t<double> attraction({n, d});
    double log_sum = 0;
    {
        py::gil_scoped_release nogil;
        log_sum = tsne::attractive_forces(indptr.data(), indices.data(), p.data(), y.data(), n,
                                          reference.data(), reference.shape(0), d, dof, with_kl,
                                          attraction.mutable_data(), run_options(n_threads));
    }
    return py::make_tuple(attraction, log_sum);
}

py::array_t<float> spread_charges(const InArray<double>& y, std::int64_t n_boxes,
                                  std::int64_t points_per_box, double lower, double box_width,
                                  int n_threads) {
    check_embedding(y, "y");
    const auto grid = make_grid(y.shape(1), n_boxes, points_per_box, lower, box_width);
    std::vector<py::ssize_t> shape(static_cast<std::size_t>(grid.dimensions + 1),
                                   grid.nodes_per_axis());
    shape[0] = grid.dimensions + 1;
    py::array_t<float> charges(shape);
    {
        py::gil_scoped_release nogil;
        tsne::spread_charges(y.data(), y.shape(0), grid, charges.mutable_data(),
                             run_options(n_threads));
    }
    return charges;
}

py::array_t<double> interpolate_potentials(const InArray<double>& y, std::int64_t n_boxes,
                                           std::int64_t points_per_box, double lower,
                                           double box_width, const InArray<float>& potentials,
                                           int n_threads) {
    check_embedding(y, "y");
    const auto grid = make_grid(y.shape(1), n_boxes, points_per_box, lower, box_width);
    const std::int64_t fields_axis = grid.dimensions;
    if (potentials.ndim() != grid.dimensions + 1 ||
        potentials.size() != potentials.shape(fields_axis) * grid.node_count()) {
        throw std::invalid_argument("potentials must be (nodes, ..., n_fields) over the grid");
    }
    const std::int64_t n = y.shape(0), n_fields = potentials.shape(fields_axis);
    py::array_t<double> values({n, n_fields});
    {
        py::gil_scoped_release nogil;
        tsne::interpolate_potentials(y.data(), n, grid, potentials.data(), n_fields,
                                     values.mutable_data(), run_options(n_threads));
    }
    return values;
}

py::tuple barnes_hut_repulsion(const InArray<double>& y, const InArray<double>& sources,
                               double dof, double theta, bool exclude_self, int n_threads) {
    check_embedding(y, "y");
    check_embedding(sources, "sources");
    if (sources.shape(1) != y.shape(1)) {
        throw std::invalid_argument("y and sources must have the same number of columns");
    }
    const std::int64_t n = y.shape(0), d = y.shape(1);
    py::array_t<double> repulsion({n, d});
    py::array_t<double> z(n);
    {
        py::gil_scoped_release nogil;
        tsne::barnes_hut_repulsion(y.data(), n, sources.data(), sources.shape(0), d, dof, theta,
                                   exclude_self, repulsion.mutable_data(), z.mutable_data(),
                                   run_options(n_threads));
    }
    return py::make_tuple(repulsion, z);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "Native core of tsne_native (use the functions of tsne_native instead).";

    py::register_exception_translator([](std::exception_ptr error) {
        try {
            if (error) std::rethrow_exception(error);
        } catch (const tsne::Interrupted&) {
            // The interrupt check already set the signal handler's exception.
            if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        }
    });

    py::enum_<tsne::Metric>(m, "Metric")
        .value("euclidean", tsne::Metric::euclidean)
        .value("cosine", tsne::Metric::cosine);

    m.def("has_openmp", &tsne::compiled_with_openmp);
    m.def("exact_knn", &exact_knn<float>, py::arg("x"), py::arg("k"), py::arg("metric"),
          py::arg("n_threads"));
    m.def("exact_knn", &exact_knn<double>, py::arg("x"), py::arg("k"), py::arg("metric"),
          py::arg("n_threads"));
    m.def("exact_knn_of_rows", &exact_knn_of_rows<float>, py::arg("x"), py::arg("rows"),
          py::arg("k"), py::arg("metric"), py::arg("n_threads"));
    m.def("exact_knn_of_rows", &exact_knn_of_rows<double>, py::arg("x"), py::arg("rows"),
          py::arg("k"), py::arg("metric"), py::arg("n_threads"));
    m.def("rerank_knn", &rerank_knn<float>, py::arg("x"), py::arg("candidates"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"));
    m.def("rerank_knn", &rerank_knn<double>, py::arg("x"), py::arg("candidates"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"));
    m.def("rerank_query_knn", &rerank_query_knn<float>, py::arg("x"), py::arg("queries"),
          py::arg("candidates"), py::arg("k"), py::arg("metric"), py::arg("n_threads"));
    m.def("rerank_query_knn", &rerank_query_knn<double>, py::arg("x"), py::arg("queries"),
          py::arg("candidates"), py::arg("k"), py::arg("metric"), py::arg("n_threads"));
    m.def("probed_query_knn", &probed_query_knn, py::arg("x"), py::arg("homes"), py::arg("m"),
          py::arg("queries"), py::arg("probes"), py::arg("c"), py::arg("n_threads"),
          py::arg("bfloat16") = true);
    m.def("probed_knn", &probed_knn, py::arg("x"), py::arg("homes"), py::arg("m"),
          py::arg("queries"), py::arg("probes"), py::arg("c"), py::arg("n_threads"),
          py::arg("bfloat16") = true);
    m.def("native_bfloat16", &tsne::native_bfloat16);
    m.def("nearest_centroids", &nearest_centroids, py::arg("x"), py::arg("centroids"),
          py::arg("count"), py::arg("n_threads"));
    m.def("calibrate", &calibrate, py::arg("distances"), py::arg("perplexity"),
          py::arg("tolerance"), py::arg("max_iterations"), py::arg("n_threads"));
    m.def("symmetrize", &symmetrize, py::arg("neighbors"), py::arg("conditional"),
          py::arg("n_threads"));
    m.def("attractive_forces", &attractive_forces, py::arg("indptr"), py::arg("indices"),
          py::arg("p"), py::arg("y"), py::arg("reference"), py::arg("dof"), py::arg("with_kl"),
          py::arg("n_threads"));
    m.def("spread_charges", &spread_charges, py::arg("y"), py::arg("n_boxes"),
          py::arg("points_per_box"), py::arg("lower"), py::arg("box_width"),
          py::arg("n_threads"));
    m.def("interpolate_potentials", &interpolate_potentials, py::arg("y"), py::arg("n_boxes"),
          py::arg("points_per_box"), py::arg("lower"), py::arg("box_width"),
          py::arg("potentials"), py::arg("n_threads"));
    m.def("barnes_hut_repulsion", &barnes_hut_repulsion, py::arg("y"), py::arg("sources"),
          py::arg("dof"), py::arg("theta"), py::arg("exclude_self"), py::arg("n_threads"));
}
