"""Write-back: SAE codes, dictionary and provenance into NWB, read back by nwb_sae, pynwb, pynapple, h5py."""

from __future__ import annotations

import datetime
import hashlib
import json
import warnings

import h5py
import numpy as np
import pytest

import nwb_sae
from nwb_sae import synthetic
from nwb_sae.errors import (
    InputDataError,
    NwbSaeError,
    ObjectNotFoundError,
    OutputExistsError,
    UnsupportedFileError,
)
from nwb_sae.io.recording.nwb import open_activity
from nwb_sae.io.results.read import read_results
from nwb_sae.io.results.validation import SERIOUS, validate_file
from nwb_sae.io.results.write import default_output, write_nwb
from nwb_sae.preprocess import apply_to_recording

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WINDOW = (-0.2, 0.8)  # make_recording(n_time=20): time runs from -0.2 s in 0.05 s bins


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def serious_about_results(path, module="sae"):
    report = validate_file(path)
    return report, report.issues(under=f"processing/{module}", importances=SERIOUS)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("write_nwb")


@pytest.fixture(scope="module")
def ophys(folder):
    rec = synthetic.make_recording(n_neurons=16, n_atoms=24, n_time=20, n_presentations=40, seed=1)
    return synthetic.write_nwb_recording(folder / "ophys.nwb", rec, kind="ophys")


@pytest.fixture(scope="module")
def sae(ophys):
    data = nwb_sae.read_nwb(ophys, presentations="trials", window=WINDOW)
    return nwb_sae.SAE(n_latents=32, k=4, epochs=2, progress=False, device="cpu", seed=0).fit(data)


@pytest.fixture(scope="module")
def written(ophys, sae, folder):
    before = sha256(ophys)
    out = write_nwb(sae, ophys, folder / "ophys_sae.nwb")
    return out, before


def expected_codes(sae, path, **options):
    """The codes of the whole recording: through the model's front end (dF/F is deconvolved), then encoded."""
    with open_activity(path, **options) as source:
        x = apply_to_recording(source.read(0, source.n_samples), sae.preprocessing_)
        return sae.encode_samples(x), source.sample_times()


def test_default_run_leaves_source_untouched(ophys, written):
    out, before = written
    assert sha256(ophys) == before
    assert out.exists() and out != ophys
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_read_back_gives_what_was_written(ophys, sae, written):
    out, _ = written
    res = read_results(out)
    codes, times = expected_codes(sae, ophys)
    assert res.codes.dims == ("time", "latents")
    assert res.codes.chunks is not None  # lazy: dask over the HDF5 dataset
    np.testing.assert_array_equal(res.codes.values, codes)
    np.testing.assert_allclose(res.codes["time"].values, times, rtol=0, atol=1e-9)
    assert res.dictionary.dims == ("latents", "neurons")
    np.testing.assert_array_equal(res.dictionary.values, sae.dictionary.astype(np.float32))
    assert list(res.dictionary["neurons"].values) == list(sae.neuron_coords_["id"])
    assert res.dictionary.attrs["neuron_table"] == "processing/ophys/ImageSegmentation/PlaneSegmentation"
    np.testing.assert_array_equal(res.dictionary["source_row"].values, np.arange(16))
    # provenance: exactly the model's, after a JSON round trip (tuples become lists)
    assert res.provenance == json.loads(json.dumps(sae.provenance()))
    assert res.provenance["settings"]["n_latents"] == 32
    assert res.source["activity"] == "processing/ophys/DfOverF/RoiResponseSeries"
    assert res.source["identifier"] == "nwb-sae-synthetic-ophys-1"
    assert res.source["file"] == str(ophys.resolve())
    assert res.write_info["writer"] == "nwb-sae" and res.write_info["time_base"] == "rate"
    with read_results(out) as again:  # a context manager closing the file behind the lazy codes
        assert again.file.id.valid
    assert not again.file.id.valid and read_results(out, lazy=False).file is None


