"""The statistics behind a verdict from repeated attempts: intervals, pass@k, labels, early stop, comparisons.

Pure functions of counts, exact where an exact form exists; `docs/statistics.md` explains each figure.
"""
