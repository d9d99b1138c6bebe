"""Notebook friendliness: figures never switch the user's matplotlib backend, and
History / Run objects display richly (HTML table + PNG curves)."""

import base64
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from descentlab.train import History

_NO_BACKEND_SWITCH = textwrap.dedent(
    """
    import sys
    import matplotlib
    matplotlib.use("svg")  # stands for a user's backend, e.g. Jupyter's inline one
    from descentlab.experiments._common import plot_style, save_figure
    from descentlab.train.run import run_training

    out = sys.argv[1]
    with plot_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(4, 2), sharey=True)
        ax.add_patch(plt.Rectangle((0, 0), 1, 1))
        assert plt.Normalize(0, 2)(1.0) == 0.5
        ax.legend(handles=[plt.Line2D([], [], label="x")])
        fig.colorbar(plt.cm.ScalarMappable(cmap=plt.get_cmap("viridis")), ax=bx)
    save_figure(fig, out, "probe")
    run_training(
        {"model": "mlp", "hidden": [8], "epochs": 1, "n_train": 100, "n_val": 50,
         "n_test": 50},
        out + "/run", verbose=0,
    )
    print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
    """
)


def test_figures_keep_the_users_backend_and_never_import_pyplot(tmp_path):
    """Check, in a fresh process whose backend is set to svg first, that experiment
    figures and a training run's curves.png are written while the backend stays svg
    and pyplot (with its global figure manager) is never imported."""
    env_script = tmp_path / "probe.py"
    env_script.write_text(_NO_BACKEND_SWITCH)
    done = subprocess.run(
        [sys.executable, str(env_script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "False"]
    for png in (tmp_path / "probe.png", tmp_path / "run" / "curves.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _history(epochs=3, val=True):
    h = History()
    for e in range(epochs):
        h.add_step(1.0 / (e + 1), 1e-3)
        logs = {"epoch": e + 1, "loss": 1.0 / (e + 1), "acc": 0.5 + 0.1 * e}
        if val:
            logs.update(val_loss=1.2 / (e + 1), val_acc=0.45 + 0.1 * e)
        h.add_epoch(logs)
    return h


def test_history_plot_draws_train_and_validation_curves():
    """Check History.plot returns a Figure with a loss and an accuracy panel whose
    lines are exactly the recorded per-epoch values, train and validation."""
    from matplotlib.figure import Figure

    h = _history()
    fig = h.plot(title="mlp")
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "mlp: cross-entropy loss"
    (train, val) = loss_ax.get_lines()
    assert np.allclose(train.get_ydata(), h.epoch["loss"])
    assert np.allclose(val.get_ydata(), h.epoch["val_loss"])
    assert np.allclose(acc_ax.get_lines()[1].get_ydata(), h.epoch["val_acc"])
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == [
        "train",
        "validation",
    ]
    # without validation data there is no validation line
    assert len(_history(val=False).plot().axes[0].get_lines()) == 1
    with pytest.raises(ValueError, match="no epoch has finished"):
        History().plot()


def test_history_rich_display_has_the_table_and_an_embedded_png():
    """Check _repr_html_ lists every epoch's metrics and embeds a valid PNG, and that
    an empty history has no PNG representation."""
    h = _history(epochs=2)
    page = h._repr_html_()
    assert page.count("<tr>") == 3  # header + 2 epochs
    assert "<th>val_acc</th>" in page and "<td>0.5500</td>" in page
    png = base64.b64decode(page.split("base64,")[1].split('"')[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert h._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert History()._repr_png_() is None
    assert "0 epochs" in History()._repr_html_()
