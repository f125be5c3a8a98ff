"""Solver programs kept across processes as serialised JAX exports (issue 24, the cold path):
read back instead of traced, keyed by structure (never data), damaged entries are misses,
and a fit reads the same optimum with the store on, off, or read back."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalefit.fitting import exported
from scalefit.fitting.solver import Solution

SRC = str(Path(exported.__file__).resolve().parents[1])


@jax.jit
def _program(x, table, w):
    """A small program with a dict input and the solvers' named-tuple output."""
    r = table["a"] * x[:, None] - table["b"]
    cost = jnp.sum(w * r**2, axis=-1)
    return Solution(x, cost, jnp.max(jnp.abs(r), axis=-1), jnp.zeros_like(x, dtype=int), cost < 1.0)


def _program_with_steps(x, table, w, *, steps):
    return _program(x * steps, table, w)


ARGS = (np.array([1.0, 2.0, 3.0]), {"a": np.arange(4.0), "b": np.ones(4)}, np.full(4, 0.5))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALEFIT_CACHE_DIR", str(tmp_path))
    return tmp_path / "exported"


def _same(a: Solution, b: Solution) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b, strict=True))


def test_first_call_exports_and_a_new_process_reads_back(store):
    first = exported.Stored("program", _program, "key")
    out = first(*ARGS)
    assert first.origins == ["exported"]
    assert len(list(store.glob("*.jaxexport"))) == 1
    again = exported.Stored("program", _program, "key")  # what a new process builds
    assert _same(again(*ARGS), out) and again.origins == ["read"]
    assert _same(out, _program(*ARGS))  # the same program's result


def test_each_structure_is_its_own_entry_and_data_are_not_in_the_key(store):
    f = exported.Stored("program", _program, "key")
    f(*ARGS)
    f(ARGS[0] + 1.0, {"a": ARGS[1]["a"] * 2, "b": ARGS[1]["b"]}, ARGS[2])  # new values, same shapes
    assert f.origins == ["exported"] and len(list(store.glob("*"))) == 1
    f(np.ones(5), ARGS[1], ARGS[2])  # another shape
    exported.Stored("program", _program, "another law")(*ARGS)  # another structure
    g = exported.Stored("steps", _program_with_steps, "key")
    g(*ARGS, steps=2)
    g(*ARGS, steps=3)  # a static option is part of the key
    assert f.origins == ["exported", "exported"] and g.origins == ["exported", "exported"]
    assert len(list(store.glob("*"))) == 5
    assert np.array_equal(g(*ARGS, steps=3).u, ARGS[0] * 3)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_damaged_entry_is_a_miss_and_is_replaced(store, damage):
    out = exported.Stored("program", _program, "key")(*ARGS)
    (path,) = store.glob("*.jaxexport")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        path.write_bytes(b"not an export at all")
    again = exported.Stored("program", _program, "key")
    assert _same(again(*ARGS), out) and again.origins == ["exported"]
    assert path.read_bytes() != data[: len(data) // 2]
    third = exported.Stored("program", _program, "key")  # rewritten whole: read back
    assert _same(third(*ARGS), out) and third.origins == ["read"]


def test_a_swapped_entry_is_a_miss_not_another_programs_result(store):
    exported.Stored("program", _program, "law one")(*ARGS)
    (one,) = store.glob("*.jaxexport")
    g = exported.Stored("steps", _program_with_steps, "law one")
    g(*ARGS, steps=3)
    (two,) = set(store.glob("*.jaxexport")) - {one}
    one_bytes, two_bytes = one.read_bytes(), two.read_bytes()
    one.write_bytes(two_bytes), two.write_bytes(one_bytes)  # each checksum still whole
    again = exported.Stored("program", _program, "law one")
    assert _same(again(*ARGS), _program(*ARGS)) and again.origins == ["exported"]


def test_a_program_read_back_that_does_not_run_falls_back_for_good(store, monkeypatch):
    first = exported.Stored("program", _program, "key")
    first(*ARGS)
    (path,) = store.glob("*.jaxexport")
    other = (np.ones(7), ARGS[1], ARGS[2])  # another program: it takes 7 values where this call has 3
    wrong = jax.export.export(_program)(*jax.tree_util.tree_map(jnp.asarray, other))
    key = bytes.fromhex(path.stem.split("-")[1])
    exported._write(path, wrong, key)  # right key and checksum: what a bug could leave
    again = exported.Stored("program", _program, "key")
    assert _same(again(*ARGS), _program(*ARGS)) and again.origins == ["traced"]
    assert _same(again(*ARGS), _program(*ARGS)) and again.origins == ["traced"]


def test_off_with_the_compilation_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALEFIT_CACHE_DIR", "off")
    f = exported.Stored("program", _program, "key")
    assert _same(f(*ARGS), _program(*ARGS)) and f.origins == ["traced"]
    assert exported.store_dir() is None


def test_an_unwritable_store_still_computes(store):
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("a file where the directory should be")
    f = exported.Stored("program", _program, "key")
    assert _same(f(*ARGS), _program(*ARGS)) and f.origins == ["exported"]


def test_entries_of_other_versions_are_pruned_once_a_week_old(tmp_path):
    mine = exported.code_digest()[:16]
    week = exported.PRUNE_AFTER
    files = {
        "old other": (f"{'0' * 16}-aa.jaxexport", week + 60),
        "new other": (f"{'0' * 16}-bb.jaxexport", 60),
        "old mine": (f"{mine}-cc.jaxexport", week + 60),
        "not ours": ("notes.txt", week + 60),
    }
    now = time.time()
    for name, age in files.values():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (now - age, now - age))
    assert exported.prune(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for k, (n, _) in files.items() if k != "old other")


