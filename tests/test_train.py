"""Trainer, callbacks and exact checkpoint/resume."""

import io
import math
import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

from descentlab.data import load_mnist_sample
from descentlab.errors import CheckpointError
from descentlab.models import MLP, SimpleConvNet
from descentlab.nn import SoftmaxCrossEntropy
from descentlab.optim import SGD, Adam
from descentlab.schedules import CosineAnnealing, Scheduler
from descentlab.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    TerminateOnNaN,
    Trainer,
)


@pytest.fixture(scope="module")
def sample():
    x, y = load_mnist_sample()
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx], y[idx]


def _small(sample, n_train=600, n_val=200, flat=True):
    x, y = sample
    if flat:
        x = x.reshape(len(x), -1)
    return (x[:n_train], y[:n_train]), (
        x[n_train : n_train + n_val],
        y[n_train : n_train + n_val],
    )


def _bn_dropout_setup(epochs, steps_per_epoch):
    model = MLP([784, 48, 48, 10], batchnorm=True, dropout=0.3, seed=1)
    opt = Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = Scheduler(
        opt, CosineAnnealing(3e-3, epochs * steps_per_epoch, 1e-5), interval="step"
    )
    return model, Trainer(model, SoftmaxCrossEntropy(), opt, sched, verbose=0)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == np.float32 or sa[k].dtype.kind == "i"
        assert np.array_equal(sa[k], sb[k]), k


def test_resume_after_two_epochs_is_bit_identical(sample, tmp_path):
    """Check that 2 epochs + checkpoint + 2 resumed epochs equals 4 uninterrupted
    epochs."""
    train, val = _small(sample)
    steps = math.ceil(600 / 50)
    ref_model, ref = _bn_dropout_setup(4, steps)
    h_ref = ref.fit(train, val, epochs=4, batch_size=50, seed=3)

    m1, t1 = _bn_dropout_setup(4, steps)
    t1.fit(train, val, epochs=2, batch_size=50, seed=3, checkpoint=tmp_path / "ck.npz")
    m2, t2 = _bn_dropout_setup(4, steps)  # fresh objects, as after a restart
    h2 = t2.fit(train, val, epochs=4, batch_size=50, seed=3, resume=tmp_path / "ck.npz")

    _assert_same_weights(ref_model, m2)
    assert h2.epoch["loss"] == h_ref.epoch["loss"]
    assert h2.step["lr"] == h_ref.step["lr"]
    assert len(h2.step["loss"]) == 4 * steps


class _InterruptAt(Callback):
    def __init__(self, step):
        self.at = step

    def on_train_batch_end(self, step, logs=None):
        if step == self.at:
            raise KeyboardInterrupt


def test_ctrl_c_mid_epoch_checkpoints_and_resumes_exactly(sample, tmp_path):
    """Check that an interrupt mid-epoch writes a checkpoint that resumes to the same
    weights."""
    train, val = _small(sample)
    steps = math.ceil(600 / 50)
    ref_model, ref = _bn_dropout_setup(3, steps)
    ref.fit(train, val, epochs=3, batch_size=50, seed=5)

    m1, t1 = _bn_dropout_setup(3, steps)
    t1.callbacks.append(_InterruptAt(steps + 4))  # in the second epoch
    with pytest.warns(RuntimeWarning, match="interrupted"):
        h1 = t1.fit(
            train, val, epochs=3, batch_size=50, seed=5, checkpoint=tmp_path / "c.npz"
        )
    assert h1.stopped == "interrupted"
    assert h1.checkpoint == str(tmp_path / "c.npz")
    assert t1.global_step == steps + 5

    m2, t2 = _bn_dropout_setup(3, steps)
    t2.fit(train, val, epochs=3, batch_size=50, seed=5, resume=tmp_path / "c.npz")
    _assert_same_weights(ref_model, m2)


class _SigintAt(Callback):
    """Sends this process a real SIGINT (a Ctrl-C) after global step ``step``."""

    def __init__(self, step):
        self.at = step

    def on_train_batch_end(self, step, logs=None):
        if step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("offset", [4, 11])  # mid-epoch, and the last batch of an epoch
