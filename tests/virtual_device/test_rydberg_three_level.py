"""The three-level g–h–r simulation (``basis="all"``): physics, limits, Pulser agreement.

Qutrit basis index: base-3 digits, first atom most significant, 0 = g, 1 = r, 2 = h.
"""

import itertools

import numpy as np
import pytest
from rydberg_refs import pulser_drives
from scipy.linalg import expm

from sequencer.register import Register
from sequencer.sampled import ChannelSamples, SampledSequence, TargetSlot
from virtual_device.errors import SimulationError
from virtual_device.rydberg import NoiseModel, simulate
from virtual_device.rydberg.integrator import Evolver
from virtual_device.rydberg.three_level import QutritSpace, ThreeLevelResult

C6 = 865723.02
TWO_PI = 2 * np.pi


def qutrit_to_binary(n):
    """Indices of the qutrit states without h, and the matching two-level (g/r) indices."""
    q, b = [], []
    for digits in itertools.product((0, 1), repeat=n):
        q.append(int("".join(map(str, digits)), 3))
        b.append(int("".join(map(str, digits)), 2))
    return np.array(q), np.array(b)


def qutrit_gh_to_binary(n):
    """Indices of the qutrit states without r (g = 0, h = 2) and the two-level (1 = h) ones."""
    q, b = [], []
    for bits in itertools.product((0, 1), repeat=n):
        q.append(int("".join("2" if x else "0" for x in bits), 3))
        b.append(int("".join(map(str, bits)), 2))
    return np.array(q), np.array(b)


def ramp(a, b, t):
    return np.linspace(a, b, t)


def random_drives(n, t, rng, scale=1.0):
    amp = scale * np.abs(rng.normal(3.0, 1.0, size=(n, 1))) * np.sin(np.linspace(0, np.pi, t))
    det = scale * (rng.normal(0, 2, size=(n, 1)) + np.outer(rng.normal(0, 2, n), ramp(-1, 1, t)))
    phase = np.outer(rng.uniform(-np.pi, np.pi, n), np.ones(t))
    phase[:, t // 2 :] += 0.7  # a phase jump
    return amp, det, phase


COORDS3 = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.5]])


# -- (1) restricted cases equal the two-level simulator ----------------------------------------
def test_rydberg_only_equals_two_level_ground_rydberg():
    rng = np.random.default_rng(3)
    amp, det, phase = random_drives(3, 400, rng)
    kw = dict(register=COORDS3, interaction_coeff=C6, tolerance=1e-10, record_every_ns=100)
    two = simulate(amplitude=amp, detuning=det, phase=phase, **kw)
    three = simulate(
        amplitude=amp, detuning=det, phase=phase, basis="all", measure="ground-rydberg", **kw
    )
    assert isinstance(three, ThreeLevelResult)
    assert three.rydberg_occupations[-1].max() > 0.1  # something happened
    np.testing.assert_allclose(three.probabilities, two.probabilities, atol=1e-9)
    np.testing.assert_allclose(three.occupations, two.occupations, atol=1e-9)
    np.testing.assert_allclose(three.rydberg_occupations, two.occupations, atol=1e-9)
    assert np.abs(three.hyperfine_occupations).max() == 0.0
    q, b = qutrit_to_binary(3)
    assert three.qutrit_state is not None and two.final_state is not None
    np.testing.assert_allclose(three.qutrit_state[q], two.final_state[b], atol=1e-8)


