"""What early stop saves: a simulated suite of scenarios of known pass rates, repeated up to N times.

Each scenario's attempts are drawn from its true pass rate; `--aitest-repeat up-to N` stops a scenario once
Wald's sequential test decides it. Prints, per gate and true rate, the mean attempts run (out of N) and how
often the verdict was wrong (for a rate outside the test's margin: a pass below the gate or a fail above).

    python benchmarks/early_stop.py [--limit 40] [--scenarios 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random

from aitest_bdd.stats.sequential import ERROR_RATE, MARGIN, SequentialTest

RATES = (0.05, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
GATES = (0.5, 0.8, 0.9, 1.0)


def simulate(test: SequentialTest, rate: float, rng: random.Random) -> tuple[str, int]:
    passed = 0
    for attempts in range(1, test.limit + 1):
        passed += rng.random() < rate
        decision = test.decide(passed, attempts)
        if decision is not None:
            return decision, attempts
    raise AssertionError("the sequential test decides at its limit at the latest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--scenarios", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"up to {args.limit} attempts, {args.scenarios:,} simulated scenarios per row")
    print(f"sequential test: margin ±{MARGIN} around the gate (less near 0 and 1), α = β = {ERROR_RATE}")
    print(f"{'gate':>5} {'true rate':>9} {'mean attempts':>13} {'saved':>6} {'wrong verdicts':>14}")
    for gate in GATES:
        test = SequentialTest(gate=gate, limit=args.limit)
        if test.fewest_to_pass > args.limit:
            print(f"{gate:>5.2f}   up-to {args.limit} cannot show a pass: it needs {test.fewest_to_pass} attempts")
            continue
        for rate in RATES:
            outcomes = [simulate(test, rate, rng) for _ in range(args.scenarios)]
            mean = sum(attempts for _, attempts in outcomes) / len(outcomes)
            right = "passed" if rate >= gate else "failed"
            wrong = sum(decision != right for decision, _ in outcomes) / len(outcomes)
            zone = " (inside the margin)" if abs(rate - gate) < test.margin - 1e-9 and gate < 1 else ""
            print(f"{gate:>5.2f} {rate:>9.2f} {mean:>13.1f} {1 - mean / args.limit:>6.0%} {wrong:>14.2%}{zone}")


if __name__ == "__main__":
    main()
