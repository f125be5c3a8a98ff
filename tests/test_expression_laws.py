"""General expression laws (scalefit.laws.general): parsing, routing to the fast path, printing,
JSON, refusals, both fitters, targets of either sign, variables at 0, and crossings along a
path (scalefit._path)."""

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import (
    NUTS,
    Expression,
    Fit,
    Law,
    LeastSquares,
    Path,
    ScalefitError,
    ScalingWarning,
    compute_path,
    crossover,
    distillation_boundary,
    fit_law,
    parse_law,
)
from scalefit.cli.main import main
from scalefit.laws.published import BUSBRIDGE_SUPERVISED, EXAMPLES, lr_schedule_areas

ISSUE_FORMULAS = [
    ("exp(s*N^q + S) + exp(B*N^b + Q) * D^(-exp(A*N^a + E))", None, ("N", "D")),
    ("exp(a*log(N) + b*log(E) + c*log(N)*log(E) + d)", None, ("N", "E")),
    ("(A/(N*(k*log(S) + 1)))^alpha + E", ["N", "S"], ("N", "S")),
    ("L0 + A*S1^-alpha - C*S2", ["S1", "S2"], ("S1", "S2")),
    ("c + k*exp(t1*r1 + t2*r2)", ["r1", "r2"], ("r1", "r2")),
    ("a*log(x)^2 + b*log(x) + c + sigmoid(w*(x - m)) + softplus(z) + max(x, m) - min(y, 2) + sqrt(x)", ["x", "y"],
     ("x", "y")),
]  # fmt: skip


def _fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(*args, **kw)


# -- parsing and routing ------------------------------------------------------------------
@pytest.mark.parametrize(("formula", "variables", "expected"), ISSUE_FORMULAS)
def test_formulas_beyond_the_log_space_algebra_parse_as_expressions(formula, variables, expected):
    law = parse_law(formula, variables)
    assert isinstance(law.expr, Expression)
    assert law.variables == expected
    assert parse_law(str(law), law.variables) == law  # the printed formula reads back to the same law
    again = Law.from_dict(json.loads(json.dumps(law.to_dict())))
    assert again == law and again.formula() == law.formula()
    tex = law.latex()
    assert "\\" in tex and tex.count("{") == tex.count("}")


def test_a_formula_the_log_space_algebra_can_write_takes_the_fast_path_unless_forced():
    fast = parse_law("E + A*N^-alpha + B*D^-beta")
    assert not isinstance(fast.expr, Expression)
    general = parse_law("E + A*N^-alpha + B*D^-beta", general=True)
    assert isinstance(general.expr, Expression)
    assert {n: s.role for n, s in general.specs.items()} == {n: s.role for n, s in fast.specs.items()} | {
        "A": "constant",
        "B": "constant",
    }
    p = dict(E=1.7, A=400.0, alpha=0.34, B=410.0, beta=0.28)
    x = dict(N=np.geomspace(1e7, 1e11, 9), D=np.geomspace(1e9, 1e13, 9))
    np.testing.assert_allclose(general.evaluate(p, x), fast.evaluate(p, x), rtol=1e-13)
    with pytest.raises(ScalefitError, match="subtraction is not supported"):
        parse_law("L0 + A*S1^-alpha - C*S2", ["S1", "S2"], general=False)


def test_roles_come_from_position_and_signed_overrides():
    law = scalefit.farseer
    roles = {n: (s.role, s.signed) for n, s in law.specs.items()}
    assert roles["S"] == ("exponent", True) and roles["E"] == ("exponent", True)  # inside exp: any sign
    assert roles["q"] == ("exponent", True)  # declared signed in the catalogue
    tissue = parse_law("L0 + A*S1^-alpha - C*S2", ["S1", "S2"])
    assert {n: (s.role, s.signed) for n, s in tissue.specs.items()} == {
        "L0": ("constant", False), "A": ("constant", False), "alpha": ("exponent", False), "C": ("constant", False),
    }  # fmt: skip
    kumar = parse_law("A*(N*(1 - exp(-P/g)))^-alpha + E", ["N", "P"])
    assert kumar.specs["g"].role == "constant"  # a divisor inside exp is a positive scale
    floor = parse_law("L0 + A*S1^-alpha", ["S1"], signed=["L0"], general=True)
    assert floor.specs["L0"].signed and floor.specs["L0"].role == "exponent"