def test_raman_only_equals_two_level_digital():
    rng = np.random.default_rng(4)
    amp, det, phase = random_drives(2, 300, rng, scale=3.0)
    coords = COORDS3[:2]
    two = simulate(
        amplitude=amp, detuning=det, phase=phase, register=coords, basis="digital",
        tolerance=1e-10, record_every_ns=50,
    )  # fmt: skip
    three = simulate(
        raman_amplitude=amp, raman_detuning=det, raman_phase=phase, register=coords,
        interaction_coeff=C6, basis="all", measure="digital", tolerance=1e-10,
        record_every_ns=50,
    )  # fmt: skip
    assert three.hyperfine_occupations.max() > 0.2
    np.testing.assert_allclose(three.probabilities, two.probabilities, atol=1e-9)
    np.testing.assert_allclose(three.hyperfine_occupations, two.occupations, atol=1e-9)
    np.testing.assert_allclose(three.occupations, two.occupations, atol=1e-9)
    # The two-level digital basis has Pulser's Raman term too, Ω/2 (e^{-iφ}|h⟩⟨g| + h.c.)
    # − Δ|g⟩⟨g| (the ground-rydberg form with φ → −φ, Δ → −Δ, up to a global phase): the
    # same amplitudes up to a global phase.
    q, b = qutrit_gh_to_binary(2)
    assert three.qutrit_state is not None and two.final_state is not None
    psi3 = three.qutrit_state[q]
    overlap = np.vdot(psi3, two.final_state[b])
    assert abs(abs(overlap) - 1) < 1e-8


# -- (2) single-atom analytics and a dense reference --------------------------------------------
def test_raman_pi_pulse_then_rydberg_drive_does_nothing():
    om = TWO_PI  # rad/µs: π pulse in 500 ns
    t = 500
    raman = np.concatenate([np.full(t, om), np.zeros(t)])
    ryd = np.concatenate([np.zeros(t), np.full(t, om)])
    res = simulate(
        amplitude=ryd, raman_amplitude=raman, register=[[0.0, 0.0]], interaction_coeff=C6,
        basis="all", measure="digital", tolerance=1e-10, record_every_ns=t,
    )  # fmt: skip
    assert res.times_ns.tolist() == [0, 500, 1000]
    np.testing.assert_allclose(res.hyperfine_occupations[:, 0], [0, 1, 1], atol=1e-9)
    np.testing.assert_allclose(res.rydberg_occupations[:, 0], [0, 0, 0], atol=1e-9)
    assert res.bitstring_probabilities()["1"] == pytest.approx(1.0, abs=1e-9)
    # without the Raman π pulse the same Rydberg drive is a full π pulse g → r
    res2 = simulate(
        amplitude=ryd, register=[[0.0, 0.0]], interaction_coeff=C6, basis="all",
        measure="ground-rydberg", tolerance=1e-10, record_every_ns=0,
    )  # fmt: skip
    assert res2.rydberg_occupations[-1, 0] == pytest.approx(1.0, abs=1e-9)


def test_simultaneous_resonant_drives_rabi_to_the_bright_state():
    # H = Ω_R/2 (|g⟩⟨r| + h.c.) + Ω_D/2 (|h⟩⟨g| + h.c.): g couples to the bright state
    # (Ω_R|r⟩ + Ω_D|h⟩)/Ω_eff at Ω_eff = √(Ω_R² + Ω_D²).
    om_r, om_d, t = 3.0, 4.0, 900
    res = simulate(
        amplitude=np.full(t, om_r), raman_amplitude=np.full(t, om_d), register=[[0.0, 0.0]],
        interaction_coeff=C6, basis="all", tolerance=1e-10, record_every_ns=30,
    )  # fmt: skip
    om = np.hypot(om_r, om_d)
    s2 = np.sin(om * res.times_ns * 1e-3 / 2) ** 2
    np.testing.assert_allclose(res.rydberg_occupations[:, 0], om_r**2 / om**2 * s2, atol=1e-9)
    np.testing.assert_allclose(res.hyperfine_occupations[:, 0], om_d**2 / om**2 * s2, atol=1e-9)


def _single_ops_rgh():
    """Single-atom operators in Pulser's level order (r, g, h)."""
    e = np.eye(3)
    ket = {"r": e[:, [0]], "g": e[:, [1]], "h": e[:, [2]]}
    return {a + b: ket[a] @ ket[b].T for a in "rgh" for b in "rgh"}


