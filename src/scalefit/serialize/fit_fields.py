"""The fields of a fit file, checked one by one, and the :class:`~scalefit.Fit` they build.

:data:`FIELDS` is the one table of a fit file's top-level keys: whether each is required,
the JSON type the header checks and the :class:`FitReader` method that reads it; adding a
field is one line there (and its reading). :class:`FitReader` checks the format and version
(:meth:`FitReader.header`), what was fitted (law, method, objective, mapping, problem) and
the result (params, status, starts, identifiability); the runs, draws and diagnostics are
read by :class:`~scalefit.serialize.run_fields.RunFieldsReader`, which it extends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from scalefit import validate as check
from scalefit.errors import ScalefitError
from scalefit.fitting.convergence import STATUS_TEXT
from scalefit.fitting.objective import OBJECTIVES, Objective
from scalefit.fitting.problem import Problem
from scalefit.laws.law import Law
from scalefit.results.diagnostics import NOISES
from scalefit.results.domain import domain, inside
from scalefit.results.fit import Fit
from scalefit.results.identify import Identifiability
from scalefit.results.record import FORMAT
from scalefit.results.reports import BayesReport, BootstrapReport, Convergence, FittedRuns, Setup, StartsReport
from scalefit.serialize.checked import json_kind
from scalefit.serialize.run_fields import RunFieldsReader

METHODS = ("lsq", "bayes", "given")

#: Every top-level key of a fit file: key -> (required?, the JSON type :meth:`FitReader.header`
#: checks before anything is read (None: checked where it is read), the :class:`FitReader` method
#: that reads it). The header's lists of required and optional keys follow this table, in its order.
FIELDS: dict[str, tuple[bool, type | tuple[type, ...] | None, str]] = {
    "format": (True, str, "header"),
    "law": (True, dict, "law"),
    "method": (True, str, "fit"),
    "objective": (True, dict, "objective"),
    "target": (True, str, "fit"),
    "mapping": (True, dict, "mapping"),
    "problem": (True, dict, "problem"),
    "params": (True, dict, "params"),
    "value": (True, (int, float, str), "fit"),
    "status": (True, dict, "status"),
    "starts": (True, dict, "starts"),
    "identifiability": (True, dict, "identifiability"),
    "residuals": (True, list, "fit"),
    "ranges": (True, dict, "ranges"),
    "n_runs": (True, int, "fit"),
    "scalefit_version": (False, None, "header"),
    "draws": (False, None, "draws"),
    "bootstrap_converged": (False, None, "share"),
    "seed": (False, None, "fit"),
    "source": (False, None, "fit"),
    "notes": (False, None, "fit"),
    "chains": (False, None, "fit"),
    "noise": (False, None, "fit"),
    "diagnostics": (False, None, "diagnostics"),
    "data": (False, None, "data"),
    "priors": (False, None, "fit"),
    "bounds": (False, None, "bounds"),
    "misfit": (False, None, "misfit"),
    "bootstrap_requested": (False, None, "fit"),
    "bootstrap_clusters": (False, None, "fit"),
    "extrapolation": (False, None, "extrapolation"),
}
_REQUIRED = {key: want for key, (required, want, _) in FIELDS.items() if required}
_OPTIONAL = tuple(key for key, (required, _, _) in FIELDS.items() if not required)
_JSON_TYPE = {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "true or false"}


def _newer(version: str, than: str) -> bool | None:
    """Whether scalefit ``version`` is newer than ``than`` by their release numbers
    (``0.2.0`` > ``0.1.3``); ``None`` when either has none (``0+unknown`` is a source tree)."""
    if than.startswith("0+"):  # this scalefit runs from an unversioned source tree
        return None
    parts = []
    for v in (version, than):
        m = re.match(r"^v?(\d+(?:\.\d+)*)", v.strip())
        if m is None:
            return None
        parts.append([int(x) for x in m.group(1).split(".")])
    a, b = parts
    width = max(len(a), len(b))
    return a + [0] * (width - len(a)) > b + [0] * (width - len(b))


class FitReader(RunFieldsReader):
    """Checks a parsed fit file field by field and builds the :class:`Fit`.

    Every refusal names the file (``label``) and the field (``params['alpha']``), shows the
    value, says what is allowed and ends with the fix (saving again with ``saver``).
    """

    def fit(self, d: Mapping[str, Any]) -> Fit:
        from scalefit.version import __version__

        self.header(d, __version__)
        law = self.law(d["law"])
        method = self.text(d["method"], "method")
        if method not in METHODS:
            raise self.fail("method", f"= {method!r} is not one of {', '.join(map(repr, METHODS))}")
        objective = self.objective(d["objective"])
        target = self.text(d["target"], "target")
        if not target.strip():
            raise self.fail("target", f"= {target!r} must name the column that was fitted (a non-empty string)")
        mapping = self.mapping(d["mapping"], law)
        problem = self.problem(d["problem"], law)
        bounds = self.bounds(d.get("bounds"), law)
        params = self.params(d["params"], law, problem, bounds, method)
        n_runs = self.integer(d["n_runs"], "n_runs", 0 if method == "given" else 1)
        residuals = self.numbers(d["residuals"], "residuals", finite=True)
        if method != "given" and len(residuals) != n_runs:
            raise self.fail("residuals", f"has {len(residuals)} values but n_runs is {n_runs}")
        chains = self.integer(d.get("chains", 1), "chains", 1)
        noise = self.text(d.get("noise"), "noise", optional=True)
        if noise is not None and noise not in NOISES:
            raise self.fail("noise", f"= {noise!r} is not one of {', '.join(map(repr, NOISES))}")
        if (method == "bayes") != (noise is not None):
            raise self.fail("noise", f"= {noise!r} does not go with method {method!r} (only 'bayes' has a noise model)")
        diagnostics = self.diagnostics(d.get("diagnostics"), method)
        data = self.data(d.get("data"), law, n_runs)
        requested = self.integer(d.get("bootstrap_requested"), "bootstrap_requested", 1, optional=True)
        converged = self.share(d.get("bootstrap_converged"))
        clusters, cluster_count = self.clusters(d.get("bootstrap_clusters"), law, requested)
        if clusters is not None and data is not None:
            held = int(np.unique(np.asarray(data["x"][clusters], dtype=float)).size)
            if held != cluster_count:
                raise self.fail(
                    "bootstrap_clusters.count",
                    f"= {cluster_count}, but the stored runs hold {clusters} at {held} distinct values",
                )
        draws = self.draws(d.get("draws"), law, problem, method, diagnostics, requested, converged)
        self.consistent(law, params, method, objective, residuals, data, draws)
        notes = self.lst(d.get("notes", []), "notes")
        for i, n in enumerate(notes):
            self.text(n, f"notes[{i}]")
        priors = d.get("priors")
        if priors is not None:
            for k, v in self.obj(priors, "priors").items():
                self.text(v, f"priors[{k!r}]")
        return Fit(
            law=law,
            target=target,
            params=params,
            value=self.number(d["value"], "value"),
            status=self.status(d["status"]),
            starts=self.starts(d["starts"], law),
            identifiability=self.identifiability(d["identifiability"], law),
            setup=Setup(
                method=method,
                objective=objective,
                mapping=mapping,
                problem=problem,
                seed=self.integer(d.get("seed", 0), "seed", 0),
                source=self.text(d.get("source", ""), "source"),
            ),
            runs=FittedRuns(
                n_runs=n_runs,
                ranges=self.ranges(d["ranges"], law, method),
                residuals=residuals,
                data=data,
                misfit=self.misfit(d.get("misfit"), law),
                extrapolation=self.extrapolation(d.get("extrapolation"), law),
            ),
            draws=draws,
            bounds=bounds,
            bootstrap=BootstrapReport(requested, converged, clusters, cluster_count),
            bayes=None if noise is None else BayesReport(noise, chains, diagnostics or {}, priors or {}),
            notes=tuple(notes),
        )

    def header(
        self,
        d: Mapping[str, Any],
        installed: str,
        expected: str = FORMAT,
        required: Mapping[str, type | tuple] = _REQUIRED,
        optional: tuple[str, ...] = _OPTIONAL,
    ) -> None:
        """Check the format, the version, the fields present and their JSON types."""
        fmt = d.get("format")
        if fmt != expected:
            if isinstance(fmt, str) and fmt.startswith(expected.rsplit("/", 1)[0] + "/"):
                raise ScalefitError(
                    f"{self.label}: format {fmt!r} is not one this scalefit ({installed}) reads (it reads "
                    f"{expected!r}); the file was written by another scalefit version"
                    + (f" ({d['scalefit_version']})" if isinstance(d.get("scalefit_version"), str) else "")
                    + " — upgrade scalefit (pip install -U scalefit) to load it, or refit"
                )
            shown = "no 'format' field" if "format" not in d else f"format {fmt!r:.60}"
            raise ScalefitError(
                f"{self.label}: not a scalefit fit file ({shown}, expected {expected!r}); give a file written by "
                "fit.to_json(path)"
            )
        version = d.get("scalefit_version")
        if version is not None and not isinstance(version, str):
            raise self.fail("scalefit_version", f"must be a string, got {version!r:.60}")
        unknown = [k for k in d if k not in required and k not in optional]
        if unknown:
            newer = None if version is None else _newer(version, installed)
            written = "an unknown scalefit version" if version is None else f"scalefit {version}"
            if newer:
                raise ScalefitError(
                    f"{self.label}: has fields {unknown} that this scalefit ({installed}) does not know; the file "
                    f"was written by {written}, which is newer — upgrade scalefit (pip install -U scalefit) to "
                    "load it"
                )
            raise ScalefitError(
                f"{self.label}: has unknown fields {unknown}{check.suggest(unknown[0], [*required, *optional])} "
                f"(written by {written}, read by scalefit {installed}): the file may come from a newer scalefit "
                f"— upgrade scalefit if so; otherwise {self.damaged}"
            )
        missing = [k for k in required if k not in d]
        if missing:
            raise ScalefitError(
                f"{self.label}: missing fields {missing}; the file is damaged or from an incompatible "
                f"scalefit version — {self.refit}"
            )
        for key, want in required.items():
            value = d[key]
            wants = want if isinstance(want, tuple) else (want,)
            if isinstance(value, bool) or not isinstance(value, wants):
                what = "a number" if key == "value" else _JSON_TYPE[want]
                raise self.fail(key, f"must be {what}, got {json_kind(value)}")

    def law(self, d: dict) -> Law:
        try:
            self.obj(d.get("expr"), "law['expr']")
            law = Law.from_dict(d)
        except ScalefitError as exc:
            if str(exc).startswith(self.label):
                raise
            raise self.fail("law", f"cannot be rebuilt: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            what = f"has no field {exc}" if isinstance(exc, KeyError) else f"cannot be rebuilt ({exc})"
            raise self.fail("law", what) from None
        for key in ("name", "reference", "description"):
            self.text(d.get(key, ""), f"law[{key!r}]")
        return law

    def objective(self, d: dict) -> Objective:
        self.keys(d, "objective", ("name",), ("delta",))
        name = self.text(d["name"], "objective['name']")
        if name not in OBJECTIVES:
            raise self.fail("objective['name']", f"= {name!r} is not one of {', '.join(map(repr, OBJECTIVES))}")
        delta = d.get("delta")
        if name == "huber":
            delta = self.number(delta, "objective['delta']", finite=True)
            if not delta > 0:
                raise self.fail("objective['delta']", f"= {delta!r} must be > 0 (the Huber threshold)")
        elif delta is not None:
            raise self.fail("objective['delta']", f"= {delta!r}: only objective 'huber' has a delta (null otherwise)")
        return Objective(name, delta)

    def mapping(self, d: dict, law: Law) -> dict[str, str]:
        self.keys(d, "mapping", law.variables)
        return {v: self.text(d[v], f"mapping[{v!r}]") for v in law.variables}

    def problem(self, d: dict, law: Law) -> Problem:
        names = law.parameters
        self.keys(d, "problem", ("free", "fixed", "tied", "lo", "hi"), ("centres",))
        free = self.names(d["free"], "problem['free']", names, "parameter")
        fixed = {}
        for k, v in self.obj(d["fixed"], "problem['fixed']").items():
            if k not in names:
                raise self.fail("problem['fixed']", f"names {k!r}, which is not a parameter of the law")
            fixed[k] = self.number(v, f"problem['fixed'][{k!r}]", finite=True)
        tied = {}
        for k, v in self.obj(d["tied"], "problem['tied']").items():
            if k not in names or v not in names:
                raise self.fail("problem['tied']", f"ties {k!r} to {v!r}; both must be parameters of the law")
            tied[k] = v
        groups = [*free, *fixed, *tied]
        if sorted(groups) != sorted(names):
            raise self.fail(
                "problem", f"does not give every parameter exactly one of free/fixed/tied (free {free}, "
                f"fixed {list(fixed)}, tied {list(tied)})"
            )  # fmt: skip
        ends = []
        for key, infinite in (("lo", -math.inf), ("hi", math.inf)):
            values = self.lst(d[key], f"problem[{key!r}]")
            if len(values) != len(free):
                raise self.fail(f"problem[{key!r}]", f"has {len(values)} values for {len(free)} free parameters")
            ends.append(
                np.array(
                    [infinite if v is None else self.number(v, f"problem[{key!r}][{i}]") for i, v in enumerate(values)],
                    dtype=float,
                )
            )
        lo, hi = ends
        if np.any(np.isnan(lo) | np.isnan(hi) | (lo > hi)):
            raise self.fail("problem", "has a bound that is NaN or a low end above the high end")
        centres = {}
        for k, v in self.obj(d.get("centres", {}), "problem['centres']").items():
            if k not in law.variables:
                raise self.fail("problem['centres']", f"names {k!r}, which is not a variable of the law")
            centres[k] = self.number(v, f"problem['centres'][{k!r}]", finite=True)
        return Problem(law, tuple(free), fixed, tied, lo, hi, centres)

    def params(self, d: dict, law: Law, problem: Problem, bounds: dict, method: str) -> dict[str, float]:
        """Finite values in their domains: a free parameter's role range narrowed to the fit's
        bounds; a fixed one the value it was fixed at; a tied one its target's value; in a
        ``"given"`` fit, values the user gave (an exponent: any finite number)."""

        names = law.parameters
        missing = [n for n in names if n not in d]
        if missing:
            raise self.fail("params", f"is missing {missing}; law {law.name!r} has {list(names)}")
        extra = [n for n in d if n not in names]
        if extra:
            raise self.fail(
                "params", f"has {extra[0]!r}{check.suggest(extra[0], names)}, which law {law.name!r} does not have"
            )
        out = {}
        for n in names:
            where = f"params[{n!r}]"
            v = self.number(d[n], where)
            recorded = bounds.get(n, {}).get("value")
            if not math.isfinite(v) and v != recorded:
                raise self.fail(where, f"= {d[n]!r} is not finite")
            if n in problem.fixed:
                if v != problem.fixed[n]:
                    raise self.fail(where, f"= {v!r} differs from the value it was fixed at ({problem.fixed[n]!r})")
            elif n in problem.tied:
                pass  # compared with its target below
            else:
                given = method == "given"
                low, high, low_open, text = domain(law, n, None if given else problem, explicit=given)
                if not inside(v, low, high, low_open) and v != recorded:
                    raise self.fail(where, f"= {v!r} is outside its domain ({text})")
            out[n] = v
        for n, t in problem.tied.items():
            if out[n] != out[t]:
                raise self.fail(
                    f"params[{n!r}]", f"= {out[n]!r} differs from params[{t!r}] = {out[t]!r}, to which it is tied"
                )
        return out

    def status(self, d: dict) -> Convergence:

        self.keys(d, "status", ("code", "steps", "grad_norm", "max_steps"), ("distance",))
        code = self.integer(d["code"], "status['code']")
        if code not in STATUS_TEXT:
            raise self.fail("status['code']", f"= {code} is not a known optimiser status ({sorted(STATUS_TEXT)})")
        return Convergence(
            code,
            self.integer(d["steps"], "status['steps']"),
            self.number(d["grad_norm"], "status['grad_norm']"),
            self.integer(d["max_steps"], "status['max_steps']"),
            None if d.get("distance") is None else self.number(d["distance"], "status['distance']", finite=False),
        )

    def starts(self, d: dict, law: Law) -> StartsReport:

        counts = ("n_starts", "n_polished", "n_converged", "n_at_best")
        self.keys(d, "starts", (*counts, "best_values", "spread"), ("rtol",))
        spread = {}
        for k, v in self.obj(d["spread"], "starts['spread']").items():
            if k not in law.parameters:
                raise self.fail("starts['spread']", f"names {k!r}, which is not a parameter of the law")
            spread[k] = self.number(v, f"starts['spread'][{k!r}]")
        n_starts, n_polished, n_converged, n_at_best = (self.integer(d[k], f"starts[{k!r}]") for k in counts)
        for small, large, a, b in (
            ("n_polished", "n_starts", n_polished, n_starts),
            ("n_converged", "n_polished", n_converged, n_polished),
            ("n_at_best", "n_polished", n_at_best, n_polished),
        ):
            if a > b:
                raise self.fail(
                    f"starts[{small!r}]", f"= {a} is more than starts[{large!r}] = {b}; it counts some of those"
                )
        return StartsReport(
            n_starts,
            n_polished,
            n_converged,
            n_at_best,
            best_values=self.numbers(d["best_values"], "starts['best_values']").tolist(),
            spread=spread,
            rtol=self.number(d.get("rtol", 1e-6), "starts['rtol']", finite=True),
        )

    def identifiability(self, d: dict, law: Law) -> Identifiability:
        where = "identifiability"
        self.keys(
            d, where, ("condition_number", "eigenvalues", "correlated", "flat", "messages"),
            ("combinations", "undetermined", "rule"),
        )  # fmt: skip
        names = law.parameters
        correlated = []
        for i, c in enumerate(self.lst(d["correlated"], f"{where}['correlated']")):
            w = f"{where}['correlated'][{i}]"
            if not isinstance(c, list) or len(c) != 3:
                raise self.fail(w, "must be a list [name, name, correlation]")
            a, b = self.names(c[:2], w, names, "parameter")
            correlated.append((a, b, self.number(c[2], f"{w}[2]")))
        flat = [
            self.names(g, f"{where}['flat'][{i}]", names, "parameter")
            for i, g in enumerate(self.lst(d["flat"], f"{where}['flat']"))
        ]
        messages = self.lst(d["messages"], f"{where}['messages']")
        for i, m in enumerate(messages):
            self.text(m, f"{where}['messages'][{i}]")
        combos = []
        for i, c in enumerate(self.lst(d.get("combinations", []), f"{where}['combinations']")):
            w = f"{where}['combinations'][{i}]"
            self.keys(self.obj(c, w), w, ("members", "kind", "text"), ("inverse",))
            self.names(c["members"], f"{w}['members']", names, "parameter")
            self.names(c.get("inverse", []), f"{w}['inverse']", names, "parameter")
            if c["kind"] not in ("sum", "product"):
                raise self.fail(f"{w}['kind']", f"= {c['kind']!r:.40} is not 'sum' or 'product'")
            self.text(c["text"], f"{w}['text']")
            combos.append(dict(c))
        return Identifiability(
            self.number(d["condition_number"], f"{where}['condition_number']"),
            self.numbers(d["eigenvalues"], f"{where}['eigenvalues']").tolist(),
            correlated,
            flat,
            messages,
            combos,
            [
                dict(self.tree(self.obj(u, f"{where}['undetermined'][{i}]"), f"{where}['undetermined']"))
                for i, u in enumerate(self.lst(d.get("undetermined", []), f"{where}['undetermined']"))
            ],
            None if d.get("rule") is None else dict(self.tree(self.obj(d["rule"], f"{where}['rule']"), where)),
        )