def test_latent_stats_match_the_codes(ophys, sae, written):
    stats = read_results(written[0]).latent_stats
    codes, _ = expected_codes(sae, ophys)
    active = codes != 0
    np.testing.assert_allclose(stats["activation_frequency"], active.mean(axis=0))
    np.testing.assert_allclose(stats["mean_activation"], codes.mean(axis=0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(stats["max_activation"], codes.max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["std_activation"], codes.std(axis=0, dtype=np.float64), rtol=1e-4, atol=1e-7)
    with np.errstate(invalid="ignore"):
        mean_active = np.where(active.any(0), codes.sum(0) / active.sum(0), np.nan)
    np.testing.assert_allclose(stats["mean_active_activation"], mean_active, rtol=1e-5)
    assert set(stats.data_vars) >= {"activation_frequency", "mean_activation"}


def test_pynwb_opens_the_output_on_its_own(written):
    from pynwb import NWBHDF5IO, TimeSeries
    from pynwb.ophys import PlaneSegmentation

    with NWBHDF5IO(str(written[0]), "r") as io:
        nwbfile = io.read()
        module = nwbfile.processing["sae"]
        codes = module["codes"]
        assert isinstance(codes, TimeSeries)
        assert codes.data.shape == (800, 32) and codes.rate == 20.0 and codes.starting_time == 0.0
        assert codes.data.compression == "gzip" and codes.data.chunks[1] == 32
        table = module["dictionary"]
        assert table["weights"].data.shape == (32, 16) and len(table) == 32
        region = module["neurons"]["source_neuron"]
        assert isinstance(region.table, PlaneSegmentation)
        assert list(region.data[:]) == list(range(16))
        assert "source_id" in module["neurons"].colnames
        provenance = module["provenance"].to_dataframe()
        assert "model/settings/n_latents" in set(provenance["key"])
        assert "nwb-sae" in module.description
        # the source's own objects are all still there
        assert nwbfile.processing["ophys"]["DfOverF"]["RoiResponseSeries"].data.shape == (800, 16)
        assert len(nwbfile.trials) == 40


def test_output_validates(written):
    report, ours = serious_about_results(written[0])
    assert report.schema == [] and report.notes == []  # pynwb.validate: no error anywhere in the file
    assert ours == [], ours
    assert not [i for i in report.inspector if i.location.startswith("processing/sae") and i.check in (
        "check_table_values_for_dict", "check_data_orientation", "check_regular_timestamps")]


def test_pynapple_sees_the_codes_as_a_tsdframe(ophys, sae, written):
    import pynapple as nap

    data = nap.load_file(str(written[0]))
    codes = data["codes"]
    assert isinstance(codes, nap.TsdFrame)
    expected, times = expected_codes(sae, ophys)
    np.testing.assert_array_equal(np.asarray(codes.values), expected)
    np.testing.assert_allclose(codes.index.values, times, atol=1e-9)


def test_plain_h5py_reads_codes_and_dictionary(written, sae):
    with h5py.File(written[0], "r") as h5:
        assert h5["processing/sae/codes/data"].shape == (800, 32)
        np.testing.assert_array_equal(h5["processing/sae/dictionary/weights"][()],
                                      sae.dictionary.astype(np.float32))
        assert list(h5["processing/sae/neurons/source_id"][()]) == list(range(16))


def test_read_nwb_aligns_the_codes_to_presentations(written, ophys, sae):
    data = nwb_sae.read_nwb(ophys, presentations="trials", window=WINDOW)
    codes = nwb_sae.read_nwb(written[0], activity="processing/sae/codes", presentations="trials", window=WINDOW)
    assert codes.shape == (32, 20, 40)
    np.testing.assert_allclose(codes.values, sae.encode(data).values, atol=1e-5)


def test_units_recording_round_trip(folder):
    rec = synthetic.make_recording(n_neurons=12, n_atoms=16, n_time=20, n_presentations=30, seed=2)
    path = synthetic.write_nwb_recording(folder / "units.nwb", rec, kind="units", starting_time=3.0)
    data = nwb_sae.read_nwb(path, presentations="trials", window=WINDOW, bin_size=0.05)
    sae = nwb_sae.SAE(n_latents=16, k=3, epochs=2, progress=False, device="cpu").fit(data)
    out = write_nwb(sae, path)  # default output name, bin size from the model
    assert out == default_output(path) == folder / "units_sae.nwb"
    res = read_results(out)
    codes, times = expected_codes(sae, path, bin_size=0.05)
    np.testing.assert_array_equal(res.codes.values, codes)
    np.testing.assert_allclose(res.codes["time"].values, times, atol=1e-9)
    assert res.source["kind"] == "units" and res.dictionary.attrs["neuron_table"] == "units"
    with h5py.File(out, "r") as h5:
        region = h5["processing/sae/neurons/source_neuron"]
        assert h5[region.attrs["table"]].name == "/units"
    assert serious_about_results(out)[1] == []


def write_timestamped_ophys(path, values, timestamps):
    """A minimal ophys NWB file whose RoiResponseSeries has explicit, irregular timestamps."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    nwbfile = NWBFile(session_description="timestamped ophys", identifier="ts-ophys",
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                      subject=Subject(subject_id="m1", species="Mus musculus", sex="M", age="P90D"))
    device = nwbfile.create_device(name="scope", description="two-photon microscope")
    plane = nwbfile.create_imaging_plane(
        name="plane", description="plane", device=device, excitation_lambda=920.0, imaging_rate=30.0,
        indicator="GCaMP6f", location="VISp",
        optical_channel=OpticalChannel(name="green", description="green", emission_lambda=510.0))
    segmentation = ImageSegmentation()
    rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="rois", imaging_plane=plane)
    for i in range(values.shape[1]):
        mask = np.zeros((8, 8))
        mask[i % 8, i // 8] = 1.0
        rois.add_roi(image_mask=mask)
    module = nwbfile.create_processing_module(name="ophys", description="ophys")
    module.add(segmentation)
    region = rois.create_roi_table_region(region=list(range(values.shape[1])), description="all rois")
    module.add(Fluorescence(roi_response_series=RoiResponseSeries(
        name="RoiResponseSeries", data=values, rois=region, unit="n.a.", timestamps=timestamps,
        description="fluorescence")))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def test_timestamped_source_links_its_timestamps(folder, sae):
    rng = np.random.default_rng(3)
    n = 600
    timestamps = 10.0 + np.cumsum(rng.uniform(0.03, 0.04, size=n))
    path = write_timestamped_ophys(folder / "timestamped.nwb", rng.normal(size=(n, 16)).astype("f4"), timestamps)
    out = write_nwb(sae, path, folder / "timestamped_sae.nwb")
    res = read_results(out)
    np.testing.assert_array_equal(res.codes["time"].values, timestamps)
    assert res.write_info["time_base"] == "linked timestamps"
    with h5py.File(out, "r") as h5:
        link = h5["processing/sae/codes"].get("timestamps", getlink=True)
        assert isinstance(link, h5py.SoftLink)
        assert link.path == "/processing/ophys/Fluorescence/RoiResponseSeries/timestamps"
    import pynapple as nap

    np.testing.assert_allclose(nap.load_file(str(out))["codes"].index.values, timestamps)
    assert serious_about_results(out)[1] == []


def test_second_result_needs_overwrite_or_a_new_module(written, sae, folder):
    import shutil

    target = folder / "second.nwb"
    shutil.copyfile(written[0], target)
    with pytest.raises(OutputExistsError, match="--overwrite") as info:
        write_nwb(sae, target, in_place=True)
    assert "--module sae2" in str(info.value) and str(target) in str(info.value)
    before = read_results(target, lazy=False).write_info["created"]
    assert write_nwb(sae, target, in_place=True, module="sae2") == target.resolve()
    both = read_results(target, "sae2", lazy=False)
    np.testing.assert_array_equal(both.codes.values, read_results(target, lazy=False).codes.values)
    write_nwb(sae, target, in_place=True, overwrite=True)
    again = read_results(target, lazy=False)
    assert again.codes.shape == (800, 32) and again.write_info["created"] >= before
    with h5py.File(target, "r") as h5:
        assert sorted(h5["processing"]) == ["ophys", "sae", "sae2"]


def test_refuses_to_replace_what_it_did_not_write(ophys, sae, folder):
    with pytest.raises(OutputExistsError, match="processing/ophys.*Choose another module"):
        write_nwb(sae, ophys, folder / "never.nwb", module="ophys", overwrite=True)
    assert not (folder / "never.nwb").exists()


def test_output_file_rules(ophys, sae, written, folder):
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_nwb(sae, ophys, written[0])
    with pytest.raises(InputDataError, match="--in_place"):
        write_nwb(sae, ophys, ophys)
    with pytest.raises(NwbSaeError, match="does not exist"):
        write_nwb(sae, ophys, folder / "missing-folder" / "out.nwb")
    with pytest.raises(UnsupportedFileError, match="no such file"):
        write_nwb(sae, folder / "absent.nwb", folder / "x.nwb")


def test_model_and_recording_must_match(folder, sae):
    rec = synthetic.make_recording(n_neurons=10, n_atoms=12, n_time=10, n_presentations=10, seed=4)
    path = synthetic.write_nwb_recording(folder / "ten.nwb", rec, kind="ophys")
    with pytest.raises(InputDataError, match="trained on"):
        write_nwb(sae, path, folder / "ten_sae.nwb")
    assert not (folder / "ten_sae.nwb").exists()


def test_read_results_errors(ophys, written, folder):
    with pytest.raises(ObjectNotFoundError, match="no nwb-sae results"):
        read_results(ophys)
    with pytest.raises(ObjectNotFoundError, match="results in: sae"):
        read_results(written[0], module="other")
    with pytest.raises(UnsupportedFileError, match="no such file"):
        read_results(folder / "absent.nwb")
    bad = folder / "not_hdf5.nwb"
    bad.write_text("hello")
    with pytest.raises(UnsupportedFileError, match="HDF5"):
        read_results(bad)


def test_top_level_names():
    assert nwb_sae.write_nwb is write_nwb
    assert nwb_sae.read_results is read_results
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from nwb_sae.io.results.read import SaeResults

    assert SaeResults._fields == ("codes", "dictionary", "latent_stats", "provenance", "source", "write_info",
                                  "file", "tracks", "registry", "sessions")


def test_latent_table_and_selection_round_trip(written, sae):
    out, _ = written
    table = sae.latent_table_
    with read_results(out) as res:
        stored = res.latent_table
        selection = res.selection
    for name in ("p_value", "q_value", "stability", "effective_neurons"):
        np.testing.assert_allclose(stored[name].to_numpy(), table[name].to_numpy())
    np.testing.assert_array_equal(stored["significant"].to_numpy(dtype=bool), sae.significant_)
    selectivity = [c for c in table if c.endswith(("_eta_squared", "_q_value")) and c != "q_value"]
    assert selectivity and set(selectivity) <= set(stored)
    for name in selectivity:
        np.testing.assert_allclose(stored[name].to_numpy(), table[name].to_numpy().astype(float))
    assert selection["n_latents"] == sae.model_.n_latents == 32 and selection["k"] == 4.0
    assert selection["n_significant"] == int(sae.significant_.sum())