def test_real_ctrl_c_stops_checkpoints_and_resumes_exactly(
    sample, tmp_path, offset, sigint_default
):
    """Check that one real Ctrl-C (SIGINT) finishes the batch, stops, and resumes
    exactly."""
    train, val = _small(sample)
    steps = math.ceil(600 / 50)
    ref_model, ref = _bn_dropout_setup(3, steps)
    ref.fit(train, val, epochs=3, batch_size=50, seed=5)

    m1, t1 = _bn_dropout_setup(3, steps)
    t1.callbacks.append(_SigintAt(steps + offset))
    with pytest.warns(RuntimeWarning, match="interrupted; checkpoint written"):
        h1 = t1.fit(
            train, val, epochs=3, batch_size=50, seed=5, checkpoint=tmp_path / "c.npz"
        )
    assert h1.stopped == "interrupted" and h1.checkpoint == str(tmp_path / "c.npz")
    assert t1.global_step == steps + offset + 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored

    m2, t2 = _bn_dropout_setup(3, steps)
    h2 = t2.fit(train, val, epochs=3, batch_size=50, seed=5, resume=tmp_path / "c.npz")
    assert h2.stopped is None and t2.global_step == 3 * steps
    _assert_same_weights(ref_model, m2)


class _InterruptBeforeStep(Callback):
    """Raises KeyboardInterrupt (as a second Ctrl-C would) after the loader handed out
    the batch of global step ``step`` but before that step is applied."""

    def __init__(self, step):
        self.at = step

    def on_train_batch_begin(self, step, logs=None):
        if step == self.at:
            raise KeyboardInterrupt


def test_interrupt_inside_a_step_keeps_the_last_epoch_checkpoint(sample, tmp_path):
    """Check an interrupt with the step half applied writes nothing: the checkpoint of
    the last finished epoch stays, and resuming from it is exact."""
    train, val = _small(sample)
    steps = math.ceil(600 / 50)
    ref_model, ref = _bn_dropout_setup(3, steps)
    ref.fit(train, val, epochs=3, batch_size=50, seed=5)

    m1, t1 = _bn_dropout_setup(3, steps)
    t1.callbacks.append(_InterruptBeforeStep(steps + 3))
    with pytest.warns(
        RuntimeWarning, match="middle of a training step.*last finished epoch"
    ):
        h1 = t1.fit(
            train, val, epochs=3, batch_size=50, seed=5, checkpoint=tmp_path / "c.npz"
        )
    assert h1.stopped == "interrupted" and h1.checkpoint == str(tmp_path / "c.npz")

    m2, t2 = _bn_dropout_setup(3, steps)
    t2.load_checkpoint(tmp_path / "c.npz")
    assert (t2.epoch, t2.global_step) == (
        1,
        steps,
    )  # the end of epoch 1, not step steps+3
    m3, t3 = _bn_dropout_setup(3, steps)
    t3.fit(train, val, epochs=3, batch_size=50, seed=5, resume=tmp_path / "c.npz")
    _assert_same_weights(ref_model, m3)


def test_a_half_applied_interrupt_does_not_vouch_for_an_older_runs_checkpoint(
    sample, tmp_path
):
    """Check a mid-step interrupt in the first epoch does not present a checkpoint left
    at the path by an earlier run as this run's state."""
    train, _ = _small(sample)
    _, old = _bn_dropout_setup(1, 12)
    old.fit(train, epochs=1, batch_size=50, seed=1, checkpoint=tmp_path / "c.npz")
    _, t = _bn_dropout_setup(1, 12)
    t.callbacks.append(_InterruptBeforeStep(2))
    with pytest.warns(RuntimeWarning, match="no checkpoint was written"):
        h = t.fit(train, epochs=1, batch_size=50, seed=5, checkpoint=tmp_path / "c.npz")
    assert h.stopped == "interrupted" and h.checkpoint is None


