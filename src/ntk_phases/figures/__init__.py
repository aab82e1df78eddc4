"""Figures: one module per figure family; each reads only tidy tables."""
