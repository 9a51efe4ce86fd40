"""Model files are data, never code: every damaged or hostile file is refused with
ModelFormatError, without running anything or allocating what the file claims."""

import io as pyio
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import Dense, Dropout, Sequential
from chainrule import io as model_io
from chainrule.errors import ChainruleError, ModelFormatError


def trained_model():
    model = Sequential([Dense(3, 4, "tanh"), Dropout(0.1), Dense(4, 2, "softmax")], seed=0)
    model.fit(np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2, epochs=1)
    return model


def write(path, arrays, meta):
    arrays = dict(arrays)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture
def saved(tmp_path):
    """(path, arrays, meta) of a valid model file."""
    path = tmp_path / "model.npz"
    trained_model().save(path)
    meta, arrays = model_io.read_npz(path)
    return path, arrays, meta


def test_the_format_is_versioned_json_and_plain_arrays(saved):
    path, arrays, meta = saved
    assert meta["format"] == "chainrule-model" and meta["format_version"] == 1
    assert meta["chainrule_version"] == cr.__version__
    assert [layer["type"] for layer in meta["layers"]] == ["Dense", "Dropout", "Dense"]
    assert meta["loss"] == "cross_entropy" and meta["dtype"] == "float32"
    assert meta["history"]["history"]["loss"]
    assert sorted(arrays) == ["W1", "W2", "b1", "b2"]


def mutate(meta, **changes):
    return {**meta, **changes}


CASES = [
    ("newer format version", lambda a, m: (a, mutate(m, format_version=2)),
     r"has format version 2, newer than this chainrule reads \(1\); upgrade chainrule"),
    ("not a chainrule file", lambda a, m: (a, mutate(m, format="keras")),
     r"is not a chainrule model file \(format is not 'chainrule-model'\)"),
    ("unknown activation", lambda a, m: (a, mutate(m, layers=[{**m["layers"][0], "activation": "swish"}] + m["layers"][1:])),
     r"layer 1: unknown activation 'swish'; known: \['identity', 'leaky_relu', 'relu', 'sigmoid', 'softmax', 'tanh'\]"),
    ("unknown layer type", lambda a, m: (a, mutate(m, layers=m["layers"][:1] + [{"type": "Conv2D"}] + m["layers"][2:])),
     r"layer 2: unknown layer type 'Conv2D'"),
    ("shape mismatch", lambda a, m: ({**a, "W1": np.zeros((4, 5), np.float32)}, m),
     r"Dense layer 1 has \(out_features, in_features\) = \(4, 3\), which does not match its arrays W1 \(4, 5\)"),
    ("missing array", lambda a, m: ({k: v for k, v in a.items() if k != "b2"}, m),
     r"does not match its arrays W2 \(2, 4\) and b2 None"),
    ("unknown loss", lambda a, m: (a, mutate(m, loss="hinge")), r"unknown loss 'hinge'"),
    ("bad dtype", lambda a, m: (a, mutate(m, dtype="float16")), r"dtype must be one of \['float32', 'float64'\]"),
    ("huge layer claimed", lambda a, m: (a, mutate(m, layers=[{**m["layers"][0], "out_features": 10**9}] + m["layers"][1:])),
     r"Dense layer 1 has \(out_features, in_features\) = \(1000000000, 3\)"),
    ("NaN weights", lambda a, m: ({**a, "b1": np.full(4, np.nan, np.float32)}, m), r"array 'b1' holds NaN or inf"),
    ("integer weights", lambda a, m: ({**a, "b1": np.zeros(4, np.int32)}, m), r"array 'b1' must be floats of shape \(4,\)"),
    ("extra array", lambda a, m: ({**a, "W9": np.zeros(2, np.float32)}, m), r"unexpected arrays \['W9'\]"),
    ("bad dropout rate", lambda a, m: (a, mutate(m, layers=m["layers"][:1] + [{"type": "Dropout", "rate": 7}] + m["layers"][2:])),
     r"invalid architecture: rate must be a number in \[0, 1\)"),
]


@pytest.mark.parametrize("name, change, message", CASES, ids=[c[0] for c in CASES])
def test_load_refuses_a_bad_architecture_or_arrays(tmp_path, saved, name, change, message):
    _, arrays, meta = saved
    arrays, meta = change(arrays, meta)
    path = tmp_path / "bad.npz"
    write(path, arrays, meta)
    with pytest.raises(ModelFormatError, match=message):
        cr.load(path)


