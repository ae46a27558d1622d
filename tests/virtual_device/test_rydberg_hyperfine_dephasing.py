"""``NoiseModel.hyperfine_dephasing_rate``: Pulser's √(2γ_h)·|h⟩⟨h| per atom.

Pulser (pulser-core 1.9.1, ``pulser/_hamiltonian_data/hamiltonian_data.py``,
``_build_local_collapse_operators``) adds √(2γ)·|s⟩⟨s| for every level s of the basis in
{r, h} (``dephasing_rate`` for r, ``hyperfine_dephasing_rate`` for h), so the g–h coherence
decays as e^{−γ_h t} and populations are untouched. Here: the master equation
(``method="lindblad"``) against that and against a dense superoperator; the trajectories
(1 − 2|h⟩⟨h| jumps at rate γ_h/2) against the master equation; the two-level bases (ignored
in ground-rydberg, alone on h in digital, as Pulser); zero rate reproduces the earlier results.

Basis: first atom = most significant digit, 0 = g, 1 = r, 2 = h.
"""

from functools import reduce

import numpy as np
import pytest
from pydantic import ValidationError
from rydberg_refs import liouvillian, pulser_drives

from virtual_device.errors import SimulationError
from virtual_device.rydberg import NoiseModel, simulate
from virtual_device.rydberg.lindblad import QutritLiouvilleSpace
from virtual_device.rydberg.space import pair_interactions
from virtual_device.rydberg.three_level import QutritSpace

C6 = 865723.02
TWO_PI = 2 * np.pi
G, R, H = 0, 1, 2


def local(op, i, n, dim=3):
    return reduce(np.kron, [op if k == i else np.eye(dim) for k in range(n)])


def ramsey_arms(n_atoms, wait_ns, pulse_ns=10):
    """Independent atoms (no interaction): a Raman π/2 pulse (g → (|g⟩ − i|h⟩)/√2), then a wait."""
    t = pulse_ns + wait_ns
    ram = np.concatenate([np.full(pulse_ns, np.pi / 2 / (pulse_ns * 1e-3)), np.zeros(wait_ns)])
    return dict(
        amplitude=np.zeros(t), raman_amplitude=ram, interaction_coeff=0.0, basis="all",
        register=[[50.0 * i, 0.0] for i in range(n_atoms)],
    )  # fmt: skip


def atom_coherences(psi, n):
    """ρ_gh of each atom's reduced state, from a pure 3^n state."""
    x = psi.reshape([3] * n)
    out = np.empty(n, dtype=complex)
    for i in range(n):
        y = np.moveaxis(x, i, 0).reshape(3, -1)
        out[i] = np.vdot(y[H], y[G])  # Σ ψ_g ψ_h*
    return out


# -- the operator ---------------------------------------------------------------------------------
def test_qutrit_liouvillian_has_pulsers_hyperfine_operator():
    """Product against kron algebra with √(2γ_h)|h⟩⟨h|, √(2γ_φ)|r⟩⟨r| and √γ_r|g⟩⟨r| together."""
    rng = np.random.default_rng(3)
    gd, gr, gh, tau = 0.7, 1.1, 1.9, 0.37
    coords = np.array([[0.0, 0.0], [6.0, 0.0]])
    q = QutritLiouvilleSpace(pair_interactions(coords, C6), gd, gr, gh)
    c = rng.normal(size=4) + 1j * rng.normal(size=4)
    diag = q.hilbert_diagonal(tau, rng.normal(size=4), np.empty(9))
    e = np.eye(3)
    a = np.diag(diag).astype(complex)
    for i in range(2):
        y = c[i] * np.outer(e[R], e[G]) + c[2 + i] * np.outer(e[G], e[H])
        a += local(y + y.conj().T, i, 2)
    ops = [np.sqrt(2 * gd * tau) * local(np.outer(e[R], e[R]), i, 2) for i in range(2)]
    ops += [np.sqrt(gr * tau) * local(np.outer(e[G], e[R]), i, 2) for i in range(2)]
    hyperfine = [np.sqrt(2 * gh * tau) * local(np.outer(e[H], e[H]), i, 2) for i in range(2)]
    x = rng.normal(size=(9, 9)) + 1j * rng.normal(size=(9, 9))
    x = x + x.conj().T
    out = np.empty(81, complex)
    q.apply(x.ravel(), diag, c, tau, out)
    ref = liouvillian(a, ops + hyperfine) @ x.ravel()
    assert np.abs(out - ref).max() <= 1e-13 * np.abs(ref).max()
    # the factor is Pulser's: half or twice the rate, or no operator, are far off
    for wrong in (0.5, 2.0, 0.0):
        bad = liouvillian(a, ops + [np.sqrt(wrong) * op for op in hyperfine]) @ x.ravel()
        assert np.abs(out - bad).max() > 0.1
    # the spectral-radius bound of the Arnoldi exponential counts the rate
    q0 = QutritLiouvilleSpace(pair_interactions(coords, C6), gd, gr)
    extra = q.radius_bound(diag, c, tau) - q0.radius_bound(diag, c, tau)
    assert extra == pytest.approx(2 * gh * tau)


