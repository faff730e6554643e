"""Every file of the NWB corpus (NWB_SAE_CORPUS) gives what its MANIFEST row says, or a clear error.

One test per file. The corpus is only read, never copied or opened for writing.
"""

from __future__ import annotations

import numpy as np
import pytest

from nwb_sae.errors import InputDataError, ObjectNotFoundError, UnsupportedFileError
from nwb_sae.io.recording.nwb import read_nwb

pytestmark = pytest.mark.corpus


def check_rutishauser(path):
    da = read_nwb(path, presentations="encoding_table", window=(-0.5, 1.5))
    assert da.shape == (35, 40, 90)
    assert da.attrs["presentations"] == "intervals/encoding_table"
    assert sorted(set(da.stimCategory.values.tolist())) == [0, 1, 2]
    assert "Clip_name" in da.coords and da.location.values[0] == "hippocampus_right"
    assert len(set(da.id.values.tolist())) == 35
    assert da.sum() > 0
    with pytest.raises(ObjectNotFoundError, match="encoding_table"):
        read_nwb(path, presentations="trials")
    with pytest.raises(InputDataError, match=r"not strictly increasing \(sample"):  # the -1.5e9 TTL glitch
        read_nwb(path, activity="acquisition/events")


def check_guo2017(path):
    with pytest.warns(UserWarning, match="1 of 412 windows start after the last spike"):
        da = read_nwb(path, presentations="trials", window=(-0.5, 1.5), bin_size=0.1)
    assert da.shape == (4, 20, 412)
    assert da.id.values.tolist() == [1, 2, 3, 4]
    for column in ("type", "response", "photo_stim_type", "pole_in_time"):
        assert column in da.coords
    assert da.coords["response"].dtype.kind == "U"


def economo_check(n_trials):
    def check(path):
        da = read_nwb(path, presentations="trials", window=(-0.5, 1.5))
        assert da.shape == (1, 40, n_trials)
        assert np.isnan(da.stop_time.values).all()
        assert "not sorted" in da.attrs["notes"]
        assert da.id.values.tolist() == [1001] and "cell_type" in da.coords
        assert da.sum() > 0
        with pytest.raises(InputDataError, match="no usable stop_time"):
            read_nwb(path, presentations="trials")
    return check


def check_neurosuite(path):
    da = read_nwb(path, presentations="sleep_ripples", window=(-0.1, 0.1), bin_size=0.01)
    assert da.shape == (15, 20, 594)
    assert da.location.values[0] == "adn" and da.electrode_group.values[0] == "group0_"
    assert "tags" in da.coords
    continuous = read_nwb(path, window=60.0, bin_size=0.1)
    assert continuous.sizes["neurons"] == 15 and continuous.sizes["time"] == 600
    epochs = read_nwb(path, presentations="epochs", window=(0, 600))
    assert epochs.tags.values.tolist() == ["sleep", "wake"] and epochs.sizes["time"] == 12000


def check_buzsaki_stub(path):
    units = read_nwb(path)
    assert units.sizes["neurons"] == 10 and units.sizes["time"] == 100
    assert units.attrs["presentations"] == "consecutive windows"
    lfp = read_nwb(path, activity="LFP")
    assert lfp.shape == (96, 100, 1)
    assert lfp.attrs["activity"] == "processing/ecephys/LFP/ElectricalSeries_lfp"
    assert lfp.attrs["sampling"] == "1250 Hz"
    assert len(set(lfp.id.values.tolist())) == 96 and "location" in lfp.coords


def check_phy(path):
    da = read_nwb(path, window=10.0, bin_size=0.1)
    assert da.sizes["neurons"] == 3 and da.sizes["time"] == 100
    assert da.id.values.tolist() == [6, 191, 206]
    assert read_nwb(path, presentations="epochs", window=(0, 10)).sizes["presentations"] == 1


def check_pynwb_tutorial(path):
    units = read_nwb(path, window=0.5, bin_size=0.01)
    assert units.attrs["activity"] == "units" and units.sizes["neurons"] == 10
    assert "quality" in units.coords
    with pytest.warns(UserWarning, match="4 channels but its electrodes region lists 12 rows"):
        raw = read_nwb(path, activity="acquisition/ElectricalSeries")
    assert raw.shape == (4, 50, 1) and raw.id.values.tolist() == [0, 1, 2, 3]


def check_suite2p(path):
    da = read_nwb(path, window=10.0)
    assert da.shape == (219, 100, 20)
    assert da.attrs["activity"] == "processing/ophys/Fluorescence/Fluorescence"
    assert "transposed" in da.attrs["notes"]
    assert da.iscell.dtype == bool and 0 < da.iscell.sum() < 219
    cells = read_nwb(path, window=10.0, neurons="iscell")
    assert cells.sizes["neurons"] == int(da.iscell.sum())
    deconvolved = read_nwb(path, activity="Deconvolved", window=10.0)
    assert deconvolved.sizes["neurons"] == 219


