"""Property-based fuzzing of every reader of user text (issue 21): the formula, cost and
row-filter parsers and ``load_fit``. Whatever the input, the answer is a result or a
:class:`~scalefit.ScalefitError` — never another exception — and a row filter never runs
code: no ``exec``/``eval``, no shell, no process, and no Python object it was not given.

A bounded number of examples (``max_examples=200``), derandomized so CI is reproducible.
"""

import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scalefit
from scalefit import LeastSquares, ScalefitError, ScalingWarning, load_fit, parse_law
from scalefit.decide.cost import parse_cost
from scalefit.tables.query import row_mask

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

#: Pieces of formulas, costs and filters — and of attacks on them.
PIECES = [
    *"NDE A alpha beta Dp Df M x y".split(),
    *"+ - * / ^ ** ( ) , . : [ ] { } ' \" ` @ & | ~ = < > ! % #".split(),
    *"== != <= >= in not and or is if else lambda for True False None".split(),
    *"1 0 -1 0.5 1e308 1e-320 inf nan 9999999999999999999999999999999999 0x1F 1_000 1j".split(),
    *"bend implicit saturate repeated log exp sqrt minimum maximum".split(),
    *"os system __import__ __class__ __globals__ __builtins__ eval exec open sys stage".split(),
    " ",
    "\n",
    "\t",
    "\x00",
    "Ｎ",
    "α",
    "ﬁ",
    "'distill'",
    "`my col`",
    "@os.system('touch pwned')",
]
TEXT = st.one_of(st.text(max_size=120), st.lists(st.sampled_from(PIECES), max_size=40).map(" ".join))
TIGHT = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
ANY_TEXT = st.one_of(TEXT, TIGHT)


def _grammar(atoms: list[str], operators: list[str], functions: list[str]):
    """Expressions built from the language's own pieces (mostly well-formed, so the fuzzing
    reaches past the parser), sometimes with a hostile piece spliced in."""
    leaf = st.sampled_from(atoms)
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(operators), inner).map(" ".join),
            inner.map(lambda e: f"({e})"),
            inner.map(lambda e: f"-{e}"),
            st.tuples(st.sampled_from(functions), st.lists(inner, min_size=1, max_size=4)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
        ),
        max_leaves=10,
    )
    spliced = st.tuples(tree, st.sampled_from(PIECES), st.integers(0, 200)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )
    return st.one_of(tree, tree, spliced, ANY_TEXT)


#: Well-formed formulas and filters, so that many examples get past the parser.
GOOD_FORMULAS = st.lists(
    st.sampled_from(
        [
            "E",
            "A*N^-alpha",
            "B*D^-beta",
            "N^-0.5",
            "C*(1/N + g)^-c",
            "bend(N, c1, d1, f1)",
            "saturate(A2*D^-a2, S)",
            "D^-p / lam",
            "repeated(D, U, R)",
        ]  # fmt: skip
    ),
    min_size=1,
    max_size=5,
    unique=True,
).map(" + ".join)
CONDITIONS = st.one_of(
    st.tuples(
        st.sampled_from(["N", "D", "x", "N * 2", "D ^ 2", "x % 2", "-N", "(N - D) / 2", "stage", "`my col`"]),
        st.sampled_from(["<", ">=", "==", "!=", "in", "not in"]),
        st.sampled_from(["1e6", "2", "0", "-1", "1e308", "x", "'distill'", "True", "[1, 'pre']"]),
    ).map(" ".join),
    st.sampled_from(
        [
            "stage == 'distill'",
            "stage in ['pre', 'distill']",
            "stage not in ('pre',)",
            "`my col`",
            "not `my col`",
            "1 < D <= 3",
            "~(x > 0)",
        ]  # fmt: skip
    ),
)
GOOD_QUERIES = st.recursive(
    CONDITIONS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or", "&", "|"]), inner).map(" ".join),
        inner.map(lambda e: f"not ({e})"),
    ),
    max_leaves=6,
)
FORMULAS = st.one_of(
    GOOD_FORMULAS,
    _grammar(
        ["N", "D", "E", "A", "B", "alpha", "A*N^-alpha", "B*D^-beta", "N^-0.5", "x^-c", "1/x", "g", "2", "1e308"],
        ["+", "*", "/", "^", "**", "-"],
        ["bend", "saturate", "implicit", "repeated", "log"],
    ),
)
COSTS = _grammar(
    ["N", "D", "6", "1e-4", "3.6e12", "0", "1e308", "-1", "N*D", "M"],
    ["+", "-", "*", "/", "^"],
    ["log", "log10", "exp", "sqrt", "minimum", "maximum", "eval"],
)
QUERIES = st.one_of(
    GOOD_QUERIES,
    _grammar(
        ["N", "D", "x", "stage", "`my col`", "1e6", "2", "-1", "'distill'", "True", "['pre', 'distill']", "(1, 2)"],
        ["+", "-", "*", "/", "//", "%", "**", "^", "==", "!=", "<", "<=", ">=", "and", "or", "&", "|", "in", "not in"],
        ["not", "abs", "len"],
    ),
)


