"""PNG figures: the loss curve and the truth / prediction / |error| panels."""
import numpy as np
from matplotlib import image

from hodphys.io.figures import plot_fields, plot_loss_curve


def test_loss_curve_with_stages_and_errors(tmp_path):
    path = plot_loss_curve(tmp_path / "loss.png", [1, 2, 3], [1.0, 0.1, 0.01], {"adam": 0, "lbfgs": 2},
                           errors=([2, 3], [0.5, 0.05]))
    assert image.imread(path).shape[2] == 4


def test_field_panels_have_three_rows_with_truth_and_one_without(tmp_path):
    grid_x, grid_y = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5))
    truth = np.stack([grid_x, grid_y])
    with_truth = image.imread(plot_fields(tmp_path / "a.png", grid_x, grid_y, truth + 0.1, truth, ["a", "b"]))
    alone = image.imread(plot_fields(tmp_path / "b.png", grid_x, grid_y, truth))
    assert with_truth.shape[0] > 2.5 * alone.shape[0]  # three rows of panels against one