def test_evaluation_is_the_same_eager_jitted_and_vmapped_and_defined_at_zero():
    law = parse_law("c + k*exp(t1*r1 + t2*r2) + A*r1^2", ["r1", "r2"])
    p = dict(c=1.0, k=0.5, t1=-1.0, t2=0.3, A=2.0)
    x = dict(r1=np.array([0.0, 0.3, 1.0]), r2=np.array([1.0, 0.7, 0.0]))
    eager = law.evaluate(p, x)
    np.testing.assert_allclose(eager, 1.0 + 0.5 * np.exp(-x["r1"] + 0.3 * x["r2"]) + 2 * x["r1"] ** 2, rtol=1e-14)
    with jax.enable_x64(True):
        pj = {k: jnp.asarray(v) for k, v in p.items()}
        jitted = jax.jit(lambda q: law.evaluate(q, {k: jnp.asarray(v) for k, v in x.items()}))(pj)
        batched = jax.vmap(lambda c: law.evaluate({**pj, "c": c}, x))(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(batched[1]) - np.asarray(batched[0]), 1.0, rtol=1e-12)


# -- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("formula", "kw", "match"),
    [
        ("E + foo(N)", {}, r"unknown function 'foo'; the functions are exp\(z\).*\(in 'foo\(N\)'\)"),
        ("E + exp(N, a)", {"variables": ["N"]}, r"exp\(\) takes 1 argument, got 2"),
        ("E + min(N)", {"variables": ["N"]}, r"min\(\) takes at least 2 arguments, got 1"),
        ("E + exp(z=N)", {"variables": ["N"]}, r"exp\(\) takes its arguments by position"),
        ("E + A*N^-a if N else 0", {"variables": ["N"]}, r"IfExp is not part of the formula language"),
        ("E + A*N.x", {"variables": ["N"]}, r"Attribute is not part of the formula language"),
        ("E + 'a'*N", {"variables": ["N"]}, r"'a' is not a number"),
        ("E + A*N^-a % 2", {"variables": ["N"]}, r"operator Mod is not part of the language"),
        ("E - A*N^-a", {"variables": ["N"], "signed": ["Z"]}, r"signed= names \['Z'\], which are not parameters"),
        ("E - A*N^-a", {"variables": ["N"], "starts": {"A": (3, 1)}}, r"starts\['A'\] = \(3.0, 1.0\) must be"),
        ("E - A*N^-a", {"variables": ["N"], "starts": {"A": 3}}, r"starts\['A'\] must be a \(low, high\) range"),
        ("E - A*N^-a", {"variables": ["N"], "starts": {"a": (-3, -1)}}, r"a is an exponent, fitted >= 0.*signed="),
        ("E - A*N^-a", {"variables": ["N"], "starts": {"A": (-1, 1)}}, r"A is a positive constant.*signed=\['A'\]"),
        ("E - A*N^(10^1000)", {"variables": ["N"]}, r"do not give a finite number \(in '10\^1000'\)"),
        ("E - A*N^-(2^2000)", {"variables": ["N"]}, r"do not give a finite number \(in '2\^2000'\)"),
        ("E - A*N^(1/0)", {"variables": ["N"]}, r"do not give a finite number \(in '1/0'\)"),
        ("E - A*", {}, r"cannot be parsed"),
        ("exp(a) - b", {}, r"has no variable: no name is raised to a power or passed to log\(\)"),
        ("N^2 - N", {"variables": ["N"]}, r"has no parameters to fit \(its names \['N'\] are all variables\)"),
    ],
)
def test_bad_formulas_are_refused_naming_the_part_and_the_fix(formula, kw, match):
    with pytest.raises(ScalefitError, match=match):
        parse_law(formula, **kw)