def test_jump_flips_the_sign_of_h_only():
    space = QutritSpace(np.zeros((2, 2)))
    psi = np.arange(1, 10, dtype=complex)
    out = psi.copy()
    space.apply_jump(out, 1, "hyperfine_dephasing")
    digit1 = np.arange(9) % 3
    np.testing.assert_array_equal(out, np.where(digit1 == H, -psi, psi))
    with pytest.raises(SimulationError, match="unknown quantum jump"):
        space.apply_jump(out, 0, "hyperfine")
    with pytest.raises(ValidationError):
        NoiseModel(hyperfine_dephasing_rate=-0.1)
    nm = NoiseModel(hyperfine_dephasing_rate=0.2)
    assert nm.is_stochastic and not nm.has_shot_to_shot_noise


# -- (a) the g–h coherence decays as e^{−γ_h t} -----------------------------------------------
def test_coherence_decays_as_pulser_predicts_lindblad():
    gamma, pulse = 1.3, 10
    noise = NoiseModel(hyperfine_dephasing_rate=gamma)
    rho_gh = {}
    for wait in (0, 200, 590):
        res = simulate(**ramsey_arms(1, wait, pulse), noise=noise, method="lindblad",
                       tolerance=1e-10, record_every_ns=0)  # fmt: skip
        rho_gh[wait] = res.density_matrix[G, H]
    assert abs(rho_gh[0]) > 0.49  # after the pulse: (|g⟩ − i|h⟩)/√2, barely dephased in 10 ns
    for wait in (200, 590):
        ratio = rho_gh[wait] / rho_gh[0]
        assert abs(ratio - np.exp(-gamma * wait * 1e-3)) <= 1e-6
        # not e^{−2γt} (√(2γ)·(|g⟩⟨g| − |h⟩⟨h|)) nor e^{−γt/2} (√γ·|h⟩⟨h|)
        assert abs(ratio - np.exp(-2 * gamma * wait * 1e-3)) > 0.1
        assert abs(ratio - np.exp(-gamma * wait * 1e-3 / 2)) > 0.1


def test_coherence_decays_as_pulser_predicts_trajectories():
    """Four independent atoms per trajectory, 400 trajectories: 1,600 samples of ρ_gh."""
    gamma, wait, n, trajectories = 1.3, 590, 4, 400
    exact = simulate(**ramsey_arms(1, wait), noise=NoiseModel(hyperfine_dephasing_rate=gamma),
                     method="lindblad", tolerance=1e-10, record_every_ns=0)  # fmt: skip
    ref = exact.density_matrix[G, H]
    gen = np.random.default_rng(21)
    one = NoiseModel(hyperfine_dephasing_rate=gamma, runs=1)
    kw = ramsey_arms(n, wait)
    samples = []
    for _ in range(trajectories):
        res = simulate(**kw, noise=one, seed=gen, tolerance=1e-8, record_every_ns=0)
        assert res.qutrit_state is not None
        samples.append(atom_coherences(res.qutrit_state, n))
    x = np.concatenate(samples).imag  # ρ_gh is imaginary here (Raman phase 0)
    assert abs(ref.real) < 1e-9
    mean, sigma = x.mean(), x.std(ddof=1) / np.sqrt(len(x))
    assert abs(mean - ref.imag) <= 3 * sigma, (mean, ref, sigma)
    # the statistics resolve the convention: e^{−2γt} or e^{−γt/2} would be > 5σ away
    c0 = ref.imag / np.exp(-gamma * wait * 1e-3)
    for k in (2.0, 0.5):
        assert abs(mean - c0 * np.exp(-k * gamma * wait * 1e-3)) > 5 * sigma