def test_the_code_digest_covers_scalefit_and_jax():
    d = exported.code_digest()
    assert len(d) == 64 and d == exported.code_digest()


FIT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, pandas as pd
    import scalefit
    from scalefit import LeastSquares, fit_law
    rng = np.random.default_rng(3)
    N = np.repeat(np.geomspace(1e7, 1e9, 6), 5)
    D = np.tile(np.geomspace(1e9, 1e11, 5), 6)
    loss = (1.7 + 400 * N**-0.34 + 2000 * D**-0.37) * np.exp(rng.normal(0, 0.01, N.size))
    runs = pd.DataFrame({"N": N, "D": D, "loss": loss})
    fit = fit_law(scalefit.chinchilla, runs, target="loss", method=LeastSquares(bootstrap=0))
    print(json.dumps(fit.params))
    """
)


def _fit_in_a_fresh_process(tmp_path, cache):
    env = {k: v for k, v in os.environ.items() if k != "SCALEFIT_CACHE_DIR"}
    env.update(SCALEFIT_CACHE_DIR=cache, PYTHONPATH=SRC, HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_fit_reads_the_same_optimum_with_programs_read_back(tmp_path):
    cache = tmp_path / "cache"
    off = _fit_in_a_fresh_process(tmp_path, "off")
    first = _fit_in_a_fresh_process(tmp_path, str(cache))
    entries = {p: p.stat().st_mtime_ns for p in (cache / "exported").glob("*.jaxexport")}
    second = _fit_in_a_fresh_process(tmp_path, str(cache))
    assert len(entries) >= 2  # the start search's programs at least
    assert {p: p.stat().st_mtime_ns for p in (cache / "exported").glob("*.jaxexport")} == entries  # read, not rewritten
    assert first == off and second == off  # the same programs: the same optimum to the bit


LAPACK_PROGRAM = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    from scalefit.fitting import exported

    jax.config.update("jax_enable_x64", True)

    def solve(a, b):  # 9 x 9: jnp.linalg.solve lowers to a LAPACK call on CPU
        return jnp.linalg.solve(a, b)

    def plain(a, b):
        return a @ b

    a = np.eye(9) * 2.0 + 0.1
    b = np.arange(9.0)
    f, g = exported.Stored("solve", solve, "lapack"), exported.Stored("plain", plain, "lapack")
    x, y = np.asarray(f(a, b)), np.asarray(g(a, b))
    print(json.dumps({"x": x.tolist(), "y": y.tolist(), "origins": f.origins + g.origins,
                      "scipy_linalg": "scipy.linalg" in sys.modules}))
    """
)


def test_a_stored_program_sets_up_lapack_only_when_it_calls_it(tmp_path):
    """JAX's lowering of a stored program sets up its LAPACK kernels (importing scipy.linalg);
    scalefit skips that for programs that make no LAPACK call. A program that does make one
    still runs, read back in a fresh process, with the right answer."""
    env = {k: v for k, v in os.environ.items() if k != "SCALEFIT_CACHE_DIR"}
    env.update(SCALEFIT_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=SRC, HOME=str(tmp_path))
    runs = []
    for _ in range(2):  # exported, then read back
        out = subprocess.run([sys.executable, "-c", LAPACK_PROGRAM], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    a, b = np.eye(9) * 2.0 + 0.1, np.arange(9.0)
    assert [r["origins"] for r in runs] == [["exported", "exported"], ["read", "read"]]
    for r in runs:
        np.testing.assert_allclose(r["x"], np.linalg.solve(a, b), rtol=1e-12)
        np.testing.assert_allclose(r["y"], a @ b, rtol=1e-15)
        assert r["scipy_linalg"]  # the LAPACK program needed the kernels: they were set up


def test_programs_with_and_without_a_linear_solve_are_told_apart():
    # (a program's source locations are in its module: a name containing "custom_call" would
    # make the check answer "set up", the safe side)
    spec = (jax.ShapeDtypeStruct((9, 9), np.float32), jax.ShapeDtypeStruct((9,), np.float32))
    with_lapack = jax.export.export(jax.jit(jnp.linalg.solve))(*spec)
    without = jax.export.export(jax.jit(lambda a, b: a @ b))(*spec)
    assert not exported.lapack_free(with_lapack)
    assert exported.lapack_free(without)


def test_threads_calling_a_new_program_at_once_load_it_once(store):
    """run_replicates' streams call the same program from two threads: one loads and
    compiles it while the other waits, and both get its results."""
    from concurrent.futures import ThreadPoolExecutor

    f = exported.Stored("program", _program, "key")
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: f(*ARGS), range(8)))
    assert f.origins == ["exported"]
    assert all(_same(o, outs[0]) for o in outs)
    assert _same(outs[0], _program(*ARGS))


@pytest.mark.parametrize("cache", ["store", "off"])
def test_programs_are_compiled_with_the_compiler_options(cache, tmp_path, monkeypatch):
    """Every path of a stored program (exported here, read back, traced with the store off) is
    compiled with ``COMPILER_OPTIONS``: an option XLA does not know makes the call fail, and
    the real ones give the plain program's result."""
    monkeypatch.setenv("SCALEFIT_CACHE_DIR", "off" if cache == "off" else str(tmp_path))
    assert exported.COMPILER_OPTIONS  # the options under test
    out = exported.Stored("program", _program, "key")(*ARGS)
    assert _same(out, _program(*ARGS))
    monkeypatch.setattr(exported, "COMPILER_OPTIONS", {"xla_no_such_option_here": 1})
    for _ in range(1 if cache == "off" else 2):  # with the store: exported, then read back
        with pytest.raises(Exception, match="xla_no_such_option_here"):
            exported.Stored("program", _program, "other key")(*ARGS)
