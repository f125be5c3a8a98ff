"""Formula strings: parse_law builds the same terms a user composes, and refuses the rest."""

import re

import numpy as np
import pytest

import scalefit
from scalefit import Constant, Exponent, Law, Pow, Power, Product, ScalefitError, parse_law
from scalefit.cli.main import main

LOG_SPACE = [law for law in scalefit.list_laws().values() if not isinstance(law.expr, scalefit.Expression)]
GENERAL = [law for law in scalefit.list_laws().values() if isinstance(law.expr, scalefit.Expression)]


@pytest.mark.parametrize("law", LOG_SPACE, ids=lambda law: law.name)
def test_catalogue_round_trips_through_its_formula(law):
    again = parse_law(str(law), name=law.name)
    assert again.expr == law.expr
    assert again.variables == law.variables and again.parameters == law.parameters


@pytest.mark.parametrize("law", GENERAL, ids=lambda law: law.name)
def test_general_catalogue_laws_round_trip_through_formula_variables_and_signed(law):
    """A general law's text fixes its tree; which parameters are signed and where starts are drawn
    are given beside it (as the catalogue does)."""
    starts = {n: (lo, hi) for n, lo, hi in law.expr.start_ranges} or None
    again = parse_law(str(law), law.variables, name=law.name, signed=law.expr.signed or None, starts=starts,
                      general=True)  # fmt: skip
    assert again.expr == law.expr
    assert again.variables == law.variables and again.parameters == law.parameters


def test_chinchilla_from_a_formula():
    law = parse_law("E + A*N^-alpha + B*D^-beta", variables=("N", "D"), name="mine")
    assert law.expr == scalefit.chinchilla.expr and law.name == "mine"
    assert parse_law("E + A*N**-alpha + B*D**-beta").expr == law.expr  # ** works as ^; variables inferred


@pytest.mark.parametrize(
    ("formula", "expr"),
    [
        ("x^-a / lam", Power("x", "a", scale="lam")),
        ("A * x^-0.5", Power("x", 0.5, amplitude="A")),
        ("e + 1/x", Constant("e") + Power("x", 1.0)),
        ("e + x", Constant("e") + Power("x", -1.0)),
        ("e + x^2", Constant("e") + Power("x", -2.0)),
        ("A*x^-(1/2)", Power("x", 0.5, amplitude="A")),
        ("b * (1/x + g)^c", Constant("b") * (Power("x", 1) + Constant("g")) ** Exponent("c")),
        ("b * (x^-1 + g)^-c", Constant("b") * (Power("x", 1) + Constant("g")) ** -Exponent("c")),
        ("(x^-a + g)^(-0.5)", Pow(Power("x", "a") + Constant("g"), 0.5)),
        ("1 / (x^-a + g)", Pow(Power("x", "a") + Constant("g"), 1.0)),
        ("e / (A * x^-a)", Product((Constant("e"), Pow(Power("x", "a", amplitude="A"), 1.0)))),
        ("E + (A*x^-a + G) * y^-b", Constant("E") + (Power("x", "a", amplitude="A") + Constant("G")) * Power("y", "b")),
        ("B * x^-a / l", Product((Constant("B"), Power("x", "a", scale="l")))),
    ],
)
def test_formula_builds_the_term(formula, expr):
    variables = tuple(v for v in ("x", "y") if v in formula)
    law = parse_law(formula, variables=variables)
    assert law.expr == expr
    assert parse_law(str(law), variables=variables).expr == expr  # and its text reads back


def test_parsed_law_evaluates_as_written():
    law = parse_law("b * (1/x + g)^c + e / (A*x^-a)", variables=["x"])
    p = dict(b=2.0, g=0.01, c=0.4, e=0.3, A=5.0, a=0.2)
    x = np.array([3.0, 30.0, 3e4])
    np.testing.assert_allclose(law.evaluate(p, x=x), 2.0 * (1 / x + 0.01) ** 0.4 + 0.3 / (5.0 * x**-0.2), rtol=1e-13)


def test_as_law_takes_a_formula_but_not_a_catalogue_name():
    assert scalefit.as_law("e_inf + b*x^-c").expr == scalefit.revisiting_m2.expr
    with pytest.raises(TypeError, match="get_law"):
        scalefit.as_law("paper_error")


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("E - A*x^-a", r"subtraction is not supported.*'E - A\*x\^-a'"),
        ("E + exp(x^-a)", r"unknown function 'exp'; the functions are bend.*'exp\(x\^-a\)'"),
        ("E + 2*x^-a", r"number can only be an exponent.*'2'"),
        ("E + 3 + x^-a", r"number can only be an exponent.*'3'"),
        ("E + A*x^a", r"written with a minus sign, x\^-a"),
        ("E + A*x^-(a*b)", r"exponent must be a parameter name or a number.*'-\(a\*b\)'"),
        ("E + A*x^-y + B*y^-b", r"variable 'y' is in an exponent"),
        ("E + -x^-a", r"minus sign is only allowed in front of an exponent"),
        ("E + A*x^-a +", r"cannot be parsed"),
        ("E + x^-a / 2", r"dividing by a number"),
        ("E + A*x^-a + A*y^-b", r"'A' is used twice"),
        ("E + A*x^-E", r"'E' is used twice"),
        ("E + A[0]*x^-a", r"Subscript is not part of the formula language"),
        ("E + A", r"has no variable"),
    ],
)
def test_unsupported_formulas_are_refused_with_the_offending_part(formula, match):
    with pytest.raises(ScalefitError, match=match):
        parse_law(formula, general=False)


