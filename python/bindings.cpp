// The only file that knows about Python: converts arrays in and out of the
// native core, releases the GIL around it and maps its exceptions.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <utility>

#include "calibrate.hpp"
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

py::array_t<std::int64_t> probed_knn(const InArray<float>& x,
                                     const InArray<std::int64_t>& probes, std::int64_t m,
                                     const InArray<std::int64_t>& queries, std::int64_t c,
                                     int n_threads) {
    if (x.ndim() != 2 || probes.ndim() != 2 || probes.shape(0) != x.shape(0) ||
        queries.ndim() != 1) {
        throw std::invalid_argument(
            "X and probes must be 2-D with the same number of rows, queries 1-D");
    }
    const std::int64_t n_queries = queries.shape(0);
    py::array_t<std::int64_t> candidates({n_queries, c});
    {
        py::gil_scoped_release nogil;
        tsne::probed_knn(x.data(), x.shape(0), x.shape(1), probes.data(), probes.shape(1), m,
                         queries.data(), n_queries, c, candidates.mutable_data(),
                         run_options(n_threads));
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
    m.def("rerank_knn", &rerank_knn<float>, py::arg("x"), py::arg("candidates"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"));
    m.def("rerank_knn", &rerank_knn<double>, py::arg("x"), py::arg("candidates"), py::arg("k"),
          py::arg("metric"), py::arg("n_threads"));
    m.def("probed_knn", &probed_knn, py::arg("x"), py::arg("probes"), py::arg("m"),
          py::arg("queries"), py::arg("c"), py::arg("n_threads"));
    m.def("calibrate", &calibrate, py::arg("distances"), py::arg("perplexity"),
          py::arg("tolerance"), py::arg("max_iterations"), py::arg("n_threads"));
    m.def("symmetrize", &symmetrize, py::arg("neighbors"), py::arg("conditional"),
          py::arg("n_threads"));
}