def test_interrupt_inside_the_first_epoch_without_checkpoint_writes_nothing(
    sample, tmp_path, monkeypatch
):
    """Check a half-applied step with no earlier checkpoint leaves no file behind."""
    monkeypatch.chdir(tmp_path)
    train, val = _small(sample)
    _, t = _bn_dropout_setup(1, 12)
    t.callbacks.append(_InterruptBeforeStep(2))
    with pytest.warns(RuntimeWarning, match="no checkpoint was written"):
        h = t.fit(train, None, epochs=1, batch_size=50, seed=5)
    assert h.stopped == "interrupted" and h.checkpoint is None
    assert list(tmp_path.iterdir()) == []


def test_on_interrupt_raise_propagates_and_writes_nothing(
    sample, tmp_path, monkeypatch
):
    """Check on_interrupt='raise' lets KeyboardInterrupt through with no checkpoint
    file, restores the data layer's input_grad, and that bad values are refused."""
    monkeypatch.chdir(tmp_path)
    train, _ = _small(sample)
    model, trainer = _bn_dropout_setup(1, 12)
    trainer = Trainer(
        model,
        SoftmaxCrossEntropy(),
        trainer.optimizer,
        verbose=0,
        callbacks=[_InterruptAt(3)],
        on_interrupt="raise",
    )
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(train, epochs=1, batch_size=50, checkpoint=tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []
    assert model[0].input_grad is True
    with pytest.raises(ValueError, match="'on_interrupt' must be one of"):
        Trainer(model, SoftmaxCrossEntropy(), trainer.optimizer, on_interrupt="ignore")


def test_mlp_loss_halves_in_a_few_epochs(sample):
    """Check that a plain MLP with SGD momentum at least halves its training loss."""
    train, val = _small(sample, 1000, 300)
    model = MLP([784, 100, 100, 10], seed=0)
    t = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.05, momentum=0.9),
        verbose=0,
    )
    h = t.fit(train, val, epochs=4, batch_size=64)
    assert h.epoch["loss"][-1] < 0.5 * h.epoch["loss"][0]
    assert h.epoch["val_acc"][-1] > 0.8


@pytest.mark.slow
def test_simple_convnet_reaches_90_percent(sample):
    """Check that SimpleConvNet + Adam reaches >= 0.90 on a held-out 1,000 in 2
    epochs."""
    x, y = sample
    model = SimpleConvNet(seed=0)
    t = Trainer(
        model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3), verbose=0
    )
    t.fit((x[:4000], y[:4000]), epochs=2, batch_size=100)
    assert t.evaluate(x[4000:], y[4000:])["acc"] >= 0.90


def test_nonfinite_loss_stops_with_step_and_keeps_finite_weights(sample):
    """Check that a NaN batch stops training, reports the step and leaves the weights
    finite."""
    (x, y), _ = _small(sample, 400, 0)
    x = x.copy()
    x[130] = np.nan  # with shuffle=False this poisons the third batch of 64
    model = MLP([784, 32, 10], seed=0)
    t = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), verbose=0
    )
    snapshots = []

    class Snap(Callback):
        def on_train_batch_end(self, step, logs=None):
            snapshots.append(model.state_dict())

    t.callbacks.append(Snap())
    with pytest.warns(RuntimeWarning, match="step 3"):
        h = t.fit((x, y), epochs=2, batch_size=64, shuffle=False)
    assert h.stopped == "nonfinite"
    assert h.nonfinite["step"] == 3 and "nan" in h.nonfinite["cause"]
    for k, v in model.state_dict().items():
        assert np.all(np.isfinite(v))
        assert np.array_equal(v, snapshots[1][k])  # weights of the last finite step


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nonfinite_skip_mode_continues_and_terminate_on_nan_stops(sample):
    """Check that nonfinite='skip' skips the bad step, and TerminateOnNaN stops
    anyway."""
    (x, y), _ = _small(sample, 256, 0)
    x = x.copy()
    x[70] = np.inf
    model = MLP([784, 16, 10], seed=0)
    t = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        verbose=0,
        nonfinite="skip",
    )
    h = t.fit((x, y), epochs=1, batch_size=64, shuffle=False)
    assert h.epochs_done == 1 and len(h.step["loss"]) == 3
    assert h.nonfinite["step"] == 2
    t2 = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        callbacks=[TerminateOnNaN()],
        verbose=0,
        nonfinite="skip",
    )
    h2 = t2.fit((x, y), epochs=3, batch_size=64, shuffle=False)
    assert h2.stopped == "nonfinite" and h2.epochs_done == 0


