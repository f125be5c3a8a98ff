"""The fields of a fit file about its runs and its uncertainty, checked.

:class:`RunFieldsReader` reads what the fit saw and how sure it is: the ``ranges`` of the
runs, their ``data``, the ``misfit`` and ``extrapolation`` reports, the parameters at a
``bounds``, the share of bootstrap replicates that converged, the NUTS ``diagnostics`` and
the ``draws`` — and checks that the parameters are the ones the rest of the file was
computed with (:meth:`RunFieldsReader.consistent`). :class:`~scalefit.serialize.fit_fields.FitReader`
reads the rest of the fit on top of it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalefit import validate as check
from scalefit.fitting.objective import Objective
from scalefit.fitting.problem import Problem
from scalefit.laws.law import Law
from scalefit.results.domain import domain, inside
from scalefit.serialize.checked import JsonReader


class RunFieldsReader(JsonReader):
    """Checks a fit file's runs, draws and diagnostics (the generic checks of :class:`JsonReader`)."""

    def ranges(self, d: dict, law: Law, method: str) -> dict[str, tuple[float, float]]:
        out = {}
        for v, pair in d.items():
            where = f"ranges[{v!r}]"
            if v not in law.variables:
                raise self.fail(
                    "ranges", f"names {v!r}{check.suggest(v, law.variables)}, which is not a variable of the law"
                )
            if not isinstance(pair, list) or len(pair) != 2:
                raise self.fail(where, f"must be a pair [low, high], got {pair!r:.60}")
            lo, hi = (self.number(x, f"{where}[{i}]", finite=True) for i, x in enumerate(pair))
            zero_ok = v in law.zero_allowed  # a general law may be defined at 0
            if not (0 <= lo <= hi if zero_ok else 0 < lo <= hi):
                need = "non-negative" if zero_ok else "positive"
                raise self.fail(where, f"= [{lo:g}, {hi:g}] must be {need} with low <= high")
            out[v] = (lo, hi)
        missing = [v for v in law.variables if v not in out]
        if method != "given" and missing:
            raise self.fail("ranges", f"is missing {missing}; a fitted law has the range of every variable")
        return out

    def share(self, value: object) -> float | None:
        out = self.number(value, "bootstrap_converged", optional=True)
        if out is not None and not 0.0 <= out <= 1.0:
            raise self.fail("bootstrap_converged", f"= {value!r} must be a share in [0, 1]")
        return out

    def clusters(self, value: object, law: Law, requested: int | None) -> tuple[str | None, int | None]:
        """``bootstrap_clusters``: ``{"variable": a law variable, "count": >= 2}`` of a cluster
        bootstrap, only beside ``bootstrap_requested``; ``(None, None)`` when absent."""
        if value is None:
            return None, None
        d = self.obj(value, "bootstrap_clusters")
        self.keys(d, "bootstrap_clusters", ("variable", "count"))
        variable = self.text(d.get("variable"), "bootstrap_clusters.variable")
        if variable not in law.variables:
            raise self.fail("bootstrap_clusters.variable", f"= {variable!r} is not a variable of the law")
        count = self.integer(d.get("count"), "bootstrap_clusters.count", 2)
        if requested is None:
            raise self.fail("bootstrap_clusters", "is given, but bootstrap_requested is not: no bootstrap was run")
        return variable, count

    def bounds(self, d: object, law: Law) -> dict[str, dict]:
        out = {}
        for name, b in self.obj(d if d is not None else {}, "bounds").items():
            where = f"bounds[{name!r}]"
            if name not in law.parameters:
                raise self.fail("bounds", f"names {name!r}, which is not a parameter of the law")
            self.keys(self.obj(b, where), where, ("name", "side", "value", "text", "profile"))
            if b["name"] != name or b["side"] not in ("lower", "upper"):
                raise self.fail(
                    where, f"has name {b['name']!r:.40} and side {b['side']!r:.40} (need {name!r}, 'lower' or 'upper')"
                )
            self.text(b["text"], f"{where}['text']")
            profile = self.obj(b["profile"], f"{where}['profile']")
            self.keys(profile, f"{where}['profile']", ("values", "stat"))
            values = self.numbers(profile["values"], f"{where}['profile']['values']")
            stat_ = self.numbers(profile["stat"], f"{where}['profile']['stat']")
            if len(values) != len(stat_) or not len(values):
                raise self.fail(f"{where}['profile']", "must have as many values as stat, at least one")
            out[name] = {
                **b,
                "value": self.number(b["value"], f"{where}['value']"),
                "profile": {"values": values.tolist(), "stat": stat_.tolist()},
            }
        return out

    def diagnostics(self, d: object, method: str) -> dict | None:
        if d is None:
            if method == "bayes":
                raise self.fail("diagnostics", "is missing; a Bayesian fit records its R-hat and ESS")
            return None
        d = self.tree(self.obj(d, "diagnostics"), "diagnostics")
        self.keys(d, "diagnostics", ("chains", "draws_per_chain", "r_hat", "ess_bulk", "ess_tail"), tuple(d))
        self.integer(d["chains"], "diagnostics['chains']", 1)
        self.integer(d["draws_per_chain"], "diagnostics['draws_per_chain']", 0)
        for key in ("r_hat", "ess_bulk", "ess_tail"):
            for k, v in self.obj(d[key], f"diagnostics[{key!r}]").items():
                if v is not None:  # older files wrote a NaN R-hat as null
                    self.number(v, f"diagnostics[{key!r}][{k!r}]")
        return d

    def data(self, d: object, law: Law, n_runs: int) -> dict | None:
        if d is None:
            return None
        d = self.obj(d, "data")
        self.keys(d, "data", ("x", "y"), ("noise_scale",))
        x = self.obj(d["x"], "data['x']")
        self.keys(x, "data['x']", law.variables)
        out_x = {}
        zero_ok = law.zero_allowed  # a general law may be defined at 0, as load_runs allows
        for v in law.variables:
            arr = self.numbers(x[v], f"data['x'][{v!r}]", finite=True)
            if len(arr) != n_runs or np.any(arr < 0 if v in zero_ok else arr <= 0):
                need = ">= 0" if v in zero_ok else "> 0"
                raise self.fail(f"data['x'][{v!r}]", f"must hold {n_runs} values {need} (one per run)")
            out_x[v] = arr.tolist()
        y = self.numbers(d["y"], "data['y']", finite=True)
        if len(y) != n_runs:
            raise self.fail("data['y']", f"holds {len(y)} values; n_runs is {n_runs}")
        scale = d.get("noise_scale")
        if scale is not None:
            scale = self.numbers(scale, "data['noise_scale']", finite=True)
            if len(scale) != n_runs or np.any(scale <= 0):
                raise self.fail("data['noise_scale']", f"must hold {n_runs} values > 0 (one per run)")
            scale = scale.tolist()
        return {"x": out_x, "y": y.tolist(), "noise_scale": scale}

    def draws(
        self, d: object, law: Law, problem: Problem, method: str, diagnostics, requested, converged
    ) -> pd.DataFrame | None:
        """Rectangular draws, a column per parameter, each free parameter's finite values in
        its domain (as for ``params``; a ``"given"`` fit's exponents: any finite number).
        Non-finite cells are kept as written (the format encodes them)."""

        if d is None:
            if method == "bayes":
                raise self.fail("draws", "is missing; a Bayesian fit holds its posterior draws")
            if requested is not None and converged is not None and requested > 0 and converged > 0:
                raise self.fail(
                    "draws",
                    f"is missing, but bootstrap_requested = {requested} and bootstrap_converged = {converged:g} say "
                    "the fit has bootstrap replicates",
                )
            return None
        d = self.obj(d, "draws")
        names = list(law.parameters)
        sites = names + (["sigma", "nu"] if method == "bayes" else [])
        extra = [c for c in d if c not in sites]
        if extra:
            raise self.fail(
                "draws", f"has column {extra[0]!r}{check.suggest(extra[0], sites)}, which is not a parameter of the law"
            )
        missing = [n for n in names if n not in d]
        if missing:
            raise self.fail("draws", f"is missing columns {missing}; it needs one per parameter")
        columns = {c: self.numbers(d[c], f"draws[{c!r}]") for c in d}
        for c, values in columns.items():
            missing = np.flatnonzero(np.isnan(values))
            if missing.size:
                raise self.fail(
                    f"draws[{c!r}][{int(missing[0])}]",
                    f"is NaN ({missing.size} of {values.size} values); a draw is a fitted parameter set — the fitters "
                    "keep only replicates and samples that have a value for every parameter",
                )
        lengths = {len(a) for a in columns.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{c}: {len(a)}" for c, a in columns.items())
            raise self.fail("draws", f"is not rectangular: its columns have different lengths ({shown})")
        rows = lengths.pop() if lengths else 0
        given = method == "given"
        for n in names:
            if n in problem.fixed or n in problem.tied:
                continue
            low, high, low_open, text = domain(law, n, None if given else problem, explicit=given)
            values = columns[n]
            bad = np.flatnonzero(np.isfinite(values) & ~inside(values, low, high, low_open))
            if bad.size:
                i = int(bad[0])
                more = f" (and {bad.size - 1} more rows)" if bad.size > 1 else ""
                raise self.fail(f"draws[{n!r}][{i}]", f"= {float(values[i])!r} is outside its domain ({text}){more}")
        if method == "bayes":
            expected = diagnostics["chains"] * diagnostics["draws_per_chain"]
            if rows != expected:
                raise self.fail("draws", f"has {rows} rows, but the diagnostics record {expected} (chains x draws)")
        elif isinstance(requested, int) and not isinstance(requested, bool) and rows > requested:
            raise self.fail("draws", f"has {rows} rows, more than the {requested} bootstrap replicates requested")
        return pd.DataFrame({c: columns[c] for c in d}, dtype=float) if columns else None

    def consistent(self, law: Law, params, method: str, objective: Objective, residuals, data, draws) -> None:
        """The parameters must be the ones the rest of the file was computed with: a least-squares
        fit's reproduce its recorded residuals; a Bayesian fit's (posterior medians) lie within
        the range of its draws. Catches a parameter edited to a value in its domain but not the
        fit's (``alpha = 1e308``), which would predict outside its own intervals."""
        if method == "bayes" and draws is not None and len(draws):
            for n in law.parameters:
                values = draws[n].to_numpy(dtype=float)
                low, high = float(np.min(values)), float(np.max(values))
                if not low <= params[n] <= high:
                    raise self.fail(
                        f"params[{n!r}]",
                        f"= {params[n]!r} lies outside its posterior draws ({low:.6g} .. {high:.6g}), whose median "
                        "it is",
                    )
        if method != "lsq" or data is None or not all(math.isfinite(v) for v in params.values()):
            return
        x = {v: np.asarray(a, dtype=float) for v, a in data["x"].items()}
        y = np.asarray(data["y"], dtype=float)
        with np.errstate(all="ignore"):
            pred = np.asarray(law.evaluate(params, x), dtype=float)
            again = np.log(pred) - np.log(y) if objective.log else pred - y
        scale = 1.0 if objective.log else max(float(np.median(np.abs(y))), 1e-300)
        # where the law under- or overflows in linear space (the fit works in log space) it is not compared
        off = np.where(np.isfinite(again), np.abs(again - residuals) / scale, 0.0)
        if np.any(off > 1e-6):
            i = int(np.argmax(off))
            shown = ", ".join(f"{n} = {v:.6g}" for n, v in params.items())
            raise self.fail(
                "params",
                f"({shown}) do not reproduce the residuals recorded with them (run {i}: {again[i]:.6g} against "
                f"{residuals[i]:.6g}); a parameter was changed after the fit",
            )

    def extrapolation(self, d: object, law: Law) -> dict | None:
        """The rollout calibration of the prediction intervals (:func:`scalefit.select_law`)."""
        if d is None:
            return None
        d = self.obj(d, "extrapolation")
        self.keys(d, "extrapolation", ("variable", "sigma", "scores", "weights", "splits"), ("method", "residuals"))
        if d["variable"] not in law.variables:
            raise self.fail("extrapolation['variable']", f"= {d['variable']!r} is not a variable of the law")
        sigma = self.number(d["sigma"], "extrapolation['sigma']", finite=True)
        scores = self.numbers(d["scores"], "extrapolation['scores']", finite=True)
        weights = self.numbers(d["weights"], "extrapolation['weights']", finite=True)
        splits = self.integer(d["splits"], "extrapolation['splits']", 1)
        if sigma < 0 or len(scores) == 0 or len(scores) != len(weights) or (scores < 0).any() or (weights <= 0).any():
            raise self.fail(
                "extrapolation", "needs sigma >= 0 and as many scores (>= 0) as weights (> 0), at least one"
            )
        residuals = self.numbers(d.get("residuals", []), "extrapolation['residuals']", finite=True)
        if (residuals < 0).any():
            raise self.fail("extrapolation['residuals']", "must be absolute log residuals (>= 0)")
        return {"variable": d["variable"], "sigma": sigma, "scores": scores.tolist(), "weights": weights.tolist(),
                "splits": splits, "method": self.text(d.get("method", ""), "extrapolation['method']"),
                "residuals": residuals.tolist()}  # fmt: skip

    def misfit(self, d: object, law: Law) -> dict | None:
        if d is None:
            return None
        d = self.tree(self.obj(d, "misfit"), "misfit")
        self.keys(d, "misfit", ("rms", "log", "by"))
        self.number(d["rms"], "misfit['rms']")
        self.kind(d["log"], "misfit['log']", bool, "true or false")
        for v, entry in self.obj(d["by"], "misfit['by']").items():
            where = f"misfit['by'][{v!r}]"
            if v not in law.variables:
                raise self.fail("misfit['by']", f"names {v!r}, which is not a variable of the law")
            self.keys(self.obj(entry, where), where, ("flag",), tuple(entry))
            self.kind(entry["flag"], f"{where}['flag']", bool, "true or false")
            for k, x in entry.items():
                if k != "flag":
                    self.number(x, f"{where}[{k!r}]")
        return d