def dense_staircase(ryd, ram, coords, c6):
    """Per-ns expm of Pulser's H, written from its definition in the (r, g, h) order."""
    (ar, dr, pr), (ad, dd, pd) = ryd, ram
    n, t = ar.shape
    ops = _single_ops_rgh()

    def on(op, i):
        mats = [np.eye(3)] * n
        mats[i] = op
        out = mats[0]
        for m in mats[1:]:
            out = np.kron(out, m)
        return out

    h_int = np.zeros((3**n, 3**n))
    for i, j in itertools.combinations(range(n), 2):
        r = np.linalg.norm(coords[i] - coords[j])
        h_int += c6 / r**6 * on(ops["rr"], i) @ on(ops["rr"], j)
    psi = np.zeros(3**n, dtype=complex)
    psi[int("1" * n, 3)] = 1.0  # all g (g = digit 1 in Pulser's order)
    for k in range(t):
        h = h_int.astype(complex)
        for i in range(n):
            x = 0.5 * ar[i, k] * np.exp(-1j * pr[i, k]) * on(ops["gr"], i)
            y = 0.5 * ad[i, k] * np.exp(-1j * pd[i, k]) * on(ops["hg"], i)
            h += x + x.conj().T + y + y.conj().T
            h -= dr[i, k] * on(ops["rr"], i) + dd[i, k] * on(ops["gg"], i)
        psi = expm(-1j * h * 1e-3) @ psi
    return psi


def pulser_order_to_ours(n):
    """perm[ours] = Pulser's index of the same state (ours 0 = g, 1 = r, 2 = h; Pulser r, g, h)."""
    to_pulser = {0: 1, 1: 0, 2: 2}
    perm = []
    for digits in itertools.product(range(3), repeat=n):
        perm.append(int("".join(str(to_pulser[d]) for d in digits), 3))
    return np.array(perm)


def test_two_atoms_both_drives_equal_a_dense_expm_staircase():
    rng = np.random.default_rng(11)
    t = 240
    coords = np.array([[0.0, 0.0], [7.0, 0.0]])
    ryd = random_drives(2, t, rng, scale=2.0)
    ram = random_drives(2, t, rng, scale=1.5)
    ram[0][1, : t // 3] = 0.0  # atom 1's Raman beam switches on later (a kink)
    res = simulate(
        amplitude=ryd[0], detuning=ryd[1], phase=ryd[2], raman_amplitude=ram[0],
        raman_detuning=ram[1], raman_phase=ram[2], register=coords, interaction_coeff=C6,
        basis="all", tolerance=1e-10, record_every_ns=0,
    )  # fmt: skip
    ref = dense_staircase(ryd, ram, coords, C6)[pulser_order_to_ours(2)]
    assert res.qutrit_state is not None
    pops = np.abs(res.qutrit_state) ** 2
    assert pops[[1, 3, 4]].sum() > 0.05 and pops[[2, 6, 8]].sum() > 0.05  # r and h populated
    assert np.abs(res.qutrit_state - ref).max() <= 1e-8
    assert res.error_estimate < 1e-9


def test_compiled_product_equals_numpy_reference_and_a_dense_matrix():
    rng = np.random.default_rng(5)
    n = 3
    v = np.triu(rng.uniform(0, 5, (n, n)), 1)
    space = QutritSpace(v + v.T)
    c = rng.normal(size=2 * n) + 1j * rng.normal(size=2 * n)
    d = rng.normal(size=2 * n)
    u = rng.normal(size=space.dim) + 1j * rng.normal(size=space.dim)
    prev = rng.normal(size=space.dim) + 1j * rng.normal(size=space.dim)
    diag = space.diagonal(0.8, d, np.empty(space.dim))
    out = np.empty(space.dim, dtype=complex)
    dot = space.hpsi(u, 1.7, prev, -0.3, diag, c, out)
    ref = diag * u
    space.apply_drive(u, c, ref)
    ref = 1.7 * ref - 0.3 * prev
    np.testing.assert_allclose(out, ref, atol=1e-12)
    assert dot == pytest.approx(np.vdot(u, ref), abs=1e-10)
    # dense H from Pulser's definition (coefficient c = Ω e^{iφ}/2, detunings d, v_scale 0.8)
    ops = _single_ops_rgh()
    perm = pulser_order_to_ours(n)

    def on(op, i):
        out_ = np.eye(1)
        for j in range(n):
            out_ = np.kron(out_, op if j == i else np.eye(3))
        return out_

    h = np.zeros((space.dim, space.dim), dtype=complex)
    for i in range(n):
        x = np.conj(c[i]) * on(ops["gr"], i)
        y = np.conj(c[n + i]) * on(ops["hg"], i)
        h += x + x.conj().T + y + y.conj().T - d[i] * on(ops["rr"], i) - d[n + i] * on(ops["gg"], i)
        for j in range(i + 1, n):
            h += 0.8 * v[i, j] * on(ops["rr"], i) @ on(ops["rr"], j)
    h_ours = h[np.ix_(perm, perm)]  # rows/columns in our index order
    np.testing.assert_allclose(1.7 * (h_ours @ u) - 0.3 * prev, out, atol=1e-11)


# -- (4) norm conservation ----------------------------------------------------------------------
def test_norm_is_conserved_and_populations_sum_to_one():
    rng = np.random.default_rng(8)
    n, t = 4, 300
    coords = np.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0], [5.0, 5.0]])
    ryd = random_drives(n, t, rng, scale=3.0)
    ram = random_drives(n, t, rng, scale=3.0)
    space = QutritSpace(np.asarray(np.where(np.eye(n) > 0, 0, 1), float) * 20.0)
    coeff = 0.5 * np.concatenate([ryd[0], ram[0]]) * np.exp(1j * np.concatenate([ryd[2], ram[2]]))
    delta = np.concatenate([ryd[1], ram[1]])
    psi = Evolver(space, coeff, delta, tolerance=1e-8).advance(space.ground_state(), 0, t)  # type: ignore[arg-type]
    assert abs(np.linalg.norm(psi) - 1) < 1e-10
    res = simulate(
        amplitude=ryd[0], detuning=ryd[1], phase=ryd[2], raman_amplitude=ram[0],
        raman_detuning=ram[1], raman_phase=ram[2], register=coords, interaction_coeff=C6,
        basis="all", measure="ground-rydberg", tolerance=1e-8,
    )  # fmt: skip
    assert res.qutrit_state is not None
    assert abs(np.linalg.norm(res.qutrit_state) - 1) < 1e-12
    assert res.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    g = 1 - res.rydberg_occupations - res.hyperfine_occupations
    assert np.all(g > -1e-12) and np.all(g < 1 + 1e-12)


