"""Claims (SPEC §1): rates, limits and laws fitted from the tables and compared with the
mean-field predictions. numpy and pandas only (never jax); nothing is asserted here: a
claim that fails is reported with ``passed = False``.

- :mod:`.schema`: the one row schema of ``metrics/claims.csv``, its conditions, and
  :func:`~.schema.claim_row` / :func:`~.schema.conform` / :func:`~.schema.schema_violations`;
- :mod:`.c1_c5`: C1-C5 from the infinite-width tables and the C5 pooling table;
- :mod:`.c6_c7`: C6/C7 from the finite-width memorization and width tables;
- :mod:`.c8`: C8, freeze and chaos, from the freeze/chaos stage's tables;
- :mod:`.c9`: C9, the depth-scale law, from infinite-width tables and trained grids;
- the jobs that write them: ``python -m ntk_phases claims table`` (C1-C5 and C9, other
  stages' tables appended) and ``claims finite`` (C6/C7), :mod:`ntk_phases.stages.claims`.

This package imports nothing on import.
"""