def test_general_takes_only_true_false_or_none_and_log_space_refuses_general_options():
    with pytest.raises(TypeError, match="general must be None, True or False"):
        parse_law("E + A*N^-a", general="yes")
    with pytest.raises(ScalefitError, match="signed= and starts= apply to the general path"):
        parse_law("E + A*N^-a", general=False, signed=["E"])


def test_a_saved_expression_with_an_unknown_node_or_bad_starts_is_refused():
    d = parse_law("L0 - C*S", ["S"]).to_dict()
    d["expr"]["starts"] = [1, 2]
    with pytest.raises(ScalefitError, match="saved expression has starts"):
        Law.from_dict(d)
    d["expr"] = {"type": "expression", "formula": "L0 - __import__('os')", "variables": ["S"]}
    with pytest.raises(ScalefitError, match=r"unknown function '__import__'"):
        Law.from_dict(d)


# -- fitting --------------------------------------------------------------------------------
def test_general_and_log_space_paths_reach_the_same_optimum():
    rng = np.random.default_rng(3)
    fast = parse_law("E + A*N^-alpha + B*D^-beta")
    general = parse_law("E + A*N^-alpha + B*D^-beta", general=True)
    n = np.repeat(np.geomspace(1e7, 1e10, 6), 5)
    d = n * np.tile(np.geomspace(5, 200, 5), 6)
    y = fast.evaluate(dict(E=1.8, A=480.0, alpha=0.35, B=2000.0, beta=0.37), N=n, D=d)
    runs = pd.DataFrame(dict(N=n, D=d, y=y * np.exp(rng.normal(0, 0.01, n.size))))
    a, b = (
        _fit(fast, runs, target="y", method=LeastSquares(bootstrap=0)),
        _fit(general, runs, target="y", method=LeastSquares(bootstrap=0)),
    )
    assert a.status.converged and b.status.converged
    assert b.value == pytest.approx(a.value, rel=1e-6)
    for k in a.params:
        assert b.params[k] == pytest.approx(a.params[k], rel=1e-3), k


def test_a_decreasing_term_is_recovered_with_intervals_that_cover_the_truth():
    """Tissue-style law, 120 points of 4 schedules with additive noise 0.002: parameters within 10%
    and inside the 95% bootstrap intervals (the noise is well below the spread of the targets)."""
    law = scalefit.tissue_annealing
    truth = EXAMPLES["tissue_annealing"][0]
    rng = np.random.default_rng(0)
    steps = np.arange(1, 6001)
    cols = []
    for lr in (np.full(6000, 3e-4), 3e-4 * 0.5 * (1 + np.cos(np.pi * steps / 6000)), 3e-4 * (1 - steps / 6001)):
        s1, s2 = lr_schedule_areas(lr)
        cols.append((s1[199::200], s2[199::200]))
    s1, s2 = (np.concatenate(c) for c in zip(*cols, strict=True))
    y = law.evaluate(truth, S1=s1, S2=s2) + rng.normal(0, 0.002, s1.size)
    fit = _fit(
        law, pd.DataFrame(dict(S1=s1, S2=s2, y=y)), target="y", objective="squared", method=LeastSquares(bootstrap=300)
    )
    table = fit.summary()
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=0.1), k
        assert table.loc[k, "lower"] <= v <= table.loc[k, "upper"], k


def test_targets_crossing_zero_fit_on_the_natural_scale_and_log_objectives_say_so():
    law = parse_law("c - A*N^-alpha", ["N"], signed=["c"])
    truth = dict(c=0.3, A=40.0, alpha=0.4)
    rng = np.random.default_rng(1)
    n = np.geomspace(1e2, 1e7, 30)
    runs = pd.DataFrame(dict(N=n, y=law.evaluate(truth, N=n) + rng.normal(0, 0.01, n.size)))
    assert (runs.y < 0).any() and (runs.y > 0).any()
    with pytest.raises(ScalefitError, match=r"values <= 0.*use objective='squared'"):
        _fit(law, runs, target="y", method=LeastSquares(bootstrap=0))
    fit = _fit(law, runs, target="y", objective="squared", method=LeastSquares(bootstrap=0))
    assert fit.status.converged
    assert fit.params["c"] == pytest.approx(0.3, abs=0.02)
    assert fit.params["alpha"] == pytest.approx(0.4, rel=0.05)
    back = scalefit.load_fit(_roundtrip(fit))
    assert back.law == law and back.params == pytest.approx(fit.params)


