"""``autohedge simulate``: the real actor tree on the paper exchange under a simulated clock, with
seeded market regimes and faults, checked against the promise after every step."""