def test_early_stopping_restores_best_weights(sample):
    """Check that EarlyStopping stops after `patience` bad epochs and restores the best
    weights."""
    train, val = _small(sample, 300, 200)
    model = MLP([784, 64, 10], seed=0)
    best = {}

    class Keep(Callback):
        def on_epoch_end(self, epoch, logs=None):
            best[epoch] = (logs["val_loss"], model.state_dict())

    es = EarlyStopping("val_loss", patience=1)
    # a huge lr makes validation loss rise after the first epochs
    t = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=2.0),
        callbacks=[Keep(), es],
        verbose=0,
    )
    h = t.fit(train, val, epochs=20, batch_size=50)
    assert h.stopped == "early_stopping" and h.epochs_done < 20
    best_epoch = min(best, key=lambda e: best[e][0])
    assert es.best_epoch == best_epoch
    for k, v in model.state_dict().items():
        assert np.array_equal(v, best[best_epoch][1][k])


class _ScriptedValLoss(Callback):
    """Replaces the epoch's val_loss by a scripted value (runs before EarlyStopping)."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


@pytest.mark.parametrize("patience, epochs_run", [(0, 3), (1, 3), (2, 4), (3, 5)])
def test_early_stopping_runs_exactly_patience_epochs_without_improvement(
    sample, patience, epochs_run
):
    """Check that with the best val_loss at epoch 2, training stops at the end of the
    `patience`-th following epoch without improvement (Keras's count), not one later."""
    train, val = _small(sample, 100, 50)
    model = MLP([784, 8, 10], seed=0)
    scripted = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    es = EarlyStopping("val_loss", patience=patience)
    t = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.01),
        callbacks=[_ScriptedValLoss(scripted), es],
        verbose=0,
    )
    h = t.fit(train, val, epochs=len(scripted), batch_size=50)
    assert h.epochs_done == epochs_run
    assert h.stopped == "early_stopping"
    assert es.best_epoch == 1 and es.stopped_epoch == epochs_run - 1


def test_csv_logger_checkpoint_and_progress(sample, tmp_path):
    """Check that CSVLogger writes one row per epoch, ModelCheckpoint files load, and
    the progress line shows epoch and metrics."""
    train, val = _small(sample, 200, 100)
    model = MLP([784, 16, 10], seed=0)
    stream = io.StringIO()
    cbs = [CSVLogger(tmp_path / "log.csv"), ModelCheckpoint(tmp_path / "ep{epoch}.npz")]
    t = Trainer(
        model,
        SoftmaxCrossEntropy(),
        Adam(model.parameters()),
        callbacks=cbs,
        verbose=1,
        progress_stream=stream,
    )
    t.fit(train, val, epochs=2, batch_size=50)
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,loss,acc") and len(rows) == 3
    assert (tmp_path / "ep1.npz").exists() and (tmp_path / "ep2.npz").exists()
    out = stream.getvalue()
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "val_acc" in out