# -- (b) populations are not affected by hyperfine dephasing alone --------------------------------
@pytest.mark.parametrize("method", ["state-vector", "lindblad"])
def test_populations_are_unaffected_by_hyperfine_dephasing_alone(method):
    # undriven: after the pulse the level populations stay where the pulse left them
    kw = ramsey_arms(2, 400)
    res = simulate(**kw, noise=NoiseModel(hyperfine_dephasing_rate=3.0, runs=20), seed=2,
                   method=method, tolerance=1e-10, record_every_ns=50)  # fmt: skip
    after = res.times_ns >= 10
    h = res.hyperfine_occupations[after]
    assert np.abs(h - h[0]).max() <= 1e-9 and h[0].min() > 0.4
    assert np.abs(res.rydberg_occupations).max() <= 1e-12
    # driven on g ↔ r only: h is never populated, so nothing changes at all
    t = 300
    ryd = dict(
        amplitude=np.full(t, TWO_PI * 1.5), detuning=np.linspace(-4, 4, t),
        raman_amplitude=np.zeros(t), register=[[0.0, 0.0], [6.0, 0.0]], interaction_coeff=C6,
        basis="all", measure="ground-rydberg", tolerance=1e-10,
    )  # fmt: skip
    clean = simulate(**ryd, method=method)
    noisy = simulate(**ryd, noise=NoiseModel(hyperfine_dephasing_rate=3.0, runs=5), seed=1,
                     method=method)  # fmt: skip
    np.testing.assert_allclose(noisy.probabilities, clean.probabilities, atol=1e-9)
    np.testing.assert_allclose(noisy.rydberg_occupations, clean.rydberg_occupations, atol=1e-9)
    # … while with a Raman drive on, the dephasing does move populations
    on = simulate(**{**kw, "raman_amplitude": np.full(410, TWO_PI * 1.0)},
                  noise=NoiseModel(hyperfine_dephasing_rate=3.0), method="lindblad")  # fmt: skip
    off = simulate(**{**kw, "raman_amplitude": np.full(410, TWO_PI * 1.0)})
    assert np.abs(on.hyperfine_occupations - off.hyperfine_occupations).max() > 0.05


# -- (c) trajectories and master equation agree on a driven case ---------------------------------
def statistics(res):
    return np.concatenate(
        [res.rydberg_occupations[1:].ravel(), res.hyperfine_occupations[1:].ravel(),
         res.probabilities]
    )  # fmt: skip


def test_driven_three_level_trajectories_agree_with_lindblad():
    t = 400
    kw = dict(
        amplitude=np.full(t, TWO_PI * 1.2), detuning=np.full(t, 1.0),
        raman_amplitude=np.stack([np.full(t, TWO_PI * 0.8), np.full(t, TWO_PI * 0.6)]),
        raman_detuning=np.zeros(t), register=[[0.0, 0.0], [7.0, 0.0]], interaction_coeff=C6,
        basis="all", measure="digital", tolerance=1e-6, record_every_ns=t // 5,
    )  # fmt: skip
    rates = dict(hyperfine_dephasing_rate=1.5, dephasing_rate=1.0)
    exact = statistics(simulate(**kw, noise=NoiseModel(**rates), method="lindblad"))
    gen = np.random.default_rng(13)
    one = NoiseModel(**rates, runs=1)
    trajectories = 500
    x = np.array([statistics(simulate(**kw, noise=one, seed=gen)) for _ in range(trajectories)])
    mean, sigma = x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(trajectories)
    assert sigma.max() < 0.05
    z = np.abs(mean - exact) / np.maximum(sigma, 1e-12)
    assert z.max() <= 4.0, (z.max(), mean, exact)
    # the hyperfine term matters here: the master equation without it is far from the mean
    without = statistics(simulate(**kw, noise=NoiseModel(dephasing_rate=1.0), method="lindblad"))
    assert (np.abs(mean - without) / np.maximum(sigma, 1e-12)).max() > 8.0


# -- (d) two-level runs, as Pulser ----------------------------------------------------------------
@pytest.mark.parametrize("method", ["state-vector", "lindblad"])
def test_ground_rydberg_ignores_it_as_pulser(method):
    t = 300
    kw = dict(
        amplitude=np.full(t, TWO_PI * 1.5), detuning=np.linspace(-4, 4, t),
        register=[[0.0, 0.0], [6.0, 0.0]], interaction_coeff=C6, tolerance=1e-8, method=method,
    )  # fmt: skip
    base = dict(dephasing_rate=0.8, relaxation_rate=0.5, runs=4)
    ref = simulate(**kw, noise=NoiseModel(**base), seed=5)
    res = simulate(**kw, noise=NoiseModel(**base, hyperfine_dephasing_rate=2.0), seed=5)
    np.testing.assert_array_equal(res.probabilities, ref.probabilities)
    np.testing.assert_array_equal(res.occupations, ref.occupations)
    # alone it is no noise at all: one run, the pure state
    only = simulate(**kw, noise=NoiseModel(hyperfine_dephasing_rate=2.0, runs=7), seed=5)
    clean = simulate(**kw)
    assert only.runs == 1
    np.testing.assert_array_equal(only.probabilities, clean.probabilities)


