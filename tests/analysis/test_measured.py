"""Every measured-data reader on files made here: npz, npy, CSV/TSV, GIfTI pairs, Algonauts-style HDF5."""

import numpy as np
import pytest

from nforge_app.analysis import read_measured, read_runs
from nforge_app.errors import UserInputError
from nforge_app.export import save_gifti
from nforge_app.values import Prediction


@pytest.fixture()
def table():
    return np.random.default_rng(0).standard_normal((30, 1000)).astype(np.float32)


def test_npz_with_and_without_tr(tmp_path, table):
    np.savez(tmp_path / "a.npz", data=table, tr_s=1.49)
    run = read_measured(tmp_path / "a.npz")
    np.testing.assert_array_equal(run.data, table)
    assert run.tr_s == 1.49 and run.source == "a.npz"
    np.savez(tmp_path / "b.npz", data=table)
    assert read_measured(tmp_path / "b.npz").tr_s is None
    assert read_measured(tmp_path / "b.npz", tr_s=2.0).tr_s == 2.0
    with pytest.raises(UserInputError, match="says its TR is 1.49 s but 2 s was given"):
        read_measured(tmp_path / "a.npz", tr_s=2.0)
    np.savez(tmp_path / "c.npz", bold=table)
    with pytest.raises(UserInputError, match="needs a 'data' array .* it holds bold"):
        read_measured(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", data=np.array([{"a": 1}], dtype=object))  # a pickle is never read
    with pytest.raises(UserInputError, match="d.npz"):
        read_measured(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", data=table, tr_s=-1.0)
    with pytest.raises(UserInputError, match="tr_s must be a positive number"):
        read_measured(tmp_path / "e.npz")


def test_npy_and_bad_arrays(tmp_path, table):
    np.save(tmp_path / "a.npy", table)
    np.testing.assert_array_equal(read_measured(tmp_path / "a.npy").data, table)
    np.save(tmp_path / "one.npy", table[0])
    with pytest.raises(UserInputError, match="one row of 1000 values"):
        read_measured(tmp_path / "one.npy")
    bad = table.copy()
    bad[2, 7] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(UserInputError, match=r"inf.npy: 1 NaN or infinite values \(the first at time point 2, "
                                             r"output 7\)"):
        read_measured(tmp_path / "inf.npy")


def test_csv_with_a_header_and_a_time_column_and_tsv_without(tmp_path, table):
    lines = ["time_s," + ",".join(f"parcel_{j}" for j in range(1000))]
    lines += [f"{1.49 * i:.2f}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(table)]
    (tmp_path / "roi.csv").write_text("\n".join(lines) + "\n")
    run = read_measured(tmp_path / "roi.csv")
    np.testing.assert_allclose(run.data, table, atol=1e-6)
    assert run.tr_s == pytest.approx(1.49) and "from its 'time_s' column" in run.notes[0]
    np.savetxt(tmp_path / "roi.tsv", table, delimiter="\t")
    run = read_measured(tmp_path / "roi.tsv")
    np.testing.assert_allclose(run.data, table, atol=1e-6)
    assert run.tr_s is None
    (tmp_path / "words.csv").write_text("a,b\n1,two\n")
    with pytest.raises(UserInputError, match="words.csv: not a table of numbers"):
        read_measured(tmp_path / "words.csv")


def _gifti_pair(tmp_path, n_steps=12, tr_s=1.5):
    data = np.random.default_rng(1).standard_normal((n_steps, 20484)).astype(np.float32)
    prediction = Prediction(data=data, times_s=np.arange(n_steps) * tr_s, tr_s=tr_s, space_id="fsaverage5",
                            indices=np.arange(20484), model_id="planted", subject="1", hrf_offset_s=0.0,
                            time_axis="bold")
    left, right = save_gifti(prediction, tmp_path / "sub-01")  # writes AnatomicalStructurePrimary, TimeStep (ms)
    return data, left, right


def test_gifti_hemispheres_in_either_order(tmp_path):
    data, left, right = _gifti_pair(tmp_path)
    for pair in ((left, right), (right, left)):
        run = read_measured(*pair)
        np.testing.assert_array_equal(run.data, data)
        assert run.tr_s == 1.5 and run.source == f"{left.name} + {right.name}"
    with pytest.raises(UserInputError, match="holds one hemisphere"):
        read_measured(left)
    with pytest.raises(UserInputError, match="are both left hemispheres"):
        read_measured(left, left)


def test_gifti_without_metadata_is_told_apart_by_name(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(2)
    paths = {}
    for hemi in ("lh", "rh"):
        values = rng.standard_normal((20, 10242)).astype(np.float32)
        arrays = [nib.gifti.GiftiDataArray(row, intent="NIFTI_INTENT_TIME_SERIES") for row in values]
        paths[hemi] = (tmp_path / f"{hemi}.sub-01.func.gii", values)
        nib.save(nib.gifti.GiftiImage(darrays=arrays), paths[hemi][0])
    run = read_measured(paths["rh"][0], paths["lh"][0])
    np.testing.assert_array_equal(run.data, np.concatenate([paths["lh"][1], paths["rh"][1]], axis=1))
    assert run.tr_s is None


def test_runs_group_gifti_pairs_and_keep_other_files(tmp_path, table):
    data, left, right = _gifti_pair(tmp_path)
    np.savez(tmp_path / "whole.npz", data=data, tr_s=1.5)
    runs = read_runs([left, right, tmp_path / "whole.npz", right, left])
    assert [r.source for r in runs] == [f"{left.name} + {right.name}", "whole.npz", f"{left.name} + {right.name}"]
    with pytest.raises(UserInputError, match="no measured data given"):
        read_runs([])


def _algonauts_h5(path, runs, tr_s=None):
    import h5py

    with h5py.File(path, "w") as handle:  # the Algonauts 2025 layout: one (T, 1000) dataset per run
        for name, values in runs.items():
            dataset = handle.create_dataset(name, data=values)
            if tr_s is not None:
                dataset.attrs["tr_s"] = tr_s
    return path


def test_algonauts_h5_runs(tmp_path, table):
    pytest.importorskip("h5py")
    runs = {"ses-001_task-s01e02a": table, "ses-001_task-s01e02b": table[::-1].copy(),
            "ses-002_task-s01e03a": table[:20]}
    path = _algonauts_h5(tmp_path / "sub-01_task-friends_bold.h5", runs)
    run = read_measured(path, run="s01e02b")
    np.testing.assert_array_equal(run.data, runs["ses-001_task-s01e02b"])
    assert run.tr_s == 1.49 and "assumed (Algonauts 2025" in run.notes[0]
    assert run.source == "sub-01_task-friends_bold.h5:ses-001_task-s01e02b"
    assert read_measured(path, run="ses-002_task-s01e03a").data.shape == (20, 1000)
    with pytest.raises(UserInputError, match="holds 3 runs: name one .* ses-001_task-s01e02a"):
        read_measured(path)
    with pytest.raises(UserInputError, match="run 's01e02' matches 2"):
        read_measured(path, run="s01e02")
    with pytest.raises(UserInputError, match="run 's09' matches none"):
        read_measured(path, run="s09")
    single = _algonauts_h5(tmp_path / "one.h5", {"only": table}, tr_s=2.0)
    assert read_measured(single).tr_s == 2.0 and not read_measured(single).notes


def test_files_that_are_not_measured_data(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        read_measured(tmp_path / "missing.npz")
    (tmp_path / "scan.nii").write_bytes(b"\0" * 10)
    with pytest.raises(UserInputError, match="unknown measured-data format; accepted: .npz, .npy"):
        read_measured(tmp_path / "scan.nii")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(UserInputError, match="broken.npz"):
        read_measured(tmp_path / "broken.npz")
    (tmp_path / "broken.func.gii").write_text("<xml")
    with pytest.raises(UserInputError, match="broken.func.gii: not a readable GIfTI file"):
        read_measured(tmp_path / "broken.func.gii")
    (tmp_path / "broken.h5").write_bytes(b"nope")
    with pytest.raises(UserInputError, match="broken.h5: not a readable HDF5 file"):
        read_measured(tmp_path / "broken.h5")