def test_corrupt_and_mismatched_checkpoints_are_refused(sample, tmp_path):
    """Check that truncated, foreign and wrong-model checkpoints raise
    CheckpointError."""
    train, _ = _small(sample, 100, 0)
    model = MLP([784, 16, 10], seed=0)
    t = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), verbose=0
    )
    t.fit(train, epochs=1, batch_size=50, checkpoint=tmp_path / "ok.npz")
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    fresh = Trainer(
        MLP([784, 16, 10]),
        SoftmaxCrossEntropy(),
        SGD(MLP([784, 16, 10]).parameters(), lr=0.1),
        verbose=0,
    )
    with pytest.raises(CheckpointError, match="truncated"):
        fresh.load_checkpoint(tmp_path / "cut.npz")
    with pytest.raises(CheckpointError, match="not a descentlab"):
        fresh.load_checkpoint(tmp_path / "foreign.npz")
    other = MLP([784, 20, 10])
    t3 = Trainer(
        other, SoftmaxCrossEntropy(), SGD(other.parameters(), lr=0.1), verbose=0
    )
    with pytest.raises(CheckpointError, match=r"0\.weight"):
        t3.load_checkpoint(tmp_path / "ok.npz")


def test_fit_rejects_bad_arguments(sample):
    """Check that fit validates epochs and the shape of `train`."""
    model = MLP([784, 8, 10])
    t = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), verbose=0
    )
    with pytest.raises(ValueError, match="'epochs' must be an int in \\[1, inf\\]"):
        t.fit(_small(sample, 10, 0)[0], epochs=0)
    with pytest.raises(ValueError, match="must be an \\(x, y\\) pair"):
        t.fit(np.zeros((3, 784)), epochs=1)


def test_regression_with_mse_reports_no_accuracy():
    """Check a Trainer with MSELoss learns a linear map and reports loss only: accuracy
    is NaN in the history and evaluate(), and the progress line has no 'acc'."""
    from descentlab.nn import Linear, MSELoss, ReLU, Sequential

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [-1.0]], np.float32)
    net = Sequential(Linear(3, 16, rng=0), ReLU(), Linear(16, 1, rng=1))
    stream = io.StringIO()
    trainer = Trainer(
        net, MSELoss(), SGD(net.parameters(), lr=0.05), progress_stream=stream
    )
    h = trainer.fit((x, y), val=(x, y), epochs=10, batch_size=32)
    assert h.epoch["loss"][-1] < 0.1 * h.epoch["loss"][0]
    assert all(math.isnan(a) for a in h.epoch["acc"] + h.epoch["val_acc"])
    ev = trainer.evaluate(x, y)
    assert ev["loss"] < 0.1 and math.isnan(ev["acc"])
    shown = stream.getvalue()
    assert "val_loss" in shown and " acc " not in shown and "val_acc" not in shown


@pytest.fixture(scope="module")
def resumed_with_callbacks(sample, tmp_path_factory):
    """An uninterrupted run (ref) with EarlyStopping, ModelCheckpoint,
    LearningRateLogger and CSVLogger that stops early, and the same run cut after 2
    epochs and resumed from its checkpoint with fresh objects."""
    from descentlab.train import LearningRateLogger, ModelCheckpoint

    train, val = _small(sample)
    steps = math.ceil(600 / 50)

    def setup(folder):
        model, trainer = _bn_dropout_setup(12, steps)
        trainer.callbacks += [
            EarlyStopping(monitor="val_acc", patience=1, min_delta=0.02),
            ModelCheckpoint(
                folder / "best.npz", monitor="val_acc", save_best_only=True
            ),
            LearningRateLogger(),
            CSVLogger(folder / "h.csv"),
        ]
        return model, trainer

    tmp = tmp_path_factory.mktemp("callbacks")
    (tmp / "ref").mkdir(), (tmp / "cut").mkdir()
    ref_model, ref = setup(tmp / "ref")
    h_ref = ref.fit(train, val, epochs=12, batch_size=50, seed=2)
    assert h_ref.stopped == "early_stopping"  # the run must stop early to test anything
    assert ref.callbacks[0].stopped_epoch >= 2

    _, first = setup(tmp / "cut")
    first.fit(
        train, val, epochs=2, batch_size=50, seed=2, checkpoint=tmp / "cut" / "c.npz"
    )
    model, again = setup(tmp / "cut")
    h = again.fit(
        train, val, epochs=12, batch_size=50, seed=2, resume=tmp / "cut" / "c.npz"
    )
    return SimpleNamespace(
        tmp=tmp,
        ref_model=ref_model,
        ref=ref,
        h_ref=h_ref,
        model=model,
        again=again,
        h=h,
    )