def check_roiextractors(path):
    da = read_nwb(path, window=5.0)
    assert da.shape == (15, 50, 5)
    assert da.attrs["activity"] == "processing/ophys/Fluorescence/RoiResponseSeries"
    assert {"RoiCentroid_0", "RoiCentroid_1", "Accepted", "Rejected"} <= set(da.coords)
    np.testing.assert_allclose(da.time.values, 0.1 * np.arange(50))


def check_inscopix(path):
    da = read_nwb(path, window=10.0)
    assert da.sizes["neurons"] == 10 and da.sizes["time"] == 300
    assert da.attrs["sampling"].startswith("timestamps")
    assert da.sizes["presentations"] >= 115  # 35,743 frames at ~30 Hz: 119 whole windows, a few over gaps


def check_doric(path):
    with pytest.raises(ObjectNotFoundError, match="no neural activity found") as err:
        read_nwb(path)
    assert "acquisition/FiberPhotometryResponseSeries (FiberPhotometryResponseSeries, 1 x 100 samples" in str(err.value)
    assert "one channel: read only when named" in str(err.value)


def check_nwb1(path):
    with pytest.raises(UnsupportedFileError, match="NWB 1.x is not supported") as err:
        read_nwb(path)
    assert "Re-export" in str(err.value)


def check_matnwb_2018(path):
    with pytest.raises(UnsupportedFileError, match="2.0b, a pre-release schema") as err:
        read_nwb(path)
    assert isinstance(err.value.__cause__, AttributeError)


def check_empty(path):
    with pytest.raises(ObjectNotFoundError, match="no neural activity found. nwb-sae looked for RoiResponseSeries"):
        read_nwb(path)


def check_no_data(path):
    with pytest.raises(ObjectNotFoundError, match=r"acquisition/test_timeseries \(TimeSeries, no data\)"):
        read_nwb(path)
    with pytest.raises(InputDataError, match="no data"):
        read_nwb(path, activity="test_timeseries")


def check_extension(path):
    named = read_nwb(path, activity="acquisition/test_ts")
    assert named.shape == (1, 3, 1)
    np.testing.assert_array_equal(named.values.ravel(), [1.0, 2.0, 3.0])


def check_explorer_roi(path):
    da = read_nwb(path)
    assert da.shape == (1, 10, 1)
    assert da.attrs["activity"] == "acquisition/test_roi_response_series"
    np.testing.assert_array_equal(da.values.ravel(), np.arange(10.0))


EXPECTED = {
    "ecephys/rutishauser-cb__sub-4_ses-4_ecephys+image.nwb": check_rutishauser,
    "ecephys/dandi000009-guo2017__sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb": check_guo2017,
    "ecephys/dandi000006-economo2018__sub-anm369963_ses-20170228.nwb": economo_check(178),
    "ecephys/dandi000006-economo2018__sub-anm372793_ses-20170508.nwb": economo_check(340),
    "ecephys/pynapple-neurosuite__A2929-200711.nwb": check_neurosuite,
    "ecephys/neuroconv-buzsaki-stub__test.nwb": check_buzsaki_stub,
    "ecephys/pynapple-phy__A8604-211122.nwb": check_phy,
    "ecephys/pynwb-tutorial__ecephys_tutorial_v2.5.0.nwb": check_pynwb_tutorial,
    "ophys/suite2p-export__2022_08_08.nwb": check_suite2p,
    "ophys/roiextractors-segmentation__nwb_test.nwb": check_roiextractors,
    "ophys/pynapple-inscopix-cnmfe__A0634-210127.nwb": check_inscopix,
    "ophys/neuroconv-doric__doric_fiber_photometry.nwb": check_doric,
    "legacy_negative/allen-brain-observatory-NWB1.0.5__496908818s.nwb": check_nwb1,
    "legacy_negative/matnwb-2018-NWB2.0b__ecephys_tutorial.nwb": check_matnwb_2018,
    "legacy_negative/pynwb-backcompat-NWB2.0b__1.0.2_nwbfile.nwb": check_empty,
    "legacy_negative/pynwb-backcompat-NWB2.0.2__1.0.3_nwbfile.nwb": check_empty,
    "legacy_negative/pynwb-backcompat-NWB2.3.0__1.5.1_timeseries_no_data.nwb": check_no_data,
    "legacy_negative/pynwb-backcompat-NWB2.5.0__2.1.0_nwbfile_with_extension.nwb": check_extension,
    "legacy_negative/nwb-explorer-pynwb-NWB2.0b__test_RoiResponseSeries.nwb": check_explorer_roi,
}


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: n.split("/")[-1].split("__")[0])
def test_corpus_file(corpus_dir, name):
    path = corpus_dir / name
    if not path.exists():
        pytest.fail(f"{path} is listed in MANIFEST.md but missing from the corpus")
    EXPECTED[name](path)


def test_every_corpus_file_has_an_expectation(corpus_dir):
    found = {str(p.relative_to(corpus_dir)) for p in corpus_dir.rglob("*.nwb")}
    assert found == set(EXPECTED)