def _roundtrip(fit):
    import tempfile
    from pathlib import Path as P

    path = P(tempfile.mkdtemp()) / "fit.json"
    fit.to_json(path)
    return path


def test_variables_may_be_zero_where_the_law_is_defined_and_never_negative():
    law = scalefit.data_mixing
    truth = EXAMPLES["data_mixing"][0]
    rng = np.random.default_rng(2)
    r = rng.dirichlet(np.ones(3), 30)
    r[:3] = np.eye(3)
    runs = pd.DataFrame({"r1": r[:, 0], "r2": r[:, 1], "r3": r[:, 2]})
    runs["y"] = law.evaluate(truth, runs) * np.exp(rng.normal(0, 0.003, 30))
    fit = _fit(law, runs, target="y", fix={"t1": 0.0}, method=LeastSquares(bootstrap=0))
    assert fit.params["t2"] == pytest.approx(-1.0, abs=0.05) and fit.params["t3"] == pytest.approx(0.8, abs=0.05)
    assert np.isfinite(fit.predict(runs.iloc[:3], interval=None)["mean"]).all()
    bad = runs.assign(r1=runs.r1 - 0.5)
    with pytest.raises(ScalefitError, match=r"column 'r1' \(law variable 'r1'\) has \d+ negative values.*>= 0"):
        _fit(law, bad, target="y", method=LeastSquares(bootstrap=0))


def test_a_fit_with_a_variable_at_zero_is_saved_and_read_back(tmp_path):
    """A fit whose runs have a variable at 0 (allowed by its law) round-trips through its file:
    the file's runs and ranges hold the 0s, and the read-back fit predicts the same."""
    law = scalefit.data_mixing
    rng = np.random.default_rng(3)
    r = rng.dirichlet(np.ones(3), 30)
    r[:3] = np.eye(3)
    runs = pd.DataFrame({"r1": r[:, 0], "r2": r[:, 1], "r3": r[:, 2]})
    runs["y"] = law.evaluate(EXAMPLES["data_mixing"][0], runs) * np.exp(rng.normal(0, 0.003, 30))
    fit = _fit(law, runs, target="y", fix={"t1": 0.0}, method=LeastSquares(bootstrap=50))
    fit.to_json(tmp_path / "fit.json")
    back = scalefit.load_fit(tmp_path / "fit.json")
    assert back.runs.ranges["r1"][0] == 0.0 and min(back.runs.data["x"]["r1"]) == 0.0
    at = runs.iloc[:5].drop(columns="y")
    pd.testing.assert_frame_equal(back.predict(at, interval=0.9), fit.predict(at, interval=0.9))


@pytest.mark.slow
def test_nuts_samples_a_general_law_with_normal_noise_around_the_truth():
    law = parse_law("c - A*N^-alpha", ["N"], signed=["c"])
    truth = dict(c=-0.5, A=40.0, alpha=0.4)
    rng = np.random.default_rng(0)
    n = np.geomspace(1e3, 1e7, 30)
    runs = pd.DataFrame(dict(N=n, y=law.evaluate(truth, N=n) + rng.normal(0, 0.01, n.size)))
    fit = _fit(
        law,
        runs,
        target="y",
        objective="squared",
        method=NUTS(noise="normal", chains=2, draws=400, max_draws=400, warmup=400),
        seed=0,
    )
    table = fit.summary()
    for k, v in truth.items():
        assert table.loc[k, "lower"] <= v <= table.loc[k, "upper"], k
    assert table.loc[["c", "A", "alpha"], "r_hat"].max() < 1.05


# -- crossings along a path -----------------------------------------------------------------
SUPERVISED = parse_law("E + (A*N^-alpha + B*D^-beta)^gamma", ["N", "D"], metric="loss")


