"""JAX's persistent compilation cache, shared by the analytic jobs of a run (the kernels,
theory and learning-rate stages open it before any jax computation: their ``Stage``'s
``setup``)."""

from __future__ import annotations

import atexit
import logging
import os

import jax
from jax._src import xla_bridge

_CACHE_LOGGER = "jax._src.compiler"


class _CompileCacheCounter(logging.Handler):
    """Counts JAX's persistent-cache hits and misses from its compiler's debug records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.hits = 0
        self.misses = 0

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Persistent compilation cache hit"):
            self.hits += 1
        elif msg.startswith("PERSISTENT COMPILATION CACHE MISS"):
            self.misses += 1


#: Environment variable through which the workflow names the run's compilation cache.
CACHE_ENV = "NTK_PHASES_JAX_CACHE"
#: XLA:CPU's thunk runtime, the default of the pinned jaxlib 0.5.3, restores some cached
#: executables wrongly: a jitted Newton solve with an autodiff slope inside a while loop
#: came back from the cache giving q* = inf, and a fori_loop of value_and_grad steps
#: returned a loss of 0 (fresh compiles were right). With the older runtime, cached and
#: fresh executables give the same tables (tests/unit/test_compile_cache.py).
CACHE_SAFE_XLA_FLAG = "--xla_cpu_use_thunk_runtime=false"


def use_compile_cache() -> bool:
    """Load and store this job's XLA executables in the run's persistent cache.

    Only the analytic jobs (neural-tangents kernels, mean-field theory) open it, before
    any jax computation; finite-width training keeps XLA's default runtime and compiles
    afresh, so its tables stay exactly as they were. At exit the job logs how many
    compilations the cache saved. Returns whether the cache is on.
    """
    cache_dir = os.environ.get(CACHE_ENV)
    if not cache_dir:
        return False
    if xla_bridge.backends_are_initialized():
        logging.getLogger("ntk_phases").warning(
            "jax was initialised before the compilation cache could be set up; compiling afresh"
        )
        return False
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {CACHE_SAFE_XLA_FLAG}".strip()
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    counter = _CompileCacheCounter()
    jax_log = logging.getLogger(_CACHE_LOGGER)
    jax_log.setLevel(logging.DEBUG)
    jax_log.propagate = False  # the debug chatter stays out of the job's log
    jax_log.addHandler(counter)

    def report() -> None:
        logging.getLogger("ntk_phases").info(
            "jax compilation cache %s: %d hits, %d compiled", cache_dir, counter.hits, counter.misses
        )

    atexit.register(report)
    return True