def test_load_refuses_files_that_are_not_models(tmp_path, saved):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelFormatError, match=r"notes.txt is not a readable chainrule model file"):
        cr.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(3))
    with pytest.raises(ModelFormatError, match=r"is not a chainrule model file \(no 'meta' entry\)"):
        cr.load(plain)
    with pytest.raises(FileNotFoundError, match=r"no such model file"):
        cr.load(tmp_path / "missing.npz")


def test_load_refuses_truncated_and_corrupted_files(tmp_path, saved):
    path = saved[0]
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 5):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            cr.load(bad)
    flipped = bytearray(data)
    flipped[200] ^= 0xFF  # inside the first array's bytes: the CRC no longer matches
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ModelFormatError):
        cr.load(bad)


def test_load_never_unpickles(tmp_path, saved):
    _, arrays, meta = saved
    path = tmp_path / "pickled.npz"
    evil = np.array([{"code": "anything"}], dtype=object)  # np.save pickles object arrays
    payload = dict(arrays, W1=evil, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    np.savez(path, **payload)
    with pytest.raises(ModelFormatError, match=r"entry 'W1.npy' has dtype object; only numeric arrays are allowed"):
        cr.load(path)


def _npy(array):
    buf = pyio.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_bytes_claiming(shape, payload=b"\0" * 16):
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    buf = pyio.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def test_a_header_claiming_1e12_items_is_refused_before_allocating(tmp_path, saved):
    _, arrays, meta = saved
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8)))
        zf.writestr("W1.npy", npy_bytes_claiming((10**12,)))
    with pytest.raises(ModelFormatError, match=r"entry 'W1.npy' claims shape \(1000000000000,\) \(8000000000000 bytes\) but holds 16 bytes"):
        cr.load(path)


def test_checkpoint_and_model_saves_are_loadable_after_round_trip(saved):
    model = cr.load(saved[0])
    assert isinstance(model, Sequential) and len(model.layers) == 3


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_model_files_load_or_raise_the_librarys_error(tmp_path, saved, data):
    original = saved[0].read_bytes()
    kind = data.draw(st.sampled_from(["flip", "truncate", "random", "splice"]))
    if kind == "flip":
        blob = bytearray(original)
        for pos in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=8)):
            blob[pos] = data.draw(st.integers(0, 255))
        blob = bytes(blob)
    elif kind == "truncate":
        blob = original[: data.draw(st.integers(0, len(original)))]
    elif kind == "splice":
        at = data.draw(st.integers(0, len(original)))
        blob = original[:at] + data.draw(st.binary(max_size=64)) + original[at:]
    else:
        blob = data.draw(st.binary(max_size=2048))
    path = tmp_path / "fuzz.npz"
    path.write_bytes(blob)
    try:
        model = cr.load(path)
    except ChainruleError:
        return
    assert isinstance(model, Sequential)


def test_a_new_model_file_follows_the_umask_and_an_overwrite_keeps_the_mode(tmp_path):
    import os
    import stat

    model = Sequential([Dense(3, 2, "softmax")], seed=0)
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "new.npz")
        assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640
        (tmp_path / "kept.npz").write_bytes(b"old")
        os.chmod(tmp_path / "kept.npz", 0o604)
        model.save(tmp_path / "kept.npz")
        assert stat.S_IMODE(os.stat(tmp_path / "kept.npz").st_mode) == 0o604
    finally:
        os.umask(old)
    assert cr.load(tmp_path / "kept.npz").n_features == 3


LOCKER = """
import fcntl, sys, time
f = open(sys.argv[1], "rb")
fcntl.flock(f.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(30)
"""


def test_a_save_removes_what_killed_saves_left_but_not_a_save_in_progress(tmp_path):
    import os
    import subprocess
    import sys
    import time

    stale, busy, young, other = (tmp_path / n for n in (".tmp-dead.npz", ".tmp-busy.npz", ".tmp-young.npz",
                                                        ".tmp-mine.txt"))
    for path in (stale, busy, young, other):
        path.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    for path in (stale, busy, other):
        os.utime(path, (an_hour_ago, an_hour_ago))
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(busy)], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"  # a live save holds its file's lock
        Sequential([Dense(3, 2, "softmax")], seed=0).save(tmp_path / "m.npz")
    finally:
        locker.kill()
        locker.wait()
        locker.stdout.close()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".tmp-busy.npz", ".tmp-mine.txt", ".tmp-young.npz", "m.npz"]
