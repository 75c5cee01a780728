"""Seeing what a run removed and why: evidence a person can read, the HTML report, review, compare, clean subsets."""
