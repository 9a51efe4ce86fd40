"""Checkpoints: saved after every epoch, atomic, and a killed run resumes bit for bit."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import checkpoint as ckpt
from chainrule.errors import InputError, ModelFormatError

REPO = Path(__file__).resolve().parents[1]

# The same run, written once, executed here and in killed subprocesses.
RUN = textwrap.dedent("""
    import numpy as np, chainrule as cr

    def data():
        rng = np.random.default_rng(0)
        y = rng.integers(0, 3, 600)
        X = (rng.normal(size=(600, 20)) + np.eye(3, 20)[y] * 2).astype(np.float32)
        return X, y

    def network():
        return cr.Sequential([cr.Dense(20, 32, "relu"), cr.Dropout(0.2), cr.Dense(32, 3, "softmax")], seed=7)

    def train(callbacks=(), checkpoint=None, resume=None, optimizer=None):
        X, y = data()
        model = network()
        optimizer = optimizer or cr.optimizers.Adam(0.01)
        model.fit(X, y, epochs=6, batch_size=32, optimizer=optimizer, validation_split=0.2,
                  callbacks=callbacks, checkpoint=checkpoint, resume=resume)
        return model, optimizer
""")
namespace = {}
exec(RUN, namespace)


def test_checkpoint_holds_weights_optimizer_state_rng_and_history(tmp_path):
    path = tmp_path / "ck.npz"
    model, optimizer = namespace["train"](checkpoint=path)
    info, opt_state, _, _ = ckpt.read_checkpoint(path)
    saved = cr.load(path)
    assert info["epochs_done"] == 6
    assert info["optimizer"]["name"] == "Adam" and opt_state["iterations"] == optimizer.iterations
    for a, b in zip(saved.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    for slot in ("m", "v"):
        for a, b in zip(opt_state["state"][slot], optimizer.state[slot], strict=True):
            np.testing.assert_array_equal(a, b)
    assert info["rng"] == model.rng.bit_generator.state
    assert saved.history.history == model.history.history and len(saved.history.epoch) == 6
    # a checkpoint is also a model file
    np.testing.assert_array_equal(cr.load(path).predict_proba(np.ones((2, 20))), model.predict_proba(np.ones((2, 20))))


def test_resume_after_sigkill_mid_epoch_is_bitwise_identical(tmp_path):
    path = tmp_path / "ck.npz"
    script = tmp_path / "run.py"
    script.write_text(RUN + textwrap.dedent(f"""
        import sys, time
        def pause(batch, logs):
            if model_holder and len(model_holder[0].history.epoch) == 3 and batch == 5:
                print("in epoch 4", flush=True)
                time.sleep(120)
        model_holder = []
        class Hold(cr.Callback):
            def set_model(self, model):
                model_holder.append(model)
            def on_batch_end(self, batch, logs):
                pause(batch, logs)
        train(callbacks=[Hold()], checkpoint={str(path)!r})
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "in epoch 4"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert ckpt.read_checkpoint(path)[0]["epochs_done"] == 3
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]

    resumed, _ = namespace["train"](resume=path)
    uninterrupted, _ = namespace["train"]()
    for a, b in zip(resumed.parameters(), uninterrupted.parameters(), strict=True):
        assert a.tobytes() == b.tobytes()
    assert resumed.history.history == uninterrupted.history.history


def test_a_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    model, optimizer = namespace["train"](checkpoint=path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(path, model, optimizer, 7, {}, {})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]  # the temporary file is gone too


def test_resume_refuses_a_different_run(tmp_path):
    path = tmp_path / "ck.npz"
    namespace["train"](checkpoint=path)
    X, y = namespace["data"]()
    model = namespace["network"]()
    with pytest.raises(InputError, match=r"was made by a run with settings .*'batch_size': 32.*this run has .*'batch_size': 64"):
        model.fit(X, y, epochs=8, batch_size=64, optimizer=cr.optimizers.Adam(0.01), validation_split=0.2, resume=path)
    with pytest.raises(InputError, match=r"was trained with Adam; received optimizer SGD"):
        model.fit(X, y, epochs=8, batch_size=32, optimizer=cr.optimizers.SGD(0.1), validation_split=0.2, resume=path)
    other = cr.Sequential([cr.Dense(20, 16, "relu"), cr.Dense(16, 3, "softmax")])
    with pytest.raises(InputError, match=r"which is not this network"):
        other.fit(X, y, epochs=8, resume=path)


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    model = namespace["network"]()
    model.save(tmp_path / "m.npz")
    with pytest.raises(ModelFormatError, match=r"is a model file, not a checkpoint"):
        ckpt.read_checkpoint(tmp_path / "m.npz")


def test_stop_training_in_a_batch_ends_after_that_batch(tmp_path):
    X, y = namespace["data"]()
    model = namespace["network"]()
    seen = []

    def stop(batch, logs):
        seen.append(batch)
        if batch == 2:
            model.stop_training = True

    history = model.fit(X, y, epochs=3, batch_size=32, callbacks=[cr.LambdaCallback(on_batch_end=stop)])
    assert seen == [0, 1, 2] and history.epoch == []  # no partial epoch in the history


def test_a_checkpoint_into_a_missing_folder_is_refused_before_training(tmp_path):
    X, y = namespace["data"]()
    model = namespace["network"]()
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(InputError, match=r"checkpoint must be a file in an existing folder this process "
                                         r"can write; received checkpoint='.*/missing/ck.npz'"):
        model.fit(X, y, epochs=2, checkpoint=tmp_path / "missing" / "ck.npz")
    for p, q in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p, q)
    assert model.history is None
