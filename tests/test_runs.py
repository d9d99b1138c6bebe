"""Using a trained run: load_run, `descentlab evaluate`, `descentlab predict`
(real processes for exit codes and error lines), PNG reading."""

import json
import subprocess
import sys

import numpy as np
import pytest

import descentlab
from descentlab.data import load_mnist_sample
from descentlab.errors import InvalidParameterError, ShapeError
from descentlab.runs import prepare_images, read_png
from descentlab.train.run import load_data, run_training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mlp"
    cfg = {"model": "mlp", "hidden": [32], "epochs": 2, "n_train": 800, "n_val": 200}
    result = run_training({**cfg, "lr": 3e-3}, out, verbose=0)
    return out, result


@pytest.fixture(scope="module")
def sample():
    return load_mnist_sample()


def _cli(*argv):
    return subprocess.run(
        [sys.executable, "-m", "descentlab", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_load_run_gives_the_trained_model_in_eval_mode(trained):
    """Check load_run rebuilds the model with the saved weights (its test accuracy is
    the one training reported), in eval mode, with config, history and result."""
    out, result = trained
    run = descentlab.load_run(out, checkpoint="last")
    assert not run.model.training
    assert run.config == result["config"]
    assert run.history.epochs_done == 2 and run.result["test_acc"] == result["test_acc"]
    _, _, (x, y) = load_data(run.config)
    ev = run.evaluate(x, y)
    assert ev["acc"] == pytest.approx(result["test_acc"], abs=1e-9)
    assert ev["loss"] == pytest.approx(result["test_loss"], rel=1e-4)
    probs = run.predict_proba(x[:7])
    assert probs.shape == (7, 10) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.array_equal(run.predict(x[:7]), probs.argmax(axis=1))
    # every accepted layout of the same images gives the same answer
    flat = x[:7].reshape(7, 784)
    u8 = np.round(x[:7, 0] * 255).astype(np.uint8)
    assert np.allclose(run.predict_proba(flat), probs)
    assert np.array_equal(run.predict(u8), run.predict(x[:7]))
    assert run.predict(x[0, 0]).shape == (1,)
    page = run._repr_html_()
    assert "mlp" in page and "base64," in page and "test acc" in page
    assert "Run(" in repr(run) and "checkpoint='checkpoint.npz'" in repr(run)


def test_load_run_refuses_what_is_not_a_run(tmp_path, trained):
    """Check a missing folder, a folder without config.json and a missing checkpoint
    name each raise with a message that says what was expected."""
    with pytest.raises(InvalidParameterError, match="no such folder"):
        descentlab.load_run(tmp_path / "nope")
    with pytest.raises(InvalidParameterError, match="is not a run folder"):
        descentlab.load_run(tmp_path)
    with pytest.raises(InvalidParameterError, match=r"has no other.npz .*best.npz"):
        descentlab.load_run(trained[0], checkpoint="other.npz")


def test_prepare_images_refuses_wrong_shapes_and_ranges():
    """Check the accepted shapes and the one-line refusals for shape, range, dtype."""
    assert prepare_images(np.zeros((3, 28, 28)), flat=True).shape == (3, 784)
    assert prepare_images(np.zeros(784), flat=False).shape == (1, 1, 28, 28)
    with pytest.raises(ShapeError, match=r"Got shape \(2, 32, 32\)"):
        prepare_images(np.zeros((2, 32, 32)), flat=False)
    with pytest.raises(InvalidParameterError, match="divide by 255"):
        prepare_images(np.full((28, 28), 200.0), flat=False)
    with pytest.raises(InvalidParameterError, match="must be numbers"):
        prepare_images(np.array([["a"] * 784]), flat=True)


def test_read_png_inverts_dark_on_light_pads_and_resizes(tmp_path, sample):
    """Check a black-on-white 112x84 RGB PNG of a digit becomes the white-on-black
    28x28 image it came from (up to the resampling), and RGBA with a transparent
    background too."""
    import matplotlib.image as mpimg

    x, _ = sample
    digit = x[123, 0].astype(np.float64)
    square = np.kron(1.0 - digit, np.ones((4, 4)))  # 112 x 112, dark on light
    mpimg.imsave(tmp_path / "s.png", np.stack([square] * 3, axis=-1))
    img, inverted = read_png(tmp_path / "s.png")
    assert inverted and img.shape == (28, 28) and img.dtype == np.float32
    assert np.abs(img - digit).max() < 0.01  # 4x4 block means, 8-bit PNG rounding
    wide = np.kron(1.0 - digit, np.ones((4, 3)))  # 112 x 84: padded to 112 x 112
    mpimg.imsave(tmp_path / "d.png", np.stack([wide] * 3, axis=-1))
    img, inverted = read_png(tmp_path / "d.png")
    assert inverted and img.shape == (28, 28)
    assert abs(img.mean() - digit.mean() * 84 / 112) < 0.01
    assert img[:, :3].max() < 0.01 and img[:, -3:].max() < 0.01  # the black padding
    assert read_png(tmp_path / "s.png", invert="no")[0].mean() > 0.5
    rgba = np.zeros((28, 28, 4))
    rgba[..., :3] = 1.0  # white strokes where opaque
    rgba[..., 3] = digit
    mpimg.imsave(tmp_path / "a.png", rgba)
    img2, inv2 = read_png(tmp_path / "a.png")
    assert not inv2 and np.abs(img2 - digit).max() < 0.02
    (tmp_path / "t.png").write_text("not a png")
    with pytest.raises(InvalidParameterError, match="is not a PNG file"):
        read_png(tmp_path / "t.png")


def test_predict_cli_prints_and_writes_json(tmp_path, trained, sample):
    """Check `descentlab predict` on an .npz and a PNG: one line per image with the
    class and its probability, JSON with the probabilities, and the same classes as
    load_run; an existing --out is not replaced."""
    import matplotlib.image as mpimg

    out, _ = trained
    x, y = sample
    idx = [0, 700, 1400, 2100]
    np.savez(tmp_path / "b.npz", x=np.round(x[idx, 0] * 255).astype(np.uint8), y=y[idx])
    mpimg.imsave(tmp_path / "d.png", x[idx[1], 0], cmap="gray")
    dest = tmp_path / "p.json"
    done = _cli(
        "predict",
        str(out),
        "--input",
        str(tmp_path / "b.npz"),
        str(tmp_path / "d.png"),
        "--top",
        "2",
        "--out",
        str(dest),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and lines[0].startswith("b.npz[0]: ")
    assert lines[4].startswith("d.png: ") and "top: " in lines[4]
    saved = json.loads(dest.read_text())
    run = descentlab.load_run(out)
    expected = run.predict(x[idx])
    assert [p["class"] for p in saved["predictions"][:4]] == expected.tolist()
    assert saved["predictions"][0]["label"] == int(y[0])
    assert np.allclose(
        [p["probabilities"] for p in saved["predictions"][:4]],
        run.predict_proba(x[idx]),
    )
    again = _cli(
        "predict", str(out), "--input", str(tmp_path / "d.png"), "--out", str(dest)
    )
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr


@pytest.mark.parametrize(
    "make, pattern",
    [
        (
            lambda p: np.savez(p / "i.npz", x=np.zeros((2, 30, 30))),
            r"Got shape \(2, 30, 30\)",
        ),
        (
            lambda p: np.savez(p / "i.npz", images=np.zeros((2, 28, 28))),
            "has no array 'x'",
        ),
        (lambda p: None, "no such file"),
    ],
)
def test_predict_cli_errors_are_one_line(tmp_path, trained, make, pattern):
    """Check a wrong shape, an npz without x and a missing file exit 2 with one line."""
    make(tmp_path)
    done = _cli("predict", str(trained[0]), "--input", str(tmp_path / "i.npz"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    import re

    assert re.search(pattern, done.stderr), done.stderr


def test_evaluate_cli_matches_training_and_refuses_a_non_run(tmp_path, trained, sample):
    """Check `descentlab evaluate RUN_DIR` reports the test accuracy training did,
    `--data FILE.npz --out` writes JSON, and a folder that is not a run exits 2."""
    out, result = trained
    done = _cli("evaluate", str(out), "--checkpoint", "last")
    assert done.returncode == 0, done.stderr
    assert f"accuracy {result['test_acc']:.4f}" in done.stdout
    assert "per class: 0 " in done.stdout
    x, y = sample
    np.savez(tmp_path / "e.npz", x=x[:300], y=y[:300])
    dest = tmp_path / "e.json"
    done = _cli(
        "evaluate", str(out), "--data", str(tmp_path / "e.npz"), "--out", str(dest)
    )
    assert done.returncode == 0, done.stderr
    ev = json.loads(dest.read_text())
    run = descentlab.load_run(out)
    assert ev["n"] == 300 and ev["acc"] == pytest.approx(
        run.evaluate(x[:300], y[:300])["acc"]
    )
    bad = _cli("evaluate", str(tmp_path))
    assert bad.returncode == 2 and "is not a run folder" in bad.stderr
    assert bad.stderr.count("\n") == 1