@pytest.mark.parametrize("method", ["state-vector", "lindblad"])
def test_digital_basis_dephases_with_the_hyperfine_rate_alone(method):
    """g–h is the digital qubit: √(2γ_h)|h⟩⟨h|; ``dephasing_rate`` (r) is ignored there with a
    warning and relaxation (r → g) refused, as Pulser does."""
    t = 300
    kw = dict(
        amplitude=np.concatenate([np.full(10, np.pi / 2 / 0.01), np.zeros(t - 10)]),
        register=[[0.0, 0.0], [6.0, 0.0]], basis="digital", tolerance=1e-10, method=method,
        record_every_ns=50,
    )  # fmt: skip
    hf = simulate(**kw, noise=NoiseModel(hyperfine_dephasing_rate=1.1, runs=6), seed=9)
    with pytest.warns(UserWarning, match=r"dephasing_rate=0\.4 .* ignored"):
        both = simulate(
            **kw, noise=NoiseModel(dephasing_rate=0.4, hyperfine_dephasing_rate=1.1, runs=6), seed=9
        )
    np.testing.assert_array_equal(both.probabilities, hf.probabilities)
    np.testing.assert_array_equal(both.occupations, hf.occupations)
    with pytest.raises(SimulationError, match=r"relaxation_rate=0\.5 .*'digital'"):
        simulate(**kw, noise=NoiseModel(relaxation_rate=0.5))
    if method == "lindblad":
        rho = hf.density_matrix.reshape(2, 2, 2, 2)  # atoms (0, 1) rows, (0, 1) columns
        rho0 = rho.trace(axis1=1, axis2=3)  # atom 0's reduced state
        pulse_only = simulate(**{**kw, "amplitude": kw["amplitude"][:10], "record_every_ns": 0},
                              noise=NoiseModel(hyperfine_dephasing_rate=1.1))  # fmt: skip
        rho_p = pulse_only.density_matrix.reshape(2, 2, 2, 2).trace(axis1=1, axis2=3)
        ratio = rho0[0, 1] / rho_p[0, 1]
        assert abs(ratio - np.exp(-1.1 * (t - 10) * 1e-3)) <= 1e-6


def test_digital_basis_has_pulsers_hamiltonian():
    """Two-level 'digital' = the three-level Raman term (Pulser's Ω/2 (e^{-iφ}|h⟩⟨g| + h.c.)
    − Δ|g⟩⟨g|, checked against Pulser in test_density_matrix_agrees_with_pulser): the same
    state up to a global phase, for a chirped, phase-modulated drive on two atoms."""
    t = 400
    k = np.arange(t)
    amp = 5 + 3 * np.sin(k / 60.0)
    det = np.linspace(-4, 7, t)
    ph = 0.3 + 0.8 * np.sin(k / 90)
    rows = (np.vstack([amp, 0.7 * amp]), np.vstack([det, det]), np.vstack([ph, -ph]))
    kw = dict(register=[[0.0, 0.0], [7.0, 0.0]], tolerance=1e-10, record_every_ns=0,
              interaction_coeff=C6)  # fmt: skip
    two = simulate(amplitude=rows[0], detuning=rows[1], phase=rows[2], basis="digital", **kw)
    zero = np.zeros((2, t))
    three = simulate(
        amplitude=zero, detuning=zero, phase=zero, raman_amplitude=rows[0],
        raman_detuning=rows[1], raman_phase=rows[2], basis="all", measure="digital", **kw,
    )  # fmt: skip
    q = np.asarray(three.qutrit_state)[[(2 * (b >> 1)) * 3 + 2 * (b & 1) for b in range(4)]]
    s = np.asarray(two.final_state)
    rot = np.vdot(s, q) / abs(np.vdot(s, q))
    assert np.abs(q - rot * s).max() < 1e-9
    # the other sign conventions are far off (so the check can fail)
    flipped = simulate(amplitude=rows[0], detuning=-rows[1], phase=-rows[2], basis="digital", **kw)
    f = np.asarray(flipped.final_state)
    assert np.abs(q - np.vdot(f, q) / abs(np.vdot(f, q)) * f).max() > 0.1