def _busbridge_pair(draws=None):
    plain = Fit.from_params(SUPERVISED, BUSBRIDGE_SUPERVISED)
    distilled = Fit.from_params(scalefit.get_law("busbridge_distillation"), EXAMPLES["busbridge_distillation"][0],
                                draws=draws)  # fmt: skip
    return plain, distilled


def test_compute_path_maps_compute_to_parameters_and_tokens():
    p = compute_path(tokens_per_parameter=20)
    v = p.values(np.array([1.2e18, 1.2e20]))
    np.testing.assert_allclose(v["N"], [1e8, 1e9], rtol=1e-12)
    np.testing.assert_allclose(6 * v["N"] * v["D"], [1.2e18, 1.2e20], rtol=1e-12)
    assert str(p) == "C (N = sqrt(C / 120), D = 20 N)"


def test_distillation_stops_paying_at_a_compute_that_grows_as_the_teacher_improves():
    """Busbridge et al.'s qualitative claim on the law (typical parameters): along student compute at
    20 tokens per parameter, distillation wins below one crossing and supervised training above it,
    and the crossing moves to larger compute for a better (lower-loss) teacher."""
    plain, distilled = _busbridge_pair()
    crossings = []
    for teacher in (2.0, 2.3):
        b = distillation_boundary(plain, distilled, at={"L_T": teacher}, domain=(1e16, 1e25), along=compute_path(20))
        assert len(b.crossings) == 1
        assert [r.winner for r in b.regimes] == ["distill", "plain"]
        c = b.crossings[0]
        n = compute_path(20).values(c)
        gap = SUPERVISED.evaluate(BUSBRIDGE_SUPERVISED, n) - scalefit.get_law("busbridge_distillation").evaluate(
            EXAMPLES["busbridge_distillation"][0], {**n, "L_T": teacher}
        )
        assert abs(float(gap)) < 1e-9  # a crossing: the two laws are equal there
        crossings.append(c)
    assert crossings[0] > 10 * crossings[1]


def test_a_user_path_and_the_variable_axis_agree_where_they_coincide():
    plain, distilled = _busbridge_pair()
    ratio = Path("N", lambda n: {"N": n, "D": 20 * n}, ("N", "D"), "D = 20 N")
    c1 = crossover(plain, distilled, axis=ratio, at={"L_T": 2.3}, domain=(1e6, 1e12))
    c2 = distillation_boundary(plain, distilled, at={"L_T": 2.3}, domain=(1.2e14, 1.2e26), along=compute_path(20))
    n2 = compute_path(20).values(c2.crossings[0])["N"]
    assert c1.crossings[0] == pytest.approx(float(n2), rel=1e-6)
    assert "along N (D = 20 N)" in repr(c1)


def test_crossings_along_a_path_have_intervals_from_draws():
    rng = np.random.default_rng(0)
    truth = EXAMPLES["busbridge_distillation"][0]
    draws = pd.DataFrame({k: v * np.exp(rng.normal(0, 0.02, 200)) for k, v in truth.items()})
    plain, distilled = _busbridge_pair(draws)
    draws_plain = pd.DataFrame({k: np.full(200, v) for k, v in BUSBRIDGE_SUPERVISED.items()})
    plain = Fit.from_params(SUPERVISED, BUSBRIDGE_SUPERVISED, draws=draws_plain)
    b = distillation_boundary(plain, distilled, at={"L_T": 2.3}, domain=(1e16, 1e25), along=compute_path(20))
    iv = b.intervals(0.9)
    row = iv.iloc[0] if "crossing_1" not in iv.index else iv.loc["crossing_1"]
    assert np.isfinite(row["lower"]) and row["lower"] < b.crossings[0] < row["upper"]