def test_early_stopping_stops_at_the_same_epoch_after_resume(resumed_with_callbacks):
    """Check that a resumed run stops early at the uninterrupted run's epoch."""
    r = resumed_with_callbacks
    assert r.h.stopped == "early_stopping"
    assert r.again.callbacks[0].stopped_epoch == r.ref.callbacks[0].stopped_epoch


def test_resumed_run_restores_the_same_best_weights(resumed_with_callbacks):
    """Check that the resumed run ends with the uninterrupted run's best weights."""
    _assert_same_weights(resumed_with_callbacks.ref_model, resumed_with_callbacks.model)


def test_model_checkpoint_keeps_its_best_across_a_resume(resumed_with_callbacks):
    """Check that ModelCheckpoint's best value equals the uninterrupted run's."""
    r = resumed_with_callbacks
    assert r.again.callbacks[1].best == r.ref.callbacks[1].best


def test_learning_rate_logger_continues_across_a_resume(resumed_with_callbacks):
    """Check that LearningRateLogger logged the uninterrupted run's rates."""
    r = resumed_with_callbacks
    assert r.again.callbacks[2].steps == r.ref.callbacks[2].steps


def test_csv_logger_holds_the_full_history_after_a_resume(resumed_with_callbacks):
    """Check that the resumed run's CSV has every epoch, as the uninterrupted run's."""
    r = resumed_with_callbacks
    ref_rows = (r.tmp / "ref" / "h.csv").read_text().splitlines()
    rows = (r.tmp / "cut" / "h.csv").read_text().splitlines()
    assert len(rows) == len(ref_rows) == len(r.h_ref.epoch["loss"]) + 1
    assert [row.split(",")[:3] for row in rows] == [
        row.split(",")[:3] for row in ref_rows
    ]


def test_checkpoint_of_another_optimizer_is_refused(sample, tmp_path):
    """Check resuming an Adam checkpoint with an SGD optimizer raises
    CheckpointError."""
    train, _ = _small(sample, n_train=100)
    model, trainer = _bn_dropout_setup(1, 2)
    trainer.fit(train, epochs=1, batch_size=50, checkpoint=tmp_path / "c.npz")
    other = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), verbose=0
    )
    with pytest.raises(
        CheckpointError, match="trained with Adam but the trainer's optimizer is SGD"
    ):
        other.load_checkpoint(tmp_path / "c.npz")


def test_fit_will_not_overwrite_a_file_that_is_not_a_checkpoint(sample, tmp_path):
    """Check fit(checkpoint=...) refuses a path holding another file before training,
    and overwrites its own earlier checkpoint."""
    from descentlab.errors import OutputExistsError

    train, _ = _small(sample, n_train=100)
    mine = tmp_path / "weights.npz"
    np.savez(mine, w=np.ones(3))
    _, trainer = _bn_dropout_setup(1, 2)
    with pytest.raises(OutputExistsError, match="not a descentlab checkpoint"):
        trainer.fit(train, epochs=1, batch_size=50, checkpoint=mine)
    assert np.load(mine)["w"].tolist() == [1.0, 1.0, 1.0] and trainer.global_step == 0
    ck = tmp_path / "c.npz"
    trainer.fit(train, epochs=1, batch_size=50, checkpoint=ck)
    trainer.fit(train, epochs=1, batch_size=50, checkpoint=ck)  # a checkpoint: replaced
    assert ck.is_file()


