"""The persistent compilation cache (issue 24): on by default in a user cache directory,
entries written atomically, damaged entries and I/O errors never reach XLA or the user."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from scalefit.fitting import jaxcache as _jaxcache
from scalefit.fitting.jaxcache import AtomicFileCache

SRC = str(Path(_jaxcache.__file__).resolve().parents[1])

PROBE = textwrap.dedent(
    """
    import scalefit.fitting.lsq  # compiles nothing; enables the cache as any fit would
    import jax
    from jax._src import compilation_cache as cc
    print(jax.config.jax_compilation_cache_dir, type(cc._cache).__name__)
    """
)


def _probe(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("SCALEFIT_CACHE_DIR", "XDG_CACHE_HOME")}
    base.update(env, HOME=str(tmp_path), PYTHONPATH=SRC)
    out = subprocess.run([sys.executable, "-c", PROBE], env=base, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_on_by_default_in_the_user_cache_dir(tmp_path):
    where, kind = _probe(tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert Path(where) == tmp_path / "xdg" / "scalefit" / "jax" and kind == "AtomicFileCache"


def test_env_var_moves_it_or_turns_it_off(tmp_path):
    where, kind = _probe(tmp_path, SCALEFIT_CACHE_DIR=str(tmp_path / "mine"))
    assert Path(where) == tmp_path / "mine" and kind == "AtomicFileCache"
    assert _probe(tmp_path, SCALEFIT_CACHE_DIR="off") == ["None", "NoneType"]


def test_entries_whole_or_absent(tmp_path):
    from jax._src import compilation_cache as cc

    cache = AtomicFileCache(tmp_path)
    value = cc.compress_executable(b"x" * 1000)
    cache.put("k1", value)
    assert cache.get("k1") == value and cache.get("missing") is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]  # no temporary left behind
    (tmp_path / "k2-cache").write_bytes(value[: len(value) // 2])  # a truncated entry (an old in-place write)
    assert cache.get("k2") is None and not (tmp_path / "k2-cache").exists()  # a miss, and removed


def test_write_errors_are_swallowed(tmp_path):
    cache = AtomicFileCache(tmp_path / "does-not-exist")
    cache.put("k", b"value")  # no directory: the entry is not kept, nothing raised
    assert cache.get("k") is None
