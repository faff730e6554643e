"""The neuron registry: built from a table, from NWB global-id columns, from UnitMatch and ROICaT outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nwb_sae
from nwb_sae.sessions.registry import Registry, RegistryError
from nwb_sae.synthetic.sessions import make_sessions, write_sessions_nwb

TABLE = pd.DataFrame({"session": ["mon", "mon", "mon", "fri", "fri"], "neuron": [0, 1, 2, 7, 9],
                      "global_id": ["a", "b", "c", "a", "c"], "confidence": [1.0, 0.9, 0.8, 0.7, 1.0]})


def small_truth():
    return make_sessions(n_pool=60, n_sessions=3, kinds={"stable": 2}, members=8, duration=20,
                         n_presentations=4, registration_error=0.1, seed=3)


def test_queries_from_a_table():
    reg = nwb_sae.Registry.from_table(TABLE)
    assert reg.sessions == ("fri", "mon")
    assert reg.global_ids("mon", [2, 0, 5]).tolist() == ["c", "a", "mon:5"]
    assert reg.global_ids("fri", np.array(["7", "9"])).tolist() == ["a", "c"]  # ids compared as text
    assert reg.shared("mon", "fri") == ["a", "c"]
    assert reg.shared("mon", "tue") == []
    np.testing.assert_allclose(reg.confidence("fri", [7, 8]), [0.7, 0.0])
    assert reg.global_ids("unknown", [1]).tolist() == ["unknown:1"]
    frame = reg.to_frame()
    assert list(frame.columns) == ["session", "neuron", "global_id", "confidence"] and len(frame) == 5


def test_hash_pins_the_rows_not_their_order():
    reg = Registry.from_table(TABLE)
    assert Registry.from_table(TABLE.sample(frac=1.0, random_state=1)).hash == reg.hash
    changed = TABLE.copy()
    changed.loc[4, "global_id"] = "d"
    assert Registry.from_table(changed).hash != reg.hash
    assert len(reg.hash) == 64 and Registry.from_table(TABLE) == reg


def test_confidence_defaults_to_one_and_missing_global_ids_stay_unregistered():
    table = TABLE.drop(columns="confidence")
    table.loc[1, "global_id"] = None
    reg = Registry.from_table(table)
    np.testing.assert_allclose(reg.confidence("mon", [0]), [1.0])
    assert reg.global_ids("mon", [1]).tolist() == ["mon:1"]


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: pd.concat([t, t.iloc[[0]]]), ["repeat a (session, neuron) pair", "'mon', neuron '0'"]),
    (lambda t: t.assign(global_id=["a", "a", "c", "a", "c"]), ["one global id names two neurons", "split or merged"]),
    (lambda t: t.drop(columns="global_id"), ["missing column(s) ['global_id']"]),
    (lambda t: t.assign(confidence=[1.0, 2.0, 0.5, 0.5, 0.5]), ["confidence must be a number in [0, 1]"]),
])
def test_inconsistent_tables_are_refused_with_the_rows_and_the_fix(edit, words):
    with pytest.raises(RegistryError) as err:
        Registry.from_table(edit(TABLE.copy()))
    for word in words:
        assert word in str(err.value)
    assert isinstance(err.value, nwb_sae.NwbSaeError)


def test_from_a_global_id_column_of_real_nwb_files(tmp_path):
    truth = small_truth()
    paths = write_sessions_nwb(truth, tmp_path)
    before = [p.read_bytes() for p in paths]
    reg = Registry.from_nwb_column(paths)
    assert reg == Registry.from_table(truth.registry)
    assert [p.read_bytes() for p in paths] == before  # the inputs are only read
    arrays = {name: nwb_sae.read_nwb(p) for name, p in zip(truth.sessions, paths, strict=True)}
    assert Registry.from_nwb_column(arrays) == reg
    with pytest.raises(RegistryError, match="no neuron column 'cell_id'"):
        Registry.from_nwb_column(paths, column="cell_id")


def test_from_a_registry_file(tmp_path):
    TABLE.to_csv(tmp_path / "registry.csv", index=False)
    assert Registry.from_file(tmp_path / "registry.csv") == Registry.from_table(TABLE)
    with pytest.raises(RegistryError, match="no such registry file"):
        Registry.from_file(tmp_path / "nothing.csv")


def _unitmatch_table(units: list[tuple[int, int, int]], prob: dict) -> pd.DataFrame:
    """A MatchTable.csv as UnitMatchPy's save_utils.make_match_table lays it out: every pair of units."""
    rows = []
    for s1, id1, u1 in units:
        for s2, id2, u2 in units:
            rows.append({"ID1": id1, "ID2": id2, "RecSes 1": s1, "RecSes 2": s2, "Matches": int(u1 == u2),
                         "UM Probabilities": prob.get((id1, id2), prob.get((id2, id1), 0.01)), "TotalScore": 0.5,
                         "UID orig 1": u1, "UID orig 2": u2, "UID Lib 1": u1, "UID Lib 2": u2,
                         "UID 1": u1, "UID 2": u2, "UID Cons 1": u1, "UID Cons 2": u2})
    return pd.DataFrame(rows)


def test_from_a_unitmatch_match_table(tmp_path):
    # session 1 units 3, 5; session 2 units 11 (same neuron as 3), 12 (new)
    table = _unitmatch_table([(1, 3, 100), (1, 5, 101), (2, 11, 100), (2, 12, 102)], {(3, 11): 0.93})
    table.to_csv(tmp_path / "MatchTable.csv", index=False)
    reg = Registry.from_unitmatch(tmp_path, sessions=["day1", "day2"])
    assert reg.shared("day1", "day2") == ["uid100"]
    assert reg.global_ids("day2", [11, 12]).tolist() == ["uid100", "uid102"]
    np.testing.assert_allclose(reg.confidence("day1", [3, 5]), [0.93, 1.0])
    table.drop(columns=["UID 1", "UID 2"]).to_csv(tmp_path / "bare.csv", index=False)
    with pytest.raises(RegistryError, match="unique-id assignment"):
        Registry.from_unitmatch(tmp_path / "bare.csv")


def test_from_roicat_labels(tmp_path):
    labels = [np.array([0, 1, -1, 2]), np.array([2, 0, 3])]
    reg = Registry.from_roicat({"clusters": {"labels_bySession": labels}}, sessions=["a", "b"])
    assert reg.shared("a", "b") == ["ucid0", "ucid2"]
    assert reg.global_ids("a", [2]).tolist() == ["a:2"]  # -1: in no cluster
    np.savez(tmp_path / "labels.npz", a=labels[0], b=labels[1])
    assert Registry.from_roicat(tmp_path / "labels.npz") == reg
    mapped = Registry.from_roicat(labels, sessions=["a", "b"], neurons={"b": np.array([10, 11, 12])})
    assert mapped.global_ids("b", [10, 12]).tolist() == ["ucid2", "ucid3"]
    with pytest.raises(RegistryError, match="does not unpickle"):
        Registry.from_roicat(tmp_path / "results.pkl")