# -- (e) zero rate: the previous results, draw for draw -------------------------------------------
def regression_runs():
    """Seeded runs whose results before hyperfine dephasing existed are recorded below."""
    rng = np.random.default_rng(8)
    t = 240

    def drives(scale):
        amp = scale * np.abs(rng.normal(3.0, 1.0, size=(2, 1))) * np.sin(np.linspace(0, np.pi, t))
        det = scale * (
            rng.normal(0, 2, size=(2, 1)) + np.outer(rng.normal(0, 2, 2), np.linspace(-1, 1, t))
        )
        ph = np.outer(rng.uniform(-np.pi, np.pi, 2), np.ones(t))
        ph[:, t // 2 :] += 0.7
        return amp, det, ph

    ryd, ram = drives(4.0), drives(2.0)
    coords = [[0.0, 0.0], [6.0, 0.0]]
    kw3 = dict(
        amplitude=ryd[0], detuning=ryd[1], phase=ryd[2], raman_amplitude=ram[0],
        raman_detuning=ram[1], raman_phase=ram[2], register=coords, interaction_coeff=C6,
        basis="all", measure="digital", tolerance=1e-10, record_every_ns=0,
    )  # fmt: skip
    kw2 = dict(amplitude=ryd[0], detuning=ryd[1], phase=ryd[2], register=coords,
               interaction_coeff=C6, tolerance=1e-10, record_every_ns=0)  # fmt: skip
    noisy = dict(dephasing_rate=1.5, relaxation_rate=1.2, temperature=30.0, runs=5)
    return {
        "three_level": lambda **nz: simulate(**kw3, noise=NoiseModel(**noisy, **nz), seed=11),
        "three_level_lindblad": lambda **nz: simulate(
            **kw3,
            noise=NoiseModel(dephasing_rate=1.5, relaxation_rate=1.2, **nz),
            method="lindblad",
        ),
        "ground_rydberg": lambda **nz: simulate(**kw2, noise=NoiseModel(**noisy, **nz), seed=11),
        # digital: the h dephasing is hyperfine_dephasing_rate now (dephasing_rate before)
        "digital": lambda **nz: simulate(
            **kw2,
            basis="digital",
            noise=NoiseModel(**{"hyperfine_dephasing_rate": 1.5, "runs": 5, **nz}),
            seed=11,
        ),
    }


# Probabilities of regression_runs() computed by the code before hyperfine_dephasing_rate
# existed (the same numbers bit for bit when this test was written).
BEFORE = {
    "three_level": [0.477915712059234, 0.22418362513706896, 0.20295752459098906,
                    0.09494313821270792],
    "three_level_lindblad": [0.4817228752388566, 0.22173924775554138, 0.20330021882737687,
                             0.09323765817822509],
    "ground_rydberg": [0.7943748623955836, 0.15787127974056447, 0.04720566029593005,
                       0.0005481975679217949],
    "digital": [0.7684911021017026, 0.17410109285983955, 0.04680432067978673,
                0.010603484358671124],
}  # fmt: skip


@pytest.mark.parametrize("name", list(BEFORE))
def test_zero_rate_reproduces_the_previous_results(name):
    run = regression_runs()[name]
    default = run()
    if name == "digital":  # the same operator on h under its Pulser name: the same draws
        np.testing.assert_allclose(default.probabilities, BEFORE[name], rtol=0, atol=1e-8)
        return
    zero = run(hyperfine_dephasing_rate=0.0)
    np.testing.assert_array_equal(zero.probabilities, default.probabilities)
    np.testing.assert_array_equal(zero.occupations, default.occupations)
    # seeded: the same draws as before the parameter existed. The recorded values carried the
    # error of the integrator of the time, which split the decay off the drive (1.3e-7 off the
    # unsplit evolution in "ground_rydberg"); other draws (seed 12) move them by 1.6e-4–2.6e-3
    np.testing.assert_allclose(default.probabilities, BEFORE[name], rtol=0, atol=1e-6)
    # and the rate, when on, does change the three-level results
    if name.startswith("three_level"):
        on = run(hyperfine_dephasing_rate=2.0)
        assert np.abs(on.probabilities - default.probabilities).max() > 1e-3


# -- Pulser --------------------------------------------------------------------------------------
@pytest.mark.pulser
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_density_matrix_agrees_with_pulser():
    """QutipEmulator with Pulser's NoiseModel(hyperfine_dephasing_rate, dephasing_rate), 'all' and
    'digital' bases, against ``method="lindblad"`` on the same sampled drives."""
    pulser = pytest.importorskip("pulser")
    pytest.importorskip("pulser_simulation")
    import itertools

    from pulser import Pulse, Sequence, devices
    from pulser.waveforms import BlackmanWaveform, ConstantWaveform, RampWaveform
    from pulser_simulation import QutipEmulator

    device = devices.MockDevice
    coords = np.array([[0.0, 0.0], [6.5, 0.0]])
    rates = dict(hyperfine_dephasing_rate=1.7, dephasing_rate=0.6)

    def sequence(rydberg):
        seq = Sequence(pulser.Register.from_coordinates(coords, prefix="q"), device)
        seq.declare_channel("ram", "raman_global")
        seq.add(Pulse.ConstantDetuning(BlackmanWaveform(300, np.pi / 2), 0.0, 0.4), "ram")
        seq.delay(200, "ram")
        if rydberg:
            seq.declare_channel("ryd", "rydberg_global")
            seq.add(Pulse(ConstantWaveform(300, 6.0), RampWaveform(300, -4.0, 6.0), 0.0), "ryd")
        seq.add(Pulse(ConstantWaveform(200, 3.0), ConstantWaveform(200, 1.5), -1.1), "ram",
                protocol="no-delay")  # fmt: skip
        return seq

    # three levels: Pulser orders each atom's levels (r, g, h), ours (g, r, h)
    seq = sequence(rydberg=True)
    rho_p = QutipEmulator.from_sequence(seq, noise_model=pulser.NoiseModel(**rates)).run()
    rho_p = rho_p.get_final_state().full()
    to_pulser = {G: 1, R: 0, H: 2}
    perm = [
        int("".join(str(to_pulser[d]) for d in ds), 3)
        for ds in itertools.product(range(3), repeat=2)
    ]
    rho_p = rho_p[np.ix_(perm, perm)]
    fields, dets = pulser_drives(seq)
    gr, dg = fields["ground-rydberg"], fields["digital"]

    def ours(**nz):
        return simulate(
            amplitude=np.abs(gr), detuning=dets["ground-rydberg"], phase=np.angle(gr),
            raman_amplitude=np.abs(dg), raman_detuning=dets["digital"], raman_phase=np.angle(dg),
            register=coords, interaction_coeff=device.interaction_coeff, basis="all",
            tolerance=1e-9, record_every_ns=0, noise=NoiseModel(**nz), method="lindblad",
        ).density_matrix  # fmt: skip

    assert np.abs(ours(**rates) - rho_p).max() <= 2e-3  # measured 3.6e-4 (as without noise)
    for k in (0.0, 0.5, 2.0):  # no, half or twice the hyperfine rate: measured ≥ 3.6e-2 away
        wrong = ours(**{**rates, "hyperfine_dephasing_rate": k * rates["hyperfine_dephasing_rate"]})
        assert np.abs(wrong - rho_p).max() > 1e-2
    # digital basis (Raman only): Pulser applies the hyperfine rate on h and, having no r,
    # ignores dephasing_rate (so do we, with a warning); the same ρ, phases included
    seq = sequence(rydberg=False)
    rho_d = QutipEmulator.from_sequence(seq, noise_model=pulser.NoiseModel(**rates)).run()
    rho_d = rho_d.get_final_state().full()
    assert rho_d.shape == (4, 4)
    fields, dets = pulser_drives(seq)
    dg = fields["digital"]
    kw = dict(
        amplitude=np.abs(dg), detuning=dets["digital"], phase=np.angle(dg), register=coords,
        basis="digital", tolerance=1e-9, record_every_ns=0, method="lindblad",
    )  # fmt: skip
    with pytest.warns(UserWarning, match="dephasing_rate"):
        res = simulate(**kw, noise=NoiseModel(**rates))
    assert np.abs(res.density_matrix - rho_d).max() <= 2e-3  # measured 9.1e-5
    clean = simulate(**kw)
    assert np.abs(clean.density_matrix - rho_d).max() > 1e-2  # measured 0.21
    hf = NoiseModel(hyperfine_dephasing_rate=rates["hyperfine_dephasing_rate"])
    conj = simulate(**{**kw, "detuning": -kw["detuning"], "phase": -kw["phase"]}, noise=hf)
    assert np.abs(conj.density_matrix - rho_d).max() > 1e-2  # the old signs: measured 0.12
