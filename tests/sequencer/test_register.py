import json

import numpy as np
import pytest

from sequencer import Register, RegisterError, RegisterLayout


def test_square_is_centred_and_row_major():
    reg = Register.square(3, spacing=5.0)
    assert reg.ids == tuple(f"q{i}" for i in range(9))
    assert np.allclose(reg.coords.mean(axis=0), 0.0)
    # x varies fastest, as in Pulser
    assert np.allclose(reg.coords[1] - reg.coords[0], [5.0, 0.0])
    assert np.allclose(reg.coords[3] - reg.coords[0], [0.0, 5.0])
    assert reg.min_distance() == pytest.approx(5.0)


def test_rectangle_and_line_shapes():
    assert len(Register.rectangle(2, 4, 6.0)) == 8
    line = Register.line(5, 5.5)
    assert np.allclose(line.coords[:, 1], 0.0)
    assert line.coords[-1, 0] - line.coords[0, 0] == pytest.approx(22.0)


def test_triangular_lattice_nearest_neighbours_equal_spacing():
    reg = Register.triangular_lattice(3, 4, spacing=5.0)
    d = reg.distances()
    assert d[0, 4] == pytest.approx(5.0)  # row 1 is shifted by half a spacing
    assert reg.min_distance() == pytest.approx(5.0)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_hexagon_counts_and_spacing(layers):
    reg = Register.hexagon(layers, spacing=4.0)
    assert len(reg) == 1 + 3 * layers * (layers + 1)
    assert reg.min_distance() == pytest.approx(4.0)
    assert np.allclose(reg.coords[0], 0.0)


def test_rotation_preserves_distances_and_centring_moves_com():
    reg = Register.from_coordinates([(0, 0), (10, 0), (10, 7)], center=False)
    rot = reg.rotated(37.0)
    assert np.allclose(rot.distances(), reg.distances())
    assert not np.allclose(rot.coords, reg.coords)
    assert np.allclose(reg.centered().coords.mean(axis=0), 0.0)


def test_invalid_registers_are_refused_with_the_value():
    with pytest.raises(RegisterError, match="unique"):
        Register.from_coordinates([(0, 0), (1, 1)], labels=["a", "a"])
    with pytest.raises(RegisterError, match="spacing"):
        Register.square(2, spacing=-1.0)
    with pytest.raises(RegisterError, match=r"shape \(N, 2\)"):
        Register.from_coordinates([(0, 0, 0)])
    with pytest.raises(RegisterError, match="no atom 'zz'"):
        Register.square(2).index("zz")


def test_layout_defines_registers_of_traps():
    layout = RegisterLayout.square(4, spacing=5.0)
    reg = layout.define_register(0, 5, 10, atom_ids=["a", "b", "c"])
    assert reg.trap_ids == (0, 5, 10)
    assert reg.layout == layout
    assert np.allclose(reg.coords, layout.coords[[0, 5, 10]])
    assert list(layout.nearest_traps(reg.coords)) == [0, 5, 10]
    with pytest.raises(RegisterError, match="out of range"):
        layout.define_register(16)


def test_triangular_layout_has_requested_trap_count():
    layout = RegisterLayout.triangular(50, spacing=5.0)
    assert layout.n_traps == 50
    assert layout.min_distance() == pytest.approx(5.0)


def test_json_round_trip_is_identity_with_layout():
    layout = RegisterLayout.rectangle(3, 5, spacing=4.0)
    reg = layout.define_register(1, 2, 7)
    back = Register.from_json(json.dumps(json.loads(reg.to_json())))
    assert back == reg
    assert back.trap_ids == reg.trap_ids


def test_draw_returns_figure_with_blockade_links():
    reg = Register.square(2, spacing=5.0)
    fig = reg.draw(blockade_radius=6.0)
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # four nearest-neighbour links, no diagonals (7.07 µm)
    assert reg.blockade_pairs(6.0) == [("q0", "q1"), ("q0", "q2"), ("q1", "q3"), ("q2", "q3")]