def test_bad_paths_are_refused_naming_the_fix():
    plain, distilled = _busbridge_pair()
    with pytest.raises(ScalefitError, match=r"path 'T' sets \['T'\], none of which is a variable of plain_fit"):
        distillation_boundary(plain, distilled, at={"L_T": 2.3, "N": 1e9, "D": 1e10}, domain=(1, 2),
                              along=Path("T", lambda t: {"T": t}, ("T",)))  # fmt: skip
    with pytest.raises(ScalefitError, match=r"at names 'N', which the axis C \(.*\) varies"):
        distillation_boundary(plain, distilled, at={"L_T": 2.3, "N": 1e9}, domain=(1e16, 1e20), along=compute_path())
    bad = Path("C", lambda c: {"N": c}, ("N", "D"))
    with pytest.raises(ScalefitError, match=r"mapping must return \{variable: value\} for exactly \['N', 'D'\]"):
        crossover(plain, distilled, axis=bad, at={"L_T": 2.3}, domain=(1e16, 1e20))
    with pytest.raises(ScalefitError, match="tokens_per_parameter must be a positive number"):
        compute_path(0)


def test_lr_schedule_areas():
    s1, s2 = lr_schedule_areas([1.0, 1.0, 0.5, 0.5], decay=0.5)
    np.testing.assert_allclose(s1, [1.0, 2.0, 2.5, 3.0])
    np.testing.assert_allclose(s2, [0.0, 0.0, 0.5, 0.75])  # momentum: 0, 0, 0.5, 0.25
    with pytest.raises(ScalefitError, match="decay"):
        lr_schedule_areas([1.0], decay=1.0)


# -- the Python algebra ---------------------------------------------------------------------
def test_the_python_algebra_builds_the_same_laws_as_formulas():
    from scalefit import Constant, Power, Variable, exp, log, maximum, minimum, sigmoid, softplus, sqrt

    n, e = Variable("N"), Variable("E")
    a, b, c, d = (Constant(k) for k in "abcd")
    clark = Law(exp(a * log(n) + b * log(e) + c * log(n) * log(e) + d))
    assert clark == parse_law("exp(a*log(N) + b*log(E) + c*log(N)*log(E) + d)")
    assert all(s.signed for s in clark.specs.values())  # inside exp: roles come from position, not from Constant
    tissue = Constant("L0") + Power("S1", "alpha", amplitude="A") - Constant("C") * Variable("S2")
    assert Law(tissue) == parse_law("L0 + A*S1^-alpha - C*S2", ["S1", "S2"])
    mixed = scalefit.chinchilla + exp(Constant("k") * n)
    assert str(mixed) == "E + A * N^-alpha + B * D^-beta + exp(k * N)" and isinstance(mixed.expr, Expression)
    assert str(-Constant("E") + 2 * sqrt(n) / 3 - 1) == "-E + 2 * sqrt(N) / 3 - 1"
    assert str(maximum(n, a) + minimum(n, b, c) * sigmoid(n) ** softplus(d)) == (
        "max(N, a) + min(N, b, c) * sigmoid(N)^softplus(d)"
    )
    with pytest.raises(ScalefitError, match=r"exp\(\): the term .*bend.* cannot be part of a general expression"):
        exp(scalefit.bnsl)
    with pytest.raises(TypeError, match=r"exp\(\): cannot combine a law with str 'N'"):
        exp("N")


def test_schedule_areas_of_a_warm_up_are_refused_naming_the_step():
    lr = np.r_[np.linspace(1e-5, 1e-3, 500), np.full(1500, 1e-3), np.linspace(1e-3, 1e-4, 1000)]
    with pytest.raises(ScalefitError, match=r"lr rises at step 1 \(a warm-up\?\).*S2 negative.*lr\[warmup_steps:\]"):
        lr_schedule_areas(lr)
    s1, s2 = lr_schedule_areas(lr[500:])  # after the warm-up: areas as the paper computes them
    assert s2.min() >= 0 and s2[-1] > 0 and s1[-1] == pytest.approx(lr[500:].sum())


def test_a_variable_that_is_0_in_some_runs_spans_the_decades_of_the_others():
    from scalefit.results import identify

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero leaked from here
        spans = identify._spans({"r": np.array([0.0, 0.1, 0.5, 1.0]), "z": np.zeros(3)})
    assert spans["r"] == (4, pytest.approx(1.0)) and spans["z"] == (1, 0.0)


