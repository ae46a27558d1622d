"""Atom registers and trap layouts (positions in µm).

A :class:`RegisterLayout` is the set of trap sites a hologram makes; a :class:`Register` is the
set of atoms a sequence drives, each with a string id and a 2D position. A register may be
defined as a subset of a layout's traps (``layout.define_register(...)``): that is what a
rearrangement targets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sequencer.errors import RegisterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Register", "RegisterLayout"]

_COORD_DECIMALS = 9  # positions are kept to 1e-9 µm so equality and hashes are stable


def _as_coords(coords: ArrayLike, what: str) -> NDArray[np.float64]:
    arr = np.array(coords, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise RegisterError(
            f"{what} must be a sequence of 2D points (shape (N, 2)); got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise RegisterError(f"{what} must hold at least one point; got none")
    if not np.all(np.isfinite(arr)):
        raise RegisterError(f"{what} must be finite; got {arr.tolist()}")
    return np.round(arr, _COORD_DECIMALS)


def _rotation(degrees: float) -> NDArray[np.float64]:
    theta = np.deg2rad(degrees)
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def _pairwise_distances(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    diff = coords[:, None, :] - coords[None, :, :]
    return np.asarray(np.sqrt(np.sum(diff * diff, axis=-1)))


def _min_distance(coords: NDArray[np.float64]) -> float:
    if len(coords) < 2:
        return float("inf")
    d = _pairwise_distances(coords)
    return float(np.min(d[np.triu_indices(len(coords), k=1)]))


class Register:
    """A set of atoms: string ids mapped to 2D positions in µm.

    Build one from coordinates or with a lattice constructor::

        reg = Register.square(3, spacing=5.0)          # 9 atoms, ids q0..q8
        reg = Register({"a": (0, 0), "b": (5, 0)})

    The order of the ids is the order of the atoms everywhere else in atomstack: bitstrings
    (first atom = leftmost bit), sampled per-atom arrays and simulator states.
    """

    __slots__ = ("_coords", "_ids", "_layout", "_trap_ids")

    def __init__(
        self,
        qubits: Mapping[str, ArrayLike],
        *,
        layout: RegisterLayout | None = None,
        trap_ids: Sequence[int] | None = None,
    ) -> None:
        """Create a register from ``{atom_id: (x_um, y_um)}``.

        ``layout`` and ``trap_ids`` record that the atoms sit in those traps of a layout; use
        :meth:`RegisterLayout.define_register` rather than passing them by hand.
        """
        if not qubits:
            raise RegisterError("a register needs at least one atom; got an empty mapping")
        ids = tuple(str(k) for k in qubits)
        if len(set(ids)) != len(ids):
            raise RegisterError(f"atom ids must be unique; got {list(ids)}")
        self._ids = ids
        positions = [np.asarray(qubits[k], dtype=np.float64) for k in qubits]
        self._coords = _as_coords(np.array(positions), "atom positions")
        self._coords.setflags(write=False)
        if (layout is None) != (trap_ids is None):
            raise RegisterError("layout and trap_ids must be given together")
        self._layout = layout
        self._trap_ids: tuple[int, ...] | None = None
        if layout is not None and trap_ids is not None:
            tids = tuple(int(t) for t in trap_ids)
            if len(tids) != len(ids):
                raise RegisterError(
                    f"trap_ids has {len(tids)} entries but the register has {len(ids)} atoms"
                )
            expected = layout.coords[list(tids)]
            if not np.allclose(expected, self._coords, atol=1e-6):
                raise RegisterError("atom positions do not match the layout's trap positions")
            self._trap_ids = tids

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def from_coordinates(
        cls,
        coords: ArrayLike,
        *,
        center: bool = True,
        prefix: str = "q",
        labels: Sequence[str] | None = None,
    ) -> Register:
        """Atoms at ``coords`` (µm), ids ``prefix0, prefix1, ...`` or the given ``labels``.

        With ``center`` the centre of mass is moved to the origin.
        """
        arr = _as_coords(coords, "coords")
        if center:
            arr = arr - arr.mean(axis=0)
        if labels is not None:
            if len(labels) != len(arr):
                raise RegisterError(f"{len(labels)} labels given for {len(arr)} atoms")
            ids = [str(lbl) for lbl in labels]
            if len(set(ids)) != len(ids):
                raise RegisterError(f"atom ids must be unique; got {ids}")
        else:
            ids = [f"{prefix}{i}" for i in range(len(arr))]
        return cls(dict(zip(ids, arr, strict=True)))

    @classmethod
    def rectangle(
        cls, rows: int, columns: int, spacing: float = 4.0, *, prefix: str = "q"
    ) -> Register:
        """A ``rows`` × ``columns`` rectangular array, ``spacing`` µm apart, centred.

        Atoms are numbered row by row (x varies fastest), as in Pulser.
        """
        _check_positive_int(rows, "rows")
        _check_positive_int(columns, "columns")
        _check_spacing(spacing)
        coords = [(x * spacing, y * spacing) for y in range(rows) for x in range(columns)]
        return cls.from_coordinates(coords, prefix=prefix)

    @classmethod
    def square(cls, side: int, spacing: float = 4.0, *, prefix: str = "q") -> Register:
        """A ``side`` × ``side`` square array, ``spacing`` µm apart, centred."""
        return cls.rectangle(side, side, spacing, prefix=prefix)

    @classmethod
    def triangular_lattice(
        cls, rows: int, atoms_per_row: int, spacing: float = 4.0, *, prefix: str = "q"
    ) -> Register:
        """A triangular lattice: ``rows`` rows of ``atoms_per_row``, odd rows shifted by half."""
        _check_positive_int(rows, "rows")
        _check_positive_int(atoms_per_row, "atoms_per_row")
        _check_spacing(spacing)
        dy = spacing * np.sqrt(3) / 2
        coords = [
            (x * spacing + (spacing / 2 if y % 2 else 0.0), y * dy)
            for y in range(rows)
            for x in range(atoms_per_row)
        ]
        return cls.from_coordinates(coords, prefix=prefix)

    @classmethod
    def hexagon(cls, layers: int, spacing: float = 4.0, *, prefix: str = "q") -> Register:
        """A hexagonal patch of a triangular lattice: a central atom and ``layers`` rings.

        Holds 1 + 3·layers·(layers+1) atoms, numbered from the centre outwards.
        """
        _check_positive_int(layers, "layers")
        _check_spacing(spacing)
        return cls.from_coordinates(_hexagon_coords(layers, spacing), prefix=prefix)

    @classmethod
    def line(cls, n_atoms: int, spacing: float = 4.0, *, prefix: str = "q") -> Register:
        """A 1D chain of ``n_atoms`` along x, ``spacing`` µm apart, centred."""
        return cls.rectangle(1, n_atoms, spacing, prefix=prefix)

    # -- accessors -----------------------------------------------------------------------
    @property
    def ids(self) -> tuple[str, ...]:
        """Atom ids, in register order."""
        return self._ids

    @property
    def coords(self) -> NDArray[np.float64]:
        """Positions, shape (N, 2), µm (read-only)."""
        return self._coords

    @property
    def qubits(self) -> dict[str, NDArray[np.float64]]:
        """``{atom_id: position (µm)}``."""
        return {k: self._coords[i].copy() for i, k in enumerate(self._ids)}

    @property
    def layout(self) -> RegisterLayout | None:
        """The layout the atoms were placed in, if the register was defined from one."""
        return self._layout

    @property
    def trap_ids(self) -> tuple[int, ...] | None:
        """Trap index of each atom in :attr:`layout`, in register order."""
        return self._trap_ids

    def index(self, atom_id: str) -> int:
        """Position of ``atom_id`` in register order."""
        try:
            return self._ids.index(atom_id)
        except ValueError:
            raise RegisterError(
                f"no atom {atom_id!r} in the register; atoms are {list(self._ids)}"
            ) from None

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __contains__(self, atom_id: object) -> bool:
        return atom_id in self._ids

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Register):
            return NotImplemented
        return (
            self._ids == other._ids
            and np.array_equal(self._coords, other._coords)
            and self._trap_ids == other._trap_ids
            and self._layout == other._layout
        )

    def __hash__(self) -> int:
        return hash((self._ids, self._coords.tobytes()))

    def __repr__(self) -> str:
        more = "..." if len(self) > 4 else ""
        return f"Register({len(self)} atoms, ids={list(self._ids[:4])}{more})"

    # -- geometry ------------------------------------------------------------------------
    def distances(self) -> NDArray[np.float64]:
        """Pairwise distance matrix, shape (N, N), µm."""
        return _pairwise_distances(self._coords)

    def min_distance(self) -> float:
        """Smallest distance between two atoms (µm); ``inf`` for a single atom."""
        return _min_distance(self._coords)

    def max_radial_distance(self) -> float:
        """Largest distance of an atom from the origin (µm)."""
        return float(np.max(np.linalg.norm(self._coords, axis=1)))

    def rotated(self, degrees: float) -> Register:
        """The register rotated by ``degrees`` counter-clockwise about the origin.

        A rotated register is no longer tied to its layout.
        """
        coords = self._coords @ _rotation(degrees).T
        return Register(dict(zip(self._ids, coords, strict=True)))

    def centered(self) -> Register:
        """The register translated so that its centre of mass is at the origin."""
        coords = self._coords - self._coords.mean(axis=0)
        return Register(dict(zip(self._ids, coords, strict=True)))

    def blockade_pairs(self, blockade_radius_um: float) -> list[tuple[str, str]]:
        """Pairs of atoms closer than ``blockade_radius_um``."""
        d = self.distances()
        i, j = np.nonzero(np.triu(d < blockade_radius_um, k=1))
        return [(self._ids[a], self._ids[b]) for a, b in zip(i, j, strict=True)]

    # -- drawing -------------------------------------------------------------------------
    def draw(
        self,
        *,
        blockade_radius: float | None = None,
        draw_half_radius: bool = True,
        with_labels: bool = True,
        ax: Axes | None = None,
    ) -> Figure:
        """Draw the atoms (µm); with ``blockade_radius`` (µm), link atoms within it.

        Each atom gets a shaded disc of radius R_b/2 when ``draw_half_radius``: two discs
        overlap exactly when the atoms blockade each other.
        """
        import matplotlib.pyplot as plt
        from matplotlib.patches import Circle

        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 5))
        else:
            fig = ax.figure  # type: ignore[assignment]
        xs, ys = self._coords[:, 0], self._coords[:, 1]
        if blockade_radius is not None:
            if blockade_radius <= 0:
                raise RegisterError(f"blockade_radius must be > 0 µm; got {blockade_radius}")
            for a, b in self.blockade_pairs(blockade_radius):
                pa, pb = self._coords[self.index(a)], self._coords[self.index(b)]
                ax.plot([pa[0], pb[0]], [pa[1], pb[1]], color="tab:red", lw=1, alpha=0.6)
            if draw_half_radius:
                for x, y in self._coords:
                    ax.add_patch(Circle((x, y), blockade_radius / 2, color="tab:blue", alpha=0.1))
        ax.scatter(xs, ys, s=40, color="tab:blue", zorder=3)
        if with_labels:
            for (x, y), name in zip(self._coords, self._ids, strict=True):
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_aspect("equal")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        title = f"{len(self)} atoms"
        if blockade_radius is not None:
            title += f", blockade radius {blockade_radius:.2f} µm"
        ax.set_title(title)
        ax.margins(0.15)
        return fig

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (positions in µm)."""
        out: dict[str, Any] = {
            "atoms": [
                {"id": k, "x": float(x), "y": float(y)}
                for k, (x, y) in zip(self._ids, self._coords, strict=True)
            ]
        }
        if self._layout is not None:
            out["layout"] = self._layout.to_dict()
            out["trap_ids"] = list(self._trap_ids or ())
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Register:
        """Inverse of :meth:`to_dict`."""
        try:
            atoms = data["atoms"]
            qubits = {str(a["id"]): (float(a["x"]), float(a["y"])) for a in atoms}
        except (KeyError, TypeError) as exc:
            raise RegisterError(f"not a register description: missing {exc}") from exc
        layout = RegisterLayout.from_dict(data["layout"]) if data.get("layout") else None
        trap_ids = data.get("trap_ids") if layout is not None else None
        return cls(qubits, layout=layout, trap_ids=trap_ids)

    def to_json(self) -> str:
        """Serialise with :meth:`to_dict`."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Register:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


class RegisterLayout:
    """The trap sites a hologram makes (positions in µm), indexed 0..M-1 in the given order."""

    __slots__ = ("_coords", "_name")

    def __init__(self, trap_coordinates: ArrayLike, *, name: str | None = None) -> None:
        """Create a layout from trap positions, shape (M, 2), µm."""
        coords = _as_coords(trap_coordinates, "trap_coordinates")
        dmin = _min_distance(coords)
        if dmin < 1e-6:
            raise RegisterError("two traps of the layout sit at the same position")
        coords.setflags(write=False)
        self._coords = coords
        self._name = name

    @classmethod
    def rectangle(cls, rows: int, columns: int, spacing: float = 5.0) -> RegisterLayout:
        """A ``rows`` × ``columns`` lattice of traps ``spacing`` µm apart, centred.

        Traps are numbered row by row (x varies fastest).
        """
        _check_positive_int(rows, "rows")
        _check_positive_int(columns, "columns")
        _check_spacing(spacing)
        c = np.array([(x, y) for y in range(rows) for x in range(columns)], float) * spacing
        return cls(c - c.mean(axis=0), name=f"rectangle {rows}x{columns} @ {spacing:g} µm")

    @classmethod
    def square(cls, side: int, spacing: float = 5.0) -> RegisterLayout:
        """A ``side`` × ``side`` square lattice of traps, centred."""
        layout = cls.rectangle(side, side, spacing)
        layout._name = f"square {side}x{side} @ {spacing:g} µm"
        return layout

    @classmethod
    def triangular(cls, n_traps: int, spacing: float = 5.0) -> RegisterLayout:
        """``n_traps`` traps on a triangular lattice, filled ring by ring from the centre."""
        _check_positive_int(n_traps, "n_traps")
        _check_spacing(spacing)
        layers = 0
        while 1 + 3 * layers * (layers + 1) < n_traps:
            layers += 1
        coords = _hexagon_coords(layers, spacing)[:n_traps]
        return cls(coords, name=f"triangular {n_traps} @ {spacing:g} µm")

    @property
    def coords(self) -> NDArray[np.float64]:
        """Trap positions, shape (M, 2), µm (read-only)."""
        return self._coords

    @property
    def name(self) -> str | None:
        """A human-readable name, if one was given."""
        return self._name

    @property
    def n_traps(self) -> int:
        """Number of traps."""
        return len(self._coords)

    def __len__(self) -> int:
        return len(self._coords)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegisterLayout):
            return NotImplemented
        return np.array_equal(self._coords, other._coords)

    def __hash__(self) -> int:
        return hash(self._coords.tobytes())

    def __repr__(self) -> str:
        return f"RegisterLayout({self.n_traps} traps{', ' + self._name if self._name else ''})"

    @property
    def slug(self) -> str:
        """A short stable fingerprint of the trap positions (hologram cache key)."""
        return hashlib.sha256(self._coords.tobytes()).hexdigest()[:16]

    def min_distance(self) -> float:
        """Smallest distance between two traps (µm)."""
        return _min_distance(self._coords)

    def define_register(self, *trap_ids: int, atom_ids: Sequence[str] | None = None) -> Register:
        """The register of atoms sitting in ``trap_ids`` (ids ``q0..`` or ``atom_ids``)."""
        if not trap_ids:
            raise RegisterError("define_register needs at least one trap id")
        tids = [int(t) for t in trap_ids]
        bad = [t for t in tids if not 0 <= t < self.n_traps]
        if bad:
            raise RegisterError(f"trap ids {bad} out of range 0..{self.n_traps - 1}")
        if len(set(tids)) != len(tids):
            raise RegisterError(f"trap ids must be unique; got {tids}")
        if atom_ids is not None and len(atom_ids) != len(tids):
            raise RegisterError(f"{len(atom_ids)} atom ids given for {len(tids)} traps")
        if atom_ids is None:
            names = [f"q{i}" for i in range(len(tids))]
        else:
            names = [str(a) for a in atom_ids]
        qubits = dict(zip(names, self._coords[tids], strict=True))
        return Register(qubits, layout=self, trap_ids=tids)

    def nearest_traps(self, positions: ArrayLike) -> NDArray[np.int64]:
        """Index of the nearest trap for each position (shape (K, 2), µm)."""
        pts = np.atleast_2d(np.asarray(positions, dtype=float))
        d = np.linalg.norm(pts[:, None, :] - self._coords[None, :, :], axis=-1)
        return np.asarray(np.argmin(d, axis=1), dtype=np.int64)

    def draw(self, *, ax: Axes | None = None, occupied: Iterable[int] | None = None) -> Figure:
        """Draw the traps (µm), filling those listed in ``occupied``."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 5))
        else:
            fig = ax.figure  # type: ignore[assignment]
        ax.scatter(
            self._coords[:, 0], self._coords[:, 1], s=40, facecolors="none", edgecolors="grey"
        )
        if occupied is not None:
            occ = np.fromiter(occupied, dtype=int)
            ax.scatter(self._coords[occ, 0], self._coords[occ, 1], s=40, color="tab:blue")
        ax.set_aspect("equal")
        ax.set_xlabel("x (µm)")
        ax.set_ylabel("y (µm)")
        ax.set_title(self._name or f"{self.n_traps} traps")
        return fig

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (positions in µm)."""
        out: dict[str, Any] = {"coordinates": self._coords.tolist()}
        if self._name:
            out["name"] = self._name
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisterLayout:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(data["coordinates"], name=data.get("name"))
        except KeyError as exc:
            raise RegisterError(f"not a layout description: missing {exc}") from exc


def _hexagon_coords(layers: int, spacing: float) -> NDArray[np.float64]:
    """Centre, then each hexagonal ring of a triangular lattice, counter-clockwise."""
    points = [(0.0, 0.0)]
    directions = [_rotation(60 * k) @ np.array([1.0, 0.0]) for k in range(6)]
    for ring in range(1, layers + 1):
        corner = ring * directions[4]  # start at the lower-right corner
        for side in range(6):
            step = directions[side]
            for k in range(ring):
                p = corner + k * step
                points.append((p[0], p[1]))
            corner = corner + ring * step
    return np.array(points) * spacing


def _check_positive_int(value: int, name: str) -> None:
    if not isinstance(value, int | np.integer) or value < 1:
        raise RegisterError(f"{name} must be a positive integer; got {value!r}")


def _check_spacing(spacing: float) -> None:
    if not np.isfinite(spacing) or spacing <= 0:
        raise RegisterError(f"spacing must be a positive number of µm; got {spacing!r}")
