import hashlib
import subprocess
import sys

import numpy as np
import pytest

from tsne_native.fit import readers


@pytest.fixture
def matrix():
    return np.arange(12, dtype=np.float64).reshape(4, 3) / 4


# -- .npy / .npz ------------------------------------------------------------------

def test_npy_is_read_as_stored(tmp_path, matrix):
    np.save(tmp_path / "x.npy", matrix.astype(np.float32))
    vectors = readers.read_vectors(tmp_path / "x.npy")
    assert vectors.format == "npy"
    assert vectors.X.dtype == np.float32
    assert not isinstance(vectors.X, np.memmap)
    np.testing.assert_array_equal(vectors.X, matrix.astype(np.float32))
    assert vectors.labels is None and vectors.words is None


def test_large_npy_is_memory_mapped(tmp_path, matrix, monkeypatch):
    np.save(tmp_path / "x.npy", matrix)
    monkeypatch.setattr(readers, "MMAP_THRESHOLD_BYTES", 16)
    X = readers.read_vectors(tmp_path / "x.npy").X
    assert isinstance(X, np.memmap) and X.mode == "r"
    np.testing.assert_array_equal(X, matrix)


def test_npz_takes_key_and_labels_from_y(tmp_path, matrix):
    np.savez(tmp_path / "d.npz", X=matrix, y=np.array([3, 1, 4, 1]), Z=matrix * 2)
    vectors = readers.read_vectors(tmp_path / "d.npz")
    np.testing.assert_array_equal(vectors.X, matrix)
    np.testing.assert_array_equal(vectors.labels, [3, 1, 4, 1])
    np.testing.assert_array_equal(readers.read_vectors(tmp_path / "d.npz", key="Z").X, matrix * 2)


def test_npz_without_the_key_names_what_it_holds(tmp_path, matrix):
    np.savez(tmp_path / "d.npz", features=matrix)
    with pytest.raises(ValueError, match=r"no array 'X'; it holds features"):
        readers.read_vectors(tmp_path / "d.npz")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_corrupt_numpy_files(tmp_path, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(b"this is not numpy")
    with pytest.raises(ValueError, match=f"bad{suffix}: not a readable"):
        readers.read_vectors(path)


def test_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="obj.npy: not a readable .npy array"):
        readers.read_vectors(tmp_path / "obj.npy")


# -- csv / tsv ----------------------------------------------------------------

@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
@pytest.mark.parametrize("header", [True, False])
def test_delimited_tables_with_and_without_header(tmp_path, matrix, suffix, sep, header):
    lines = [sep.join(f"{v:g}" for v in row) for row in matrix]
    if header:
        lines.insert(0, sep.join(["a", "b", "c"]))
    path = tmp_path / f"t{suffix}"
    path.write_text("\n".join(lines) + "\n")
    vectors = readers.read_vectors(path)
    assert vectors.format == suffix[1:]
    np.testing.assert_allclose(vectors.X, matrix)


def test_csv_header_with_numeric_looking_names_only_is_data(tmp_path):
    (tmp_path / "t.csv").write_text('"1","2"\n3,4\n')
    np.testing.assert_array_equal(readers.read_vectors(tmp_path / "t.csv").X, [[1, 2], [3, 4]])


def test_csv_bad_cell_names_line_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"t.csv: line 3, column 2: 'oops' is not a number"):
        readers.read_vectors(tmp_path / "t.csv")


def test_csv_ragged_row_names_the_line(tmp_path):
    (tmp_path / "t.csv").write_text("1,2\n3,4\n5\n")
    with pytest.raises(ValueError, match=r"line 3 has 1 fields; the first row has 2"):
        readers.read_vectors(tmp_path / "t.csv")


def test_csv_nan_is_read_for_the_caller_to_reject(tmp_path):
    (tmp_path / "t.csv").write_text("1,2\nnan,4\n")
    assert np.isnan(readers.read_vectors(tmp_path / "t.csv").X[1, 0])


# -- word vectors ---------------------------------------------------------------