def test_a_flat_direction_of_several_parameters_is_not_swept_one_parameter_at_a_time():
    """Mixture proportions that sum to 1: shifting every t_j by c is undone by k * exp(-c), so the
    t_j are flat only together. Sweeping t1 alone widened intervals to 125% of the prediction
    over values the runs rule out; only values the runs cannot tell apart may be swept."""
    law = scalefit.get_law("data_mixing")
    r = np.array([(i / 10, j / 10, (10 - i - j) / 10) for i in range(11) for j in range(11 - i)])
    runs = pd.DataFrame(r, columns=["r1", "r2", "r3"]).round(10)
    truth = dict(c=2.2, k=0.6, t1=-1.2, t2=0.4, t3=1.0)
    runs["y"] = law.evaluate(truth, runs) * (1 + 0.01 * np.random.default_rng(0).standard_normal(len(runs)))
    train, test = runs[runs.r1 < 0.8 - 1e-9], runs[runs.r1 >= 0.8 - 1e-9]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes on the flat direction
        fit = scalefit.fit_law(law, train, target="y", method=LeastSquares(bootstrap=100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = fit.predict(test, interval=0.9)
    width = ((p["pi_upper"] - p["pi_lower"]) / p["mean"]).to_numpy()
    assert np.all(width < 0.3) and not p["depends_on_unidentified"].any()
    assert np.mean((test["y"].to_numpy() >= p["pi_lower"]) & (test["y"].to_numpy() <= p["pi_upper"])) >= 0.5


def test_a_parameter_named_like_a_column_or_the_target_is_refused_before_work(tmp_path, capsys):
    """A formula takes names raised to a power as variables; a column's name written as a
    factor would be fitted as one constant. It is refused, naming the column and the fix
    (declare the variables), as is a parameter named like the target or a by= column; declared,
    the same formula fits the column as a variable."""
    rng = np.random.default_rng(4)
    runs = pd.DataFrame({"Dp": np.repeat([1e4, 1e5, 1e6], 5), "Df": np.tile([1e3, 3e3, 1e4, 3e4, 1e5], 3)})
    runs["err"] = 2.0 * runs.Dp**0.1 * runs.Df**-0.3 * np.exp(rng.normal(0, 0.005, len(runs)))
    runs["task"] = "a"
    with pytest.raises(ScalefitError, match=r"parameter 'Dp' with the name of a column.*--variables Df,Dp"):
        _fit(parse_law("b * Dp * Df^-c"), runs, target="err")
    with pytest.raises(ScalefitError, match="parameter 'err', the name of the target column"):
        _fit(parse_law("err + b * Df^-c"), runs, target="err")
    with pytest.raises(ScalefitError, match="by='task' is also the name of a parameter"):
        scalefit.fit_groups(parse_law("task + b * Df^-c"), runs, "task", target="err")
    fit = _fit(parse_law("b * Dp^a * Df^-c", ["Dp", "Df"]), runs, target="err", method=LeastSquares(bootstrap=0))
    assert fit.params["a"] == pytest.approx(0.1, abs=0.01) and fit.params["c"] == pytest.approx(0.3, abs=0.01)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    argv = ["fit", str(tmp_path / "runs.csv"), "--law", "b * Dp * Df^-c", "--target", "err", "--bootstrap", "0"]
    assert main(argv) == 2 and "--variables Df,Dp" in capsys.readouterr().err
    declared = [*argv[:3], "b * Dp^a * Df^-c", *argv[4:], "--variables", "Dp,Df", "--out", str(tmp_path / "f.json")]
    assert main(declared) == 0
    assert scalefit.load_fit(tmp_path / "f.json").law.variables == ("Dp", "Df")
    assert main([*argv, "--variables", "Dp,Dp"]) == 2 and "'Dp' twice" in capsys.readouterr().err
    assert main([*argv[:3], "chinchilla", *argv[4:], "--variables", "N"]) == 2
    assert "catalogue law 'chinchilla' has its own (N, D)" in capsys.readouterr().err


def test_refusals_of_negative_bounds_and_zero_variables_name_the_general_path_fix():
    """A bound below 0 for a general law's constant says how to let it be negative (signed=); a
    variable at 0 that the log-space form cannot take says to write the law as a general one."""
    n = np.geomspace(1e6, 1e9, 12)
    runs = pd.DataFrame({"N": n, "y": -0.5 + 3 * n**-0.1})
    with pytest.raises(ScalefitError, match=r"bounds low for 'c' must be > 0 .*signed=\['c'\]"):
        _fit(parse_law("-c + A*N^-alpha", ["N"]), runs, target="y", objective="squared", bounds={"c": (-1, 1)})
    zero = pd.DataFrame({"N": np.r_[0.0, n], "y": np.r_[1.0, 1 + n**-0.1]})
    with pytest.raises(ScalefitError, match=r"law variable 'N' must be > 0 .*parse_law\(formula, general=True\)"):
        _fit(parse_law("E + A*(N + d)^-alpha", ["N"]), zero, target="y")
    general = parse_law("E + A*(N + d)^-alpha", ["N"], general=True)
    assert "N" in general.expr.zero_allowed


def test_a_law_undefined_at_some_runs_or_configurations_names_them():
    """Clark's law takes log E: at E = 0 it is not defined. A fit whose runs include E = 0
    names the row (not only "not finite at any starting point"); a prediction there is NaN
    with a warning that says the law is not defined there (not "far outside the runs")."""
    rng = np.random.default_rng(0)
    runs = pd.DataFrame({"N": np.repeat([1e8, 3e8, 1e9, 3e9], 4), "E": np.tile([1.0, 4.0, 16.0, 64.0], 4)})
    truth = {"a": -0.08, "b": -0.03, "c": 0.003, "d": 1.5}
    runs["loss"] = np.asarray(scalefit.clark_moe.evaluate(truth, runs)) * np.exp(rng.normal(0, 0.005, 16))
    fit = _fit(scalefit.clark_moe, runs, target="loss", method=LeastSquares(bootstrap=100))
    undefined = r"law is not defined at the fitted parameters in row 0 \(e.g. N=1e\+09, E=0;"
    with pytest.warns(ScalingWarning, match=undefined):
        table = fit.predict({"N": [1e9, 1e9], "E": [0.0, 8.0]}, interval=0.9)
    assert np.isnan(table["mean"][0]) and np.isfinite(table[["mean", "pi_lower", "pi_upper"]].iloc[1]).all()
    bad = pd.concat([runs, pd.DataFrame({"N": [1e9], "E": [0.0], "loss": [3.0]})], ignore_index=True)
    with pytest.raises(ScalefitError, match=r"not finite and > 0 .* at any start in row 16 \(e.g. N=1e\+09, E=0\)"):
        _fit(scalefit.clark_moe, bad, target="loss", method=LeastSquares(bootstrap=0))


def test_a_saved_law_with_a_start_range_beyond_its_parameter_still_reads_back():
    """``parse_law`` refuses a start range below an exponent's 0; a law saved before that rule
    (its range is clipped into the bounds when starts are drawn) still reads back."""
    law = parse_law("E + A*x^-a", ["x"], general=True, starts={"a": (0.1, 1.0)})
    d = json.loads(json.dumps(law.to_dict()))
    d["expr"]["starts"] = {"a": [-0.5, 1.0]}
    assert Law.from_dict(d).expr.start_ranges == (("a", -0.5, 1.0),)
    with pytest.raises(ScalefitError, match="a is an exponent, fitted >= 0"):
        parse_law("E + A*x^-a", ["x"], general=True, starts={"a": (-0.5, 1.0)})


def test_a_target_below_zero_under_nuts_lognormal_noise_names_the_noise_fix():
    n = np.geomspace(1e6, 1e9, 12)
    runs = pd.DataFrame({"N": n, "y": -0.5 + 3 * n**-0.1})
    law = parse_law("c + A*N^-alpha", ["N"], signed=["c"])
    with pytest.raises(ScalefitError, match=r"NUTS's noise model takes log y — use NUTS\(noise='normal'\)"):
        _fit(law, runs, target="y", objective="squared", method=scalefit.NUTS(draws=10, warmup=10, chains=1))
    with pytest.raises(ScalefitError, match=r"the objective compares log values — use objective='squared'"):
        _fit(law, runs, target="y")