# -- sampled sequences, measurement, noise -----------------------------------------------------
def _sampled(t=400):
    reg = Register({"a": (0.0, 0.0), "b": (8.0, 0.0)})
    everyone = frozenset({"a", "b"})
    ryd = ChannelSamples(
        name="ryd", basis="ground-rydberg", addressing="Global",
        amplitude=np.full(t, 4.0), detuning=ramp(-2, 2, t), phase=np.full(t, 0.3),
        slots=(TargetSlot(0, t, everyone),),
    )  # fmt: skip
    ram_amp = np.zeros(t)
    ram_amp[: t // 2] = 5.0
    ram = ChannelSamples(
        name="ram", basis="digital", addressing="Local",
        amplitude=ram_amp, detuning=np.full(t, 1.0), phase=np.full(t, -0.5),
        slots=(TargetSlot(0, t // 2, frozenset({"b"})),),
    )  # fmt: skip
    return SampledSequence(
        register=reg, channels={"ryd": ryd, "ram": ram}, measurement_basis="ground-rydberg"
    )


def test_sampled_sequence_equals_the_arrays_and_uses_its_measurement_basis():
    seq = _sampled()
    res = simulate(seq, basis="all", interaction_coeff=C6, tolerance=1e-10, record_every_ns=0)
    assert res.measurement_basis == "ground-rydberg"  # type: ignore[attr-defined]
    t = seq.duration_ns
    ram_amp = np.zeros((2, t))
    ram_amp[1, : t // 2] = 5.0
    ram_det = np.zeros((2, t))
    ram_det[1, : t // 2] = 1.0
    arr = simulate(
        amplitude=np.full(t, 4.0), detuning=ramp(-2, 2, t), phase=np.full(t, 0.3),
        raman_amplitude=ram_amp, raman_detuning=ram_det, raman_phase=np.full(t, -0.5),
        register=seq.register, interaction_coeff=C6, basis="all", measure="ground-rydberg",
        tolerance=1e-10, record_every_ns=0,
    )  # fmt: skip
    assert isinstance(res, ThreeLevelResult) and isinstance(arr, ThreeLevelResult)
    assert res.qutrit_state is not None and arr.qutrit_state is not None
    np.testing.assert_allclose(res.qutrit_state, arr.qutrit_state, atol=1e-12)
    # measured basis: ground-rydberg reads r as 1; digital reads h as 1, from the same state
    dig = simulate(seq, basis="all", measure="digital", interaction_coeff=C6, tolerance=1e-10)
    p3 = np.abs(res.qutrit_state) ** 2
    digits = np.array(list(itertools.product(range(3), repeat=2)))
    for meas, one, r in (("ground-rydberg", 1, res), ("digital", 2, dig)):
        bits = (digits == one).astype(int) @ np.array([2, 1])
        np.testing.assert_allclose(r.probabilities, np.bincount(bits, p3, minlength=4), atol=1e-9)
        assert r.to_dict()["measurement_basis"] == meas
    np.testing.assert_allclose(dig.occupations[-1], dig.hyperfine_occupations[-1])
    np.testing.assert_allclose(res.occupations[-1], res.rydberg_occupations[-1])
    assert res.hyperfine_occupations[-1, 1] > 0.01 and res.hyperfine_occupations[-1, 0] == 0


def test_spam_and_state_prep_match_the_two_level_simulator():
    rng = np.random.default_rng(2)
    amp, det, phase = random_drives(3, 200, rng)
    noise = NoiseModel(state_prep_error=0.3, p_false_pos=0.05, p_false_neg=0.1, runs=12)
    kw = dict(register=COORDS3, interaction_coeff=C6, noise=noise, seed=9, tolerance=1e-9)
    two = simulate(amplitude=amp, detuning=det, phase=phase, **kw)
    three = simulate(
        amplitude=amp, detuning=det, phase=phase, basis="all", measure="ground-rydberg", **kw
    )
    assert three.runs == 12 and three.qutrit_state is None  # type: ignore[attr-defined]
    p2 = two.bitstring_probabilities()
    p3 = three.bitstring_probabilities()
    assert p2.keys() == p3.keys()
    for k in p2:
        assert p3[k] == pytest.approx(p2[k], abs=1e-8)
    assert three.sample_shots(500, rng=4) == two.sample_shots(500, rng=4)
    # a single atom left in g reads 1 with probability ε
    res = simulate(
        raman_amplitude=np.zeros(10), register=[[0.0, 0.0]], interaction_coeff=C6,
        basis="all", noise=NoiseModel(p_false_pos=0.25),
    )  # fmt: skip
    assert res.bitstring_probabilities()["1"] == pytest.approx(0.25)


# -- (5) bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(basis="all", measure="XY"), "measure must be"),
        (dict(basis="all", subspace_cutoff=10.0), "subspace_cutoff"),
        (dict(basis="all", method="lindblad", subspace_cutoff=10.0), "subspace_cutoff"),
        (dict(basis="all", raman_amplitude=np.ones((3, 5))), "raman_amplitude must have shape"),
        (dict(basis="ground-rydberg", raman_amplitude=np.ones(10)), "basis='all'"),
        (dict(basis="digital", measure="ground-rydberg"), "basis='all'"),
    ],
)
def test_bad_input_is_a_simulation_error(kwargs, match):
    with pytest.raises(SimulationError, match=match):
        simulate(
            amplitude=np.ones(10), register=[[0.0, 0.0], [6.0, 0.0]], interaction_coeff=C6,
            **kwargs,
        )  # fmt: skip


def test_more_bad_input():
    with pytest.raises(SimulationError, match="nothing to simulate"):
        simulate(register=[[0.0, 0.0]], interaction_coeff=C6, basis="all")
    with pytest.raises(SimulationError, match="not both"):
        simulate(_sampled(), amplitude=np.ones(4), basis="all")
    with pytest.raises(SimulationError, match="at most 14 atoms"):
        QutritSpace(np.zeros((15, 15)))
    with pytest.raises(SimulationError, match="expected 2N = 4"):
        QutritSpace(np.zeros((2, 2))).diagonal(1.0, np.zeros(2), np.empty(9))
    with pytest.raises(SimulationError, match="must be ≥ 0"):
        simulate(
            amplitude=np.ones(5), raman_amplitude=-np.ones(5), register=[[0.0, 0.0]],
            interaction_coeff=C6, basis="all",
        )  # fmt: skip
    xy = ChannelSamples(
        name="mw", basis="XY", addressing="Global", amplitude=np.ones(5),
        detuning=np.zeros(5), phase=np.zeros(5),
        slots=(TargetSlot(0, 5, frozenset({"a"})),),
    )  # fmt: skip
    seq = SampledSequence(register=Register({"a": (0.0, 0.0)}), channels={"mw": xy})
    with pytest.raises(SimulationError, match="XY"):
        simulate(seq, basis="all", interaction_coeff=C6)


# -- (3) agreement with pulser-simulation -------------------------------------------------------
@pytest.mark.pulser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("device_name", ["MockDevice", "DigitalAnalogDevice"])
def test_rydberg_and_raman_channels_agree_with_pulser(device_name):
    pulser = pytest.importorskip("pulser")
    pytest.importorskip("pulser_simulation")
    from pulser import Pulse, Sequence, devices
    from pulser.waveforms import BlackmanWaveform, ConstantWaveform, RampWaveform
    from pulser_simulation import QutipEmulator

    device = getattr(devices, device_name)
    coords = np.array([[0.0, 0.0], [6.5, 0.0], [3.0, 5.0]])
    reg = pulser.Register.from_coordinates(coords, prefix="q")
    seq = Sequence(reg, device)
    seq.declare_channel("ryd", "rydberg_global")
    if device_name == "MockDevice":
        seq.declare_channel("ram", "raman_global")
    else:
        seq.declare_channel("ram", "raman_local", initial_target="q1")
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(400, np.pi / 2), 0.0, 0.4), "ram")
    if device_name != "MockDevice":
        seq.target("q0", "ram")
        seq.add(Pulse.ConstantDetuning(BlackmanWaveform(300, np.pi), 0.5, -0.3), "ram")
    seq.add(Pulse(ConstantWaveform(500, 6.0), RampWaveform(500, -4.0, 6.0), 0.0), "ryd")
    seq.add(Pulse(ConstantWaveform(300, 3.0), ConstantWaveform(300, 1.5), -1.1), "ram",
            protocol="no-delay")  # fmt: skip
    seq.add(Pulse.ConstantDetuning(BlackmanWaveform(600, np.pi), -2.0, 0.9), "ryd",
            protocol="no-delay")  # fmt: skip
    seq.measure("ground-rydberg")

    n = len(coords)
    fields, dets = pulser_drives(seq)
    gr, dg = fields["ground-rydberg"], fields["digital"]
    assert np.abs(gr).max() > 0 and np.abs(dg).max() > 0
    ours = simulate(
        amplitude=np.abs(gr), detuning=dets["ground-rydberg"], phase=np.angle(gr),
        raman_amplitude=np.abs(dg), raman_detuning=dets["digital"], raman_phase=np.angle(dg),
        register=coords, interaction_coeff=device.interaction_coeff, basis="all",
        measure="ground-rydberg", tolerance=1e-8, record_every_ns=0,
    )  # fmt: skip
    assert isinstance(ours, ThreeLevelResult) and ours.qutrit_state is not None
    run = QutipEmulator.from_sequence(seq).run()
    psi_p = run.get_final_state().full().ravel()
    assert len(psi_p) == 27
    p_ours = np.abs(ours.qutrit_state) ** 2
    p_pulser = (np.abs(psi_p) ** 2)[pulser_order_to_ours(n)]
    assert p_ours[[x for x in range(27) if "1" in np.base_repr(x, 3)]].sum() > 0.05  # some r
    assert p_ours[[x for x in range(27) if "2" in np.base_repr(x, 3)]].sum() > 0.05  # some h
    assert np.abs(p_ours - p_pulser).max() <= 1e-3
    # measured bitstrings (1 = r) against Pulser's own bitstring probabilities
    pulser_bits = {k: float(v) for k, v in run[-1].sampling_dist.items()}
    ours_bits = ours.bitstring_probabilities()
    for k in set(pulser_bits) | set(ours_bits):
        assert abs(pulser_bits.get(k, 0.0) - ours_bits.get(k, 0.0)) <= 1e-3