def test_model_checkpoint_will_not_overwrite_a_users_file(sample, tmp_path):
    """Check ModelCheckpoint refuses a fixed path holding a user's file at the start,
    and skips (with a warning) a templated path that hits one."""
    from descentlab.errors import OutputExistsError

    train, _ = _small(sample, n_train=100)
    mine = tmp_path / "notes.npz"
    np.savez(mine, w=np.ones(2))
    _, trainer = _bn_dropout_setup(2, 2)
    trainer.callbacks.append(ModelCheckpoint(mine, save_best_only=False))
    with pytest.raises(OutputExistsError, match="not a descentlab checkpoint"):
        trainer.fit(train, epochs=2, batch_size=50)
    np.savez(tmp_path / "ep2.npz", w=np.ones(2))
    _, trainer = _bn_dropout_setup(2, 2)
    cb = ModelCheckpoint(str(tmp_path / "ep{epoch}.npz"))
    trainer.callbacks.append(cb)
    with pytest.warns(RuntimeWarning, match="not overwritten"):
        trainer.fit(train, epochs=2, batch_size=50)
    assert cb.saved == [str(tmp_path / "ep1.npz")]
    assert np.load(tmp_path / "ep2.npz")["w"].tolist() == [1.0, 1.0]


def test_an_ignored_sigint_stays_ignored(sample):
    """Check fit leaves SIGINT ignored when it was (a background job): no handler is
    installed during training."""
    seen = []

    class Peek(Callback):
        def on_train_batch_end(self, step, logs=None):
            seen.append(signal.getsignal(signal.SIGINT))

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        train, _ = _small(sample, n_train=100)
        _, trainer = _bn_dropout_setup(1, 2)
        trainer.callbacks.append(Peek())
        trainer.fit(train, epochs=1, batch_size=50)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen and all(h is signal.SIG_IGN for h in seen)


def test_early_stopping_on_a_missing_metric_warns_once_and_does_not_stop(sample):
    """Check EarlyStopping(monitor='val_loss') without validation data warns once, names
    the available metrics, and lets training run all epochs (Keras does the same)."""
    train, _ = _small(sample, n_train=200)
    _, trainer = _bn_dropout_setup(4, 4)
    trainer.callbacks.append(EarlyStopping(patience=0))
    with pytest.warns(
        RuntimeWarning, match=r"'val_loss' is not available.*available: acc, loss"
    ) as rec:
        h = trainer.fit(train, epochs=4, batch_size=50)
    assert len([w for w in rec if "not available" in str(w.message)]) == 1
    assert h.stopped is None and len(h.epoch["loss"]) == 4


def test_max_steps_stops_mid_epoch_and_finishes_that_epoch(sample):
    """Check fit(max_steps=) takes exactly those steps and logs the partial epoch."""
    train, val = _small(sample, 300, 50)
    model = MLP([784, 16, 10], seed=1)
    seen = []

    class Steps(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.trainer.global_step)

    t = Trainer(
        model,
        SoftmaxCrossEntropy(),
        SGD(model.parameters(), lr=0.01),
        callbacks=[Steps()],
        verbose=0,
    )
    history = t.fit(train, val, max_steps=5, batch_size=128, seed=1)
    assert t.global_step == 5 and len(history.step["loss"]) == 5
    assert (t.epochs, t.epoch, seen) == (2, 2, [3, 5])  # 3 batches per epoch
    assert history.stopped == "max_steps" and history.epochs_done == 2
    assert not math.isnan(history.last("val_acc"))


def test_max_steps_is_a_total_across_a_resume_and_needs_epochs_or_steps(
    sample, tmp_path
):
    """Check a resumed fit counts earlier steps toward max_steps; fit needs a limit."""
    train, _ = _small(sample, 300, 0)
    model = MLP([784, 16, 10], seed=1)
    t = Trainer(
        model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.01), verbose=0
    )
    t.fit(train, epochs=1, batch_size=100, checkpoint=tmp_path / "ck.npz")
    assert t.global_step == 3
    t.fit(train, max_steps=4, batch_size=100, resume=tmp_path / "ck.npz")
    assert t.global_step == 4 and t.history.stopped == "max_steps"
    with pytest.raises(ValueError, match="give 'epochs', 'max_steps' or both"):
        t.fit(train)
    with pytest.raises(ValueError, match="'max_steps' must be an int in \\[1, inf\\]"):
        t.fit(train, max_steps=0)
