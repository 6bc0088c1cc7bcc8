"""plots.py and `latentcraft plot`: every figure is a PNG of the promised pixel size with something drawn."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentcraft.cli.main import main
from latentcraft.config.run_config import resolve_config
from latentcraft.data.mnist import load_split
from latentcraft.model.vae import LatentModel
from latentcraft.reporting import plots
from latentcraft.techniques import routing_figures
from latentcraft.techniques.registry import build_model
from latentcraft.training.checkpoint import save_model

SMALL = ["model.encoder_hidden=[32]", "model.decoder_hidden=[32]", "data.test_limit=120"]


def _model(*overrides: str) -> LatentModel:
    torch.manual_seed(0)
    return build_model(resolve_config(overrides=[*SMALL, *overrides])).eval()


@pytest.fixture(scope="module")
def test_set(mnist_dir):
    return load_split("mnist", "test", limit=120)


def _pixels(size_inches) -> tuple[int, int]:
    return round(size_inches[0] * plots.DPI), round(size_inches[1] * plots.DPI)


def _assert_drawn(path, size, min_share: float = 0.02) -> None:
    image = Image.open(path)
    assert image.format == "PNG"
    assert image.size == size
    grey = np.asarray(image.convert("L"), dtype=float)
    assert grey.std() > 10  # not one flat colour
    assert (np.abs(grey - np.median(grey)) > 40).mean() > min_share  # a real share of pixels differ from the background


def _coloured_pixels_in_axes(path, min_saturation: int = 80) -> int:
    """Saturated pixels inside the axes box (left of the legend): points or regions, not text or frame."""
    hsv = np.asarray(Image.open(path).convert("RGB").convert("HSV"))
    h, w = hsv.shape[:2]
    inside = hsv[int(0.1 * h):int(0.9 * h), int(0.11 * w):int(0.79 * w), 1]  # saturation channel
    return int((inside > min_saturation).sum())


def test_image_grid_figures_have_the_promised_size(tmp_path, test_set):
    model = _model("routing.enabled=true", "model.relu_latent=true")
    d = model.config.model.latent_dim
    cases = [
        (plots.plot_reconstructions(model, test_set, tmp_path / "r.png"), (2, 10)),
        (plots.plot_traversal_row(model, test_set, tmp_path / "t.png", coordinate=3, image=5),
         (1, plots.TRAVERSAL_STEPS)),
        (plots.plot_traversal_grid(model, test_set, tmp_path / "g.png", image=7), (d, plots.TRAVERSAL_STEPS)),
        (plots.plot_unit_vectors(model, tmp_path / "u.png", 2.0), (1, d)),
    ]
    for path, (rows, cols) in cases:
        _assert_drawn(path, _pixels(plots.grid_figure_size(rows, cols)))


def test_traversal_sets_exactly_one_coordinate(test_set):
    model = _model()
    values = plots.traversal_values(-3, 3)
    tiles = plots.traversal_tiles(model, test_set, 0, [2], values)
    mu = model.encode(test_set.floats(slice(0, 1)))[0]
    mu[0, 2] = values[4]
    expected = torch.sigmoid(model.decode(mu)).view(28, 28).detach().numpy()
    np.testing.assert_allclose(tiles[0, 4], expected, atol=1e-6)
    assert not np.allclose(tiles[0, 0], tiles[0, -1])  # different values decode differently


def test_two_dimensional_figures(tmp_path, test_set):
    model = _model("model.latent_dim=2", "classifier.enabled=true")
    size = _pixels(plots.PLOT_SIZE)
    scatter = plots.plot_scatter(model, test_set, tmp_path / "s.png")
    _assert_drawn(scatter, size, min_share=0.005)
    assert _coloured_pixels_in_axes(scatter) > 200  # 120 coloured points
    (regions,) = model.techniques["classifier"].figures(model, test_set, tmp_path)  # the head draws its regions
    assert regions.name == "decision_regions.png"
    _assert_drawn(regions, size, min_share=0.005)
    # The regions are pale (drawn at alpha 0.35) but fill the axes box.
    assert _coloured_pixels_in_axes(regions, min_saturation=20) > 0.8 * 0.8 * 0.68 * size[0] * size[1]
    grid = plots.plot_latent_grid(model, tmp_path / "l.png", -3, 3)
    _assert_drawn(grid, _pixels(plots.grid_figure_size(plots.GRID_STEPS_2D, plots.GRID_STEPS_2D)))
    with pytest.raises(ValueError, match="2-D"):
        plots.plot_scatter(_model(), test_set, tmp_path / "x.png")
    with pytest.raises(ValueError, match="2-D"):
        plots.plot_decision_regions(_model("classifier.enabled=true"), test_set, tmp_path / "x.png",
                                    lambda z: z, "regions")


def test_conditional_decoder_gets_a_label(tmp_path, test_set):
    model = _model("model.latent_dim=2", "conditional.enabled=true")
    assert plots.needs_label(model)
    codes = torch.zeros(2, 2)
    assert not np.allclose(plots.decode_images(model, codes, 1), plots.decode_images(model, codes, 7))
    with pytest.raises(ValueError, match="label"):
        plots.decode_images(model, codes)
    written = plots.make_figures(model, test_set, tmp_path)
    assert {p.name for p in written} >= {"scatter.png", "latent_grid.png", "unit_vectors.png"}
    assert "decision_regions.png" not in {p.name for p in written}  # no head, no regions


def test_interpolation_path_moves_the_shift_from_digit_to_digit():
    codes, digits = routing_figures.interpolation_codes([[k] for k in range(10)], 12, shift=1.5, steps=4)
    assert codes.shape == (9 * 4 + 1, 12)
    torch.testing.assert_close(codes.sum(1), torch.full((37,), 1.5))  # the 1.5 units are only moved, never lost
    assert codes[0, 0] == 1.5 and codes[-1, 9] == 1.5 and codes[4, 1] == 1.5
    assert codes[:, 10:].abs().sum() == 0  # unrouted coordinates stay at zero
    assert digits[0] == 0 and digits[-1] == 9


def test_plot_command_writes_every_figure(tmp_path, capsys, mnist_dir):
    model = _model("routing.enabled=true", "model.relu_latent=true")
    save_model(model, tmp_path / "run")
    assert main(["plot", str(tmp_path / "run"), "--images", "3", "4", "--coordinate", "2"]) == 0
    folder = tmp_path / "run" / "figures"
    names = {p.name for p in folder.iterdir()}
    assert names == {"reconstructions.png", "traversal_z2_img3.png", "traversal_grid_img3.png",
                     "traversal_grid_img4.png", "unit_vectors.png", "interpolation.gif", "style_transfer.png"}
    assert str(folder) in capsys.readouterr().out
    gif = Image.open(folder / "interpolation.gif")
    assert gif.n_frames == 9 * routing_figures.GIF_STEPS + 1
    assert gif.size == (28 * routing_figures.GIF_SCALE, 28 * routing_figures.GIF_SCALE)
    with pytest.raises(SystemExit, match="coordinate 99"):
        main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "elsewhere"), "--coordinate", "99"])
    assert not (tmp_path / "elsewhere").exists()  # options are checked before anything is written


def test_style_transfer_figure_shows_each_digit_in_each_rows_style(tmp_path, test_set):
    model = _model("routing.enabled=true", "model.relu_latent=true", "model.latent_dim=12", "routing.free=[10, 11]")
    path = routing_figures.plot_style_transfer(model, test_set, list(range(10)), tmp_path / "style_transfer.png")
    _assert_drawn(path, _pixels(plots.grid_figure_size(10, 11)))  # a row per digit: the image, then 0-9
