"""PNG figures: the loss curve and the truth / prediction / |error| panels.

Each figure is read back and checked for what a person would see: the curves in their colours,
panels that change with the data (a blank or data-blind image fails)."""
import numpy as np
from matplotlib import colormaps, image

from hodphys.io.figures import plot_fields, plot_loss_curve

LOSS_BLUE, ERROR_RED = (0.122, 0.467, 0.706), (0.839, 0.153, 0.157)   # tab:blue, tab:red


def pixels_near(picture: np.ndarray, colour, tolerance=0.03) -> int:
    """How many pixels have this RGB colour (±tolerance per channel)."""
    return int((np.abs(picture[..., :3] - np.asarray(colour)) < tolerance).all(-1).sum())


def inked(picture: np.ndarray) -> float:
    """The fraction of pixels that are not white."""
    return float((picture[..., :3] < 0.95).any(-1).mean())


def test_loss_curve_with_stages_and_errors(tmp_path):
    path = plot_loss_curve(tmp_path / "loss.png", [1, 2, 3], [1.0, 0.1, 0.01], {"adam": 0, "lbfgs": 2},
                           errors=([2, 3], [0.5, 0.05]))
    picture = image.imread(path)
    assert picture.shape[2] == 4 and inked(picture) > 0.02
    assert pixels_near(picture, LOSS_BLUE) > 50 and pixels_near(picture, ERROR_RED) > 20


def test_loss_curve_follows_the_losses(tmp_path):
    steps = list(range(1, 21))
    falling = image.imread(plot_loss_curve(tmp_path / "a.png", steps, [10.0 ** -(s / 5) for s in steps]))
    rising = image.imread(plot_loss_curve(tmp_path / "b.png", steps, [10.0 ** (s / 5) for s in steps]))
    assert pixels_near(falling, ERROR_RED) == 0
    line_rows = lambda picture: np.nonzero((np.abs(picture[..., :3] - LOSS_BLUE) < 0.03).all(-1))
    (rows_a, cols_a), (rows_b, cols_b) = line_rows(falling), line_rows(rising)
    # image rows grow downwards: the falling curve's leftmost ink is high, the rising one's low
    assert rows_a[cols_a.argmin()] < rows_a[cols_a.argmax()] and rows_b[cols_b.argmin()] > rows_b[cols_b.argmax()]


def test_field_panels_have_three_rows_with_truth_and_one_without(tmp_path):
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5))
    truth = np.stack([grid_x, grid_y])
    with_truth = image.imread(plot_fields(tmp_path / "a.png", grid_x, grid_y, truth + 0.1, truth, ["a", "b"]))
    alone = image.imread(plot_fields(tmp_path / "b.png", grid_x, grid_y, truth))
    assert with_truth.shape[0] > 2.5 * alone.shape[0]  # three rows of panels against one


def test_field_panels_show_the_values(tmp_path):
    """The panels are coloured by the field (viridis from its minimum to its maximum) and change
    where the prediction changes."""
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 9), np.linspace(0, 1, 9))
    truth = np.stack([grid_x])
    bumped = truth + 0.3 * np.exp(-30 * ((grid_x - 0.5) ** 2 + (grid_y - 0.5) ** 2))
    exact = image.imread(plot_fields(tmp_path / "exact.png", grid_x, grid_y, truth, truth))
    wrong = image.imread(plot_fields(tmp_path / "wrong.png", grid_x, grid_y, bumped, truth))
    viridis = colormaps["viridis"]
    assert pixels_near(exact, viridis(0.0)[:3]) > 20 and pixels_near(exact, viridis(1.0)[:3]) > 20
    assert exact.shape == wrong.shape and np.abs(exact - wrong).max() > 0.2
