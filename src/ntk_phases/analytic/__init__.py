"""Analytic (infinite-width) computations built on neural-tangents, float64.

The package is moving to the layout of the project's DESIGN.md; modules that are new
land here, and the flat ones (``kernels``, ``theory``) follow.
"""
