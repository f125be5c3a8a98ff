"""Property tests over randomly composed laws: what holds for the catalogue holds for any law."""

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalefit import Constant, Law, Pow, Power, Product, ScalefitError, Sum, parse_law

jax.config.update("jax_enable_x64", True)

VARIABLES = ("Dp", "M", "Df")


@st.composite
def terms(draw, counter, depth=0):
    kind = draw(
        st.sampled_from(["constant", "power", "power", "sum", "product", "pow"] if depth < 2 else ["constant", "power"])
    )
    if kind == "constant":
        return Constant(f"c{next(counter)}")
    if kind == "power":
        i = next(counter)
        coef = draw(st.sampled_from(["scale", "amplitude", None]))
        kw = {coef: f"k{i}"} if coef else {}
        exponent = draw(st.sampled_from([f"a{i}", f"a{i}", 1.0, 0.5, -0.25]))
        return Power(draw(st.sampled_from(VARIABLES)), exponent, **kw)
    if kind == "pow":
        base = draw(terms(counter, depth + 1))
        exponent = draw(st.sampled_from([f"p{next(counter)}", 1.0, 2.0]))
        return Pow(base, exponent, draw(st.sampled_from([-1, 1])))
    children = draw(st.lists(terms(counter, depth + 1), min_size=2, max_size=3))
    return (Sum if kind == "sum" else Product)(tuple(children))


@st.composite
def laws(draw):
    return Law(draw(terms(itertools.count())))


def params_for(law, seed):
    rng = np.random.default_rng(seed)
    return {
        n: rng.uniform(0.1, 1.2) if s.role == "exponent" else np.exp(rng.uniform(-2, 2)) for n, s in law.specs.items()
    }


@settings(max_examples=30, deadline=None)
@given(laws(), st.integers(0, 2**31 - 1))
def test_random_law_properties(law, seed):
    assert Law.from_dict(json.loads(json.dumps(law.to_dict()))) == law
    assert len(set(law.parameters)) == len(law.parameters)
    p = params_for(law, seed)
    x = {v: np.geomspace(10.0, 1e8, 9) for v in law.variables}
    eager = np.broadcast_to(law.evaluate(p, x), (9,))
    assert np.all(np.isfinite(eager)) and np.all(eager > 0)
    jitted = jax.jit(lambda p, x: law.evaluate(p, x))({k: jnp.asarray(v) for k, v in p.items()}, x)
    np.testing.assert_allclose(np.broadcast_to(jitted, (9,)), eager, rtol=1e-12)
    theta = law.to_internal(p)
    logx = {k: np.log(v) for k, v in x.items()}
    np.testing.assert_allclose(np.exp(np.broadcast_to(law.log_evaluate(theta, logx), (9,))), eager, rtol=1e-10)


@settings(max_examples=40, deadline=None)
@given(laws(), st.integers(0, 2**31 - 1))
def test_random_law_formula_reads_back(law, seed):
    """``parse_law(str(law))`` gives a law with the same parameters and values (a Constant
    multiplying a bare power reads back as its amplitude: same value, another role), and
    its text is a fixed point. A law with nothing to fit (``Dp^-1``) or nothing to vary
    (no variable: ``c0^-p1``) is refused as a formula."""
    if not law.variables:
        with pytest.raises(ScalefitError, match="a law needs at least one variable"):
            parse_law(str(law), variables=law.variables)
        return
    if not law.parameters:
        with pytest.raises(ScalefitError, match="has no parameters to fit"):
            parse_law(str(law), variables=law.variables)
        return
    again = parse_law(str(law), variables=law.variables)
    assert set(again.parameters) == set(law.parameters) and again.variables == law.variables
    assert parse_law(str(again), variables=law.variables) == again
    p = params_for(law, seed)
    x = {v: np.geomspace(10.0, 1e8, 9) for v in law.variables}
    np.testing.assert_allclose(again.evaluate(p, x), law.evaluate(p, x), rtol=1e-10)