def test_fasttext_vec_with_header(tmp_path):
    # fastText writes a trailing space after each vector.
    (tmp_path / "w.vec").write_text("3 2\nthe 0.1 0.2 \nof -1 2.5 \nçà 3 4 \n", encoding="utf-8")
    vectors = readers.read_vectors(tmp_path / "w.vec")
    assert vectors.format == "word vectors"
    assert vectors.words == ["the", "of", "çà"]
    assert vectors.X.dtype == np.float32
    np.testing.assert_allclose(vectors.X, [[0.1, 0.2], [-1, 2.5], [3, 4]], rtol=1e-6)


def test_glove_txt_without_header_keeps_words_with_spaces(tmp_path):
    (tmp_path / "g.txt").write_text("the 1 2 3\n. . . 4 5 6\n\n")
    vectors = readers.read_vectors(tmp_path / "g.txt")
    assert vectors.words == ["the", ". . ."]
    np.testing.assert_array_equal(vectors.X, [[1, 2, 3], [4, 5, 6]])


def test_numeric_txt_is_a_plain_matrix(tmp_path):
    (tmp_path / "m.txt").write_text("1 2 3\n4 5 6\n")
    vectors = readers.read_vectors(tmp_path / "m.txt")
    assert vectors.format == "text matrix" and vectors.words is None
    np.testing.assert_array_equal(vectors.X, [[1, 2, 3], [4, 5, 6]])


def test_word_vectors_count_must_match_header(tmp_path):
    (tmp_path / "w.vec").write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(ValueError, match="announces 3 vectors, but the file holds 2"):
        readers.read_vectors(tmp_path / "w.vec")


def test_word_vectors_short_line_is_named(tmp_path):
    (tmp_path / "w.vec").write_text("2 3\na 1 2 3\nb 4 5\n")
    with pytest.raises(ValueError, match=r"w.vec, line 3: expected a word and 3 numbers; got 3"):
        readers.read_vectors(tmp_path / "w.vec")


def test_word_vectors_bad_number_is_named(tmp_path):
    (tmp_path / "w.vec").write_text("a 1 2\nb 3 x\n")
    with pytest.raises(ValueError, match=r"w.vec, line 2: 'x' is not a number"):
        readers.read_vectors(tmp_path / "w.vec")


def test_binary_garbage_is_not_utf8(tmp_path):
    (tmp_path / "w.vec").write_bytes(b"\xff\xfe\x00garbage 1 2\n")
    with pytest.raises(ValueError, match="w.vec: not UTF-8 text"):
        readers.read_vectors(tmp_path / "w.vec")


# -- general failures -----------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npy: no such file"):
        readers.read_vectors(tmp_path / "nope.npy")


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(ValueError, match="d.npy: not a file"):
        readers.read_vectors(tmp_path / "d.npy")


def test_unknown_format_lists_the_known_ones(tmp_path):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match=r"unknown data format '.parquet'; use one of .npy"):
        readers.read_vectors(tmp_path / "data.parquet")


# -- labels, metadata, images ---------------------------------------------------

def test_labels_from_npy_column_and_text(tmp_path):
    np.save(tmp_path / "a.npy", np.array([[1], [2], [3]]))
    np.testing.assert_array_equal(readers.read_labels(tmp_path / "a.npy"), [1, 2, 3])
    (tmp_path / "b.txt").write_text("cat\ndog\n\nbird\n")
    assert readers.read_labels(tmp_path / "b.txt").tolist() == ["cat", "dog", "", "bird"]


def test_labels_must_be_one_column(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"a.npy: labels must be a 1-D array; got shape \(3, 2\)"):
        readers.read_labels(tmp_path / "a.npy")
    (tmp_path / "b.tsv").write_text("a\nb\tc\n")
    with pytest.raises(ValueError, match=r"b.tsv, line 2: .*several columns"):
        readers.read_labels(tmp_path / "b.tsv")


def test_images_must_be_npy(tmp_path):
    (tmp_path / "i.png").write_bytes(b"")
    with pytest.raises(ValueError, match="images must be an .npy file"):
        readers.read_images(tmp_path / "i.png")
    np.save(tmp_path / "i.npy", np.zeros((2, 3, 3), np.uint8))
    assert readers.read_images(tmp_path / "i.npy").shape == (2, 3, 3)


def test_sha256_of_file(tmp_path):
    (tmp_path / "f").write_bytes(b"abc" * 1000)
    assert readers.sha256_of(tmp_path / "f") == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_readers_do_not_import_tensorflow():
    code = "import sys, tsne_native.fit.readers; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