def test_variables_must_appear_and_be_names():
    with pytest.raises(ScalefitError, match=r"does not use variables \['D'\]"):
        parse_law("E + A*N^-a", variables=("N", "D"))
    with pytest.raises(TypeError, match="formula must be a string"):
        parse_law(Law(Constant("E")))


def test_cli_fit_takes_a_formula(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.geomspace(10, 1e5, 15)
    y = (0.05 + 3.0 * x**-0.4) * np.exp(rng.normal(0, 0.01, x.size))
    path = tmp_path / "runs.csv"
    path.write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in zip(x, y, strict=True)))
    out = tmp_path / "fit.json"
    argv = ["fit", str(path), "--law", "e + b*x^-c", "--target", "y", "--bootstrap", "0", "--out", str(out)]
    assert main(argv) == 0
    fit = scalefit.load_fit(out)
    assert set(fit.law.parameters) == {"e", "b", "c"}
    assert fit.params["c"] == pytest.approx(0.4, rel=0.1)
    capsys.readouterr()
    assert main(["fit", str(path), "--law", "e + foo(x)", "--target", "y"]) == 2
    err = capsys.readouterr().err
    assert "unknown function 'foo'" in err and err.count("\n") == 1
    assert main(["fit", str(path), "--law", "revisiting_m9", "--target", "y"]) == 2
    assert "formula" in capsys.readouterr().err


@pytest.mark.parametrize(("formula", "names"), [("N^1", r"\['N'\]"), ("N^-2 + D^-3", r"\['N', 'D'\]")])
def test_a_formula_without_parameters_is_refused_naming_it(formula, names):
    """'N^1' parsed, and fitting it said only 'every parameter is fixed or tied'."""
    with pytest.raises(
        ScalefitError, match=rf"formula {re.escape(repr(formula))} has no parameters to fit \(its names {names} are"
    ):
        parse_law(formula)


def test_a_catalogue_name_for_a_law_points_to_get_law_not_to_formulas():
    with pytest.raises(TypeError) as info:
        scalefit.fit_law(law="chinchilla", runs=scalefit.example_runs(), target="error")
    text = str(info.value)
    assert "got the name 'chinchilla' of a catalogue law" in text
    assert "scalefit.get_law('chinchilla') (or pass scalefit.chinchilla)" in text and "formula" not in text
    with pytest.raises(
        TypeError, match=r"got the string 'chinchila', which is neither a catalogue name \(did you mean"
    ):
        scalefit.as_law("chinchila")


def test_a_reciprocal_of_a_reciprocal_reads_back():
    """Found by the property test: ``1 / (1 / c0)`` was written ``1 / 1 / c0``, which does not parse."""
    law = Law(Pow(Pow(Constant("c0"), 1.0, -1), 1.0, -1) + Power("x", "a"))
    assert str(law) == "1 / (1 / c0) + x^-a"
    again = parse_law(str(law), variables=("x",))
    assert again.evaluate({"c0": 2.0, "a": 1.0}, {"x": 4.0}) == pytest.approx(2.25)
    # a formula of constants alone is refused, as a formula with no variable is (issue 21)
    with pytest.raises(ScalefitError, match=r"variables=\[\] for formula '1 / \(1 / c0\)': a law needs at least one"):
        parse_law(str(Law(Pow(Pow(Constant("c0"), 1.0, -1), 1.0, -1))), variables=())


def test_a_coefficient_over_a_fixed_power_reads_as_its_amplitude():
    """``c0 / Dp^-1`` is ``c0 * Dp^1``: both read as the power with amplitude c0, so the text a
    law prints is a fixed point (hypothesis found ``c0 / Dp^-1`` reading back as a product,
    whose text then read back as the amplitude form)."""
    from scalefit import parse_law

    law = parse_law("c0 / Dp^-1", variables=("Dp",))
    assert law == parse_law("c0 * Dp^1", variables=("Dp",)) == parse_law(str(law), variables=("Dp",))
    assert law.specs["c0"].role == "amplitude"
