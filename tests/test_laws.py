"""Law algebra, the catalogue, and the conformance suite every catalogue law passes."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalefit
from scalefit import Constant, Law, Power, ScalefitError
from scalefit.laws.published import EXAMPLES

jax.config.update("jax_enable_x64", True)

CATALOGUE = list(scalefit.list_laws().values())
#: Catalogue laws whose target is positive (every law but Tao et al.'s unigram-normalised loss).
POSITIVE = [law for law in CATALOGUE if law.name != "tao_vocabulary"]


def random_params(law, rng, n=None):
    shape = () if n is None else (n,)
    if law.name in EXAMPLES:  # a general law: around its typical point (signed parameters shifted, others scaled)
        typical = EXAMPLES[law.name][0]
        return {
            k: v + rng.uniform(-0.05, 0.05, shape) if law.specs[k].signed else v * np.exp(rng.uniform(-0.1, 0.1, shape))
            for k, v in typical.items()
        }
    out = {}
    for name, spec in law.specs.items():
        if spec.role == "exponent":
            out[name] = rng.uniform(0.05, 1.5, shape)
        else:
            out[name] = np.exp(rng.uniform(-3, 3, shape))
    return out


def random_variables(law, rng, n=25):
    if law.name in EXAMPLES:
        ranges = EXAMPLES[law.name][1]
        return {v: rng.uniform(*ranges[v], n) if ranges[v][0] == 0 else np.exp(rng.uniform(*np.log(ranges[v]), n))
                for v in law.variables}  # fmt: skip
    return {v: np.exp(rng.uniform(np.log(10.0), np.log(1e9), n)) for v in law.variables}


# -- conformance: every catalogue law --------------------------------------------------
@pytest.mark.parametrize("law", CATALOGUE, ids=lambda law: law.name)
class TestConformance:
    def test_unique_names(self, law):
        assert len(set(law.parameters)) == len(law.parameters)
        assert not set(law.parameters) & set(law.variables)
        assert all(n.isidentifier() for n in law.parameters + law.variables)

    def test_documented(self, law):
        assert law.reference and law.description
        assert law.formula() in str(law)

    def test_jit_equals_eager_and_numpy(self, law):
        rng = np.random.default_rng(1)
        p, x = random_params(law, rng), random_variables(law, rng)
        eager = law.evaluate(p, x)
        assert isinstance(eager, np.ndarray)
        pj = {k: jnp.asarray(v) for k, v in p.items()}
        xj = {k: jnp.asarray(v) for k, v in x.items()}
        jitted = jax.jit(lambda p, x: law.evaluate(p, x))(pj, xj)
        assert isinstance(jitted, jax.Array)
        np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-12)

    def test_vmap_over_parameters(self, law):
        rng = np.random.default_rng(2)
        p, x = random_params(law, rng, n=7), random_variables(law, rng)
        pj = {k: jnp.asarray(v) for k, v in p.items()}
        batched = jax.vmap(lambda q: law.evaluate(q, x))(pj)
        assert batched.shape == (7, 25)
        for i in range(7):
            np.testing.assert_allclose(batched[i], law.evaluate({k: v[i] for k, v in p.items()}, x), rtol=1e-12)

    def test_log_evaluate_is_log_of_evaluate(self, law):
        if law not in POSITIVE:
            pytest.skip("the log of a law whose target is negative is undefined; see test_negative_target_laws")
        rng = np.random.default_rng(3)
        p, x = random_params(law, rng), random_variables(law, rng)
        logx = {k: jnp.log(v) for k, v in x.items()}
        theta = {k: jnp.asarray(v) for k, v in law.to_internal(p).items()}
        np.testing.assert_allclose(np.exp(law.log_evaluate(theta, logx)), law.evaluate(p, x), rtol=1e-10)

    def test_internal_round_trip(self, law):
        p = random_params(law, np.random.default_rng(4))
        back = law.from_internal(law.to_internal(p))
        for k in p:
            assert back[k] == pytest.approx(p[k], rel=1e-12)

    def test_json_round_trip(self, law):
        again = Law.from_dict(json.loads(json.dumps(law.to_dict())))
        assert again == law
        assert again.formula() == law.formula()

    def test_finite_on_domain_and_positive_where_the_target_is(self, law):
        rng = np.random.default_rng(5)
        outs = [law.evaluate(*(random_params(law, rng), random_variables(law, rng))) for _ in range(20)]
        assert np.all(np.isfinite(outs))
        assert np.all(np.asarray(outs) > 0) == (law in POSITIVE)

    def test_latex(self, law):
        tex = law.latex()
        assert "\\" in tex and tex.count("{") == tex.count("}")


# -- specific laws ---------------------------------------------------------------------
def test_paper_eq1_formula_and_value():
    law = scalefit.paper_error
    assert law.formula() == "E_inf + Dp^-alpha / lambda_p + M^-beta / lambda_m + Df^-gamma / lambda_f"
    p = dict(E_inf=0.05, alpha=0.4, lambda_p=0.1, beta=0.5, lambda_m=0.006, gamma=0.35, lambda_f=0.25)
    by_hand = 0.05 + 1e5**-0.4 / 0.1 + 1e7**-0.5 / 0.006 + 1e4**-0.35 / 0.25
    assert law.evaluate(p, Dp=1e5, M=1e7, Df=1e4) == pytest.approx(by_hand, rel=1e-14)


def test_distilled_law_has_teacher_term_with_paper_names():
    law = scalefit.paper_distilled
    assert law.variables == ("Dp", "M", "Df", "Mt")
    assert law.specs["beta_prime"].variable == "M"  # student
    assert law.specs["eta_prime"].variable == "Mt"  # teacher
    assert "\\alpha'" in law.latex() and "\\lambda'_{p}" in law.latex()


def test_transfer_gap_floor_is_gap_times_finetune_term():
    law = scalefit.transfer_gap
    p = dict(E=0.1, A=50.0, alpha=0.5, G=2.0, beta=0.3)
    far = law.evaluate(p, Dp=1e30, Df=1e3)
    assert far == pytest.approx(0.1 + 2.0 * 1e3**-0.3, rel=1e-12)
    assert law.formula() == "E + (A * Dp^-alpha + G) * Df^-beta"


def test_chinchilla_value():
    p = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    expect = 1.69 + 406.4 * 70e9**-0.34 + 410.7 * 1.4e12**-0.28
    assert scalefit.chinchilla.evaluate(p, N=70e9, D=1.4e12) == pytest.approx(expect, rel=1e-14)


def test_scale_and_amplitude_forms_agree():
    a = Law(Power("x", "k", scale="lam"))
    b = Law(Power("x", "k", amplitude="A"))
    x = np.array([1.0, 10.0, 1000.0])
    np.testing.assert_allclose(a.evaluate({"k": 0.7, "lam": 0.25}, x=x), b.evaluate({"k": 0.7, "A": 4.0}, x=x))
    assert a.to_internal({"k": 0.7, "lam": 0.25})["lam"] == pytest.approx(np.log(4.0))


def test_user_law_in_one_line_and_composes_with_catalogue():
    law = Constant("E") + Power("Dp", "a", scale="l") * Power("Df", "b")
    assert isinstance(law, scalefit.Term)
    assert scalefit.as_law(law).parameters == ("E", "a", "l", "b")
    bigger = scalefit.chinchilla + Power("Dp", "gamma", amplitude="C")
    assert bigger.variables == ("N", "D", "Dp")


# -- errors ----------------------------------------------------------------------------
def test_name_clash_says_how_to_rename():
    with pytest.raises(ScalefitError, match=r"'alpha' is used twice.*alpha_2.*tie="):
        Power("Dp", "alpha", scale="lambda_p") + Power("Df", "alpha", scale="lambda_f")


def test_parameter_named_like_variable_is_an_error():
    with pytest.raises(ScalefitError, match="both as a variable and as a parameter"):
        Constant("Dp") + Power("Dp", "alpha")


def test_power_with_scale_and_amplitude_is_an_error():
    with pytest.raises(ScalefitError, match="give one"):
        Power("x", "a", scale="l", amplitude="A")


def test_invalid_names_and_operands():
    with pytest.raises(ScalefitError, match="not a valid name"):
        Constant("E inf")
    with pytest.raises(TypeError, match="Constant"):
        Constant("E") + 1.0


def test_missing_params_and_variables_are_named():
    law = scalefit.paper_error
    with pytest.raises(ScalefitError, match=r"missing \['lambda_f'\]"):
        law.evaluate({n: 1.0 for n in law.parameters if n != "lambda_f"}, Dp=1, M=1, Df=1)
    with pytest.raises(ScalefitError, match=r"needs variables \['Df'\]"):
        law.evaluate({n: 1.0 for n in law.parameters}, Dp=1, M=1)


def test_unknown_catalogue_name_lists_the_catalogue():
    with pytest.raises(ScalefitError, match="paper_error"):
        scalefit.get_law("paper_eror")


def test_replace_gives_a_new_law():
    law = scalefit.transfer_gap.replace(metric="error_rate", name="transfer_gap_error")
    assert law.metric == "error_rate" and scalefit.transfer_gap.metric is None
    assert law.expr == scalefit.transfer_gap.expr


# -- fixed exponents, powers of laws, division ------------------------------------------
def test_fixed_exponent_has_no_parameter():
    law = Law(Power("x", 0.5, amplitude="A"))
    assert law.parameters == ("A",) and law.formula() == "A * x^-0.5"
    assert law.evaluate({"A": 3.0}, x=4.0) == pytest.approx(1.5)
    assert str(Power("x", 1)) == "x^-1" and str(Power("x", -2.0)) == "x^2"
    assert Power("x", 1).exponent == 1.0 and isinstance(Power("x", 1).exponent, float)
    with pytest.raises(ScalefitError, match="non-zero"):
        Power("x", 0.0)
    with pytest.raises(ScalefitError, match="non-zero"):
        Power("x", float("nan"))


def test_power_of_a_law_is_exact_in_log_space():
    from scalefit import Exponent, Pow

    m3 = Law(Constant("b") * (Power("x", 1) + Constant("g")) ** -Exponent("c"))
    assert m3.formula() == "b * (x^-1 + g)^-c"
    assert m3.latex() == "b\\,\\left(x^{-1} + g\\right)^{-c}"
    assert m3.specs["c"] == scalefit.ParamSpec("c", "exponent", "x")
    p = dict(b=2.0, g=1e-3, c=0.7)
    x = np.array([1.0, 1e2, 1e6])
    np.testing.assert_allclose(m3.evaluate(p, x=x), 2.0 * (1 / x + 1e-3) ** -0.7, rtol=1e-14)
    # log space stays finite where the linear value underflows
    theta = m3.to_internal({**p, "c": 400.0})
    assert np.all(np.isfinite(m3.log_evaluate(theta, {"x": np.log(x)})))
    assert (Power("x", "a") + Constant("g")) ** 2 == Pow(Power("x", "a") + Constant("g"), 2.0, sign=1)
    assert Pow(Constant("g"), -2.0) == Pow(Constant("g"), 2.0, sign=1)


def test_division_is_a_product_with_a_reciprocal():
    from scalefit import Pow

    law = Law(Constant("E") / (Power("x", "a", amplitude="A") + Constant("G")))
    assert law.formula() == "E / (A * x^-a + G)"
    assert law.expr.terms[1] == Pow(Power("x", "a", amplitude="A") + Constant("G"), 1.0)
    p = dict(E=2.0, A=3.0, a=0.5, G=0.1)
    assert law.evaluate(p, x=4.0) == pytest.approx(2.0 / (1.5 + 0.1))
    assert str(1 / Constant("b")) == "1 / b"
    with pytest.raises(TypeError, match="only 1 / term"):
        2 / Constant("b")
    with pytest.raises(TypeError, match="Exponent"):
        Constant("b") ** "c"


def test_exponent_of_a_power_cannot_reuse_a_name():
    from scalefit import Exponent

    with pytest.raises(ScalefitError, match="'g' is used twice"):
        (Power("x", 1) + Constant("g")) ** -Exponent("g")
    with pytest.raises(ScalefitError, match="both as a variable and as a parameter"):
        (Power("x", 1) + Constant("g")) ** -Exponent("x")


def test_saved_powers_are_checked():
    with pytest.raises(ScalefitError, match="expected 1 or -1"):
        scalefit.Law.from_dict(
            {"expr": {"type": "pow", "base": {"type": "constant", "name": "g"}, "exponent": "c", "sign": 2}}
        )
    with pytest.raises(ScalefitError, match="parameter name or a number"):
        scalefit.Law.from_dict({"expr": {"type": "power", "variable": "x", "exponent": True}})


def test_unit_carriers_follow_powers_of_sums():
    from scalefit.fitting.problem import unit_carriers

    plans = unit_carriers(scalefit.revisiting_m3)
    assert plans == [("x", ((-1.0, ()),), ["g"]), ("x", ((1.0, ("c",)),), ["b"])]
    assert unit_carriers(Law(Constant("e") + Power("x", "a"))) == [("x", (), None)]  # nothing can carry x's unit