@FUZZ
@given(FORMULAS)
def test_formula_parser(text):
    try:
        law = parse_law(text)
    except ScalefitError:
        return
    assert law.parameters and law.variables
    assert parse_law(str(law), variables=law.variables).parameters == law.parameters


@FUZZ
@given(COSTS)
def test_cost_parser(text):
    try:
        cost = parse_cost(text, ["N", "D"], owner="law 'chinchilla'")
    except ScalefitError:
        return
    value = cost({"N": np.array([1e6, 2e6]), "D": np.array([1e9, 3e9])})
    assert isinstance(value, np.ndarray) and value.dtype == float


class _Tripwire:
    """A value the filter must never touch (it names no column holding it)."""

    touched = []

    def __getattribute__(self, name):
        _Tripwire.touched.append(name)
        return object.__getattribute__(self, name)

    def __eq__(self, other):
        _Tripwire.touched.append("__eq__")
        return False

    __hash__ = object.__hash__


FRAME = pd.DataFrame(
    {
        "N": [1e6, 2e6, np.nan],
        "D": [1.0, 2.0, 3.0],
        "x": [0, 1, 2],
        "stage": ["distill", None, "pre"],
        "my col": [True, False, True],
        "hidden": [_Tripwire(), _Tripwire(), _Tripwire()],
    }
)
_EVENTS = []
_WATCHING = [False]
_FORBIDDEN = ("exec", "os.system", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork", "os.spawn", "open")


def _audit(event, args):
    if _WATCHING[0] and event.startswith(_FORBIDDEN):
        _EVENTS.append(event)


sys.addaudithook(_audit)


def _forbidden(*args, **kwargs):
    raise AssertionError("pandas query/eval reached")


@FUZZ
@given(QUERIES)
def test_query_parser_runs_no_code(text):
    _EVENTS.clear()
    _Tripwire.touched.clear()
    with pytest.MonkeyPatch.context() as m:
        for owner, name in ((pd.DataFrame, "query"), (pd.DataFrame, "eval"), (pd, "eval")):
            m.setattr(owner, name, _forbidden)
        _WATCHING[0] = True
        try:
            mask = row_mask(FRAME, text, argument="--where")
        except ScalefitError:
            mask = None
        finally:
            _WATCHING[0] = False
    assert _EVENTS == [] and _Tripwire.touched == []
    if mask is not None:
        assert mask.dtype == bool and mask.shape == (len(FRAME),)


@pytest.fixture(scope="module")
def fit_dict():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)  # the fit's notes, not what is tested here
        fit = scalefit.fit_law(
            "E + A*Dp^-alpha", scalefit.example_runs(), target="error", seed=0, method=LeastSquares(bootstrap=8)
        )
    return json.loads(fit.to_json())


#: Values a damaged or hostile fit file may hold anywhere.
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([10**350, -(10**350), 2**63, -1, 0]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "", "E + A*Dp^-alpha", "lsq", "bayes", "huber", "\x00"]),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _paths(d, prefix=()):
    """Every path to a value in a JSON tree."""
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, (*prefix, i))


def _set(d, path, value):
    if not path:
        return value
    *head, last = path
    node = d
    for k in head:
        node = node[k]
    node[last] = value
    return d


@FUZZ
@given(data=st.data())
def test_load_fit_refuses_or_loads(fit_dict, data):
    d = json.loads(json.dumps(fit_dict))
    paths = list(_paths(d))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        if data.draw(st.booleans()) and path:  # drop a field or an element
            *head, last = path
            node = d
            try:
                for k in head:
                    node = node[k]
                del node[last]
            except (KeyError, IndexError, TypeError):
                pass
        else:
            try:
                d = _set(d, path, data.draw(JSON_VALUES))
            except (KeyError, IndexError, TypeError):
                pass
        paths = list(_paths(d))
    text = json.dumps(d)
    if data.draw(st.booleans()):  # and damage the text itself
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + data.draw(st.sampled_from(["", "NaN", "1" * 5000, "}", '"', "\\u0000", "[" * 3000]))
    try:
        fit = load_fit(text)
    except ScalefitError:
        return
    assert fit is not None
