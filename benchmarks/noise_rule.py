"""How often the noise rule takes a choice that is not better, by positives per validation window.

Every choice inside a training fold (the GAN's or a resampler's share, the tuner's best trial)
replaces the default only when its validation gain over the windows clears the noise rule
(`pipeline.selection.Gain.clear`: the windows' paired t-test at 10 % over the candidates it is
the best of, and the validation rows' bootstrap bar from `pipeline.selection.WindowDraws`). With a
few positive rows per window, are its error rates still what it says? This runs the choice
itself (`pipeline.augment.choose`, its share step) on simulated fits: `--windows` windows, each of
`p` positive and `--negatives` negative rows; share 0 (the default model) and `--candidates`
shares above 0, whose fits' scores are a shared score (positives shifted by `--signal` logits)
plus each fit's own noise (`--fit-noise`). A clear: the choice takes a share above 0.

- `null`: every candidate is as good as the default; a clear is a false choice (the rule's
  level, family-wise, is 10 %);
- `worse`: every candidate's positives sit an effect (`--effects`, in logits) lower (a harmful
  choice);
- `better`: one candidate's positives sit an effect higher (the rule's power).

    python benchmarks/noise_rule.py [--positives 2,3,5,10,20,50] [--effects 0.1,0.5] [--reps 300]

Writes benchmarks/results/noise_rule.{json,md}: `{"command", "commit", "settings", "rows":
[{"positives", "scenario", "effect", "reps", "clear_rate", "ci_low", "ci_high", "spread_only_rate",
"sampling_only_rate", "default_auprc", "effect_auprc"}]}` (`spread_only_rate`: how often the
choice takes a share with the windows' t-test as its only bar; `sampling_only_rate`: with the
bootstrap bar alone; `effect_auprc`: the first candidate's mean validation AUPRC minus the
default's, the effect's size in `worse` and `better`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit
from scipy.stats import binomtest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import commit, machine  # noqa: E402
from pipeline import evaluate  # noqa: E402
from pipeline.augment import SHARE, Grid, choose  # noqa: E402
from pipeline.selection import NOISE_ALPHA, Gain, WindowDraws, paired_gain  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "noise_rule.json"
SCENARIOS = ("null", "worse", "better")


@dataclass(frozen=True)
class Setting:
    """One simulated fold's windows and fits."""

    positives: int
    negatives: int = 2000
    windows: int = 3
    candidates: int = 3
    signal: float = 3.0  # the positives' shift, in logits, of every fit
    fit_noise: float = 0.5  # each fit's own noise around the shared score, in logits
    effect: float = 0.0  # the candidates' shift of the positives in `worse` / `better`


@dataclass(frozen=True)
class _Fit:
    """What `pipeline.augment.choose` reads of a fit: its windows' AUPRC and pooled scores."""

    val_aps: tuple[float, ...]
    p_val: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """The rule's verdict on one simulated fold."""

    clear: bool
    spread_clear: bool
    sampling_clear: bool
    default_auprc: float
    effect_auprc: float  # the first candidate's mean validation AUPRC minus the default's


def simulate_choice(s: Setting, scenario: str, rng: np.random.Generator, seed: int) -> Outcome:
    """One fold: score share 0 and the candidate shares on every window, and let the choice pick."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    labels = [np.r_[np.ones(s.positives, np.int8), np.zeros(s.negatives, np.int8)]] * s.windows
    shared = [s.signal * y + rng.normal(size=y.size) for y in labels]
    shifts = [0.0] * (s.candidates + 1)  # the default first
    if scenario == "worse":
        shifts[1:] = [-s.effect] * s.candidates
    elif scenario == "better":
        shifts[1] = s.effect
    fits = [
        expit(
            np.concatenate(
                [
                    z + shift * y + rng.normal(scale=s.fit_noise, size=y.size)
                    for z, y in zip(shared, labels, strict=True)
                ]
            )
        )
        for shift in shifts
    ]
    bounds = np.cumsum([0, *(len(y) for y in labels)])
    scored = [
        _Fit(
            tuple(
                evaluate.average_precision(y, f[lo:hi])
                for y, lo, hi in zip(labels, bounds[:-1], bounds[1:], strict=True)
            ),
            f,
        )
        for f in fits
    ]
    draws = WindowDraws(labels, seed=seed)

    def both(a: _Fit, b: _Fit, m: int) -> Gain:
        return paired_gain(
            a.val_aps, b.val_aps, compared=m, sampling_error=draws.standard_error(a.p_val, b.p_val)
        )

    def spread(a: _Fit, b: _Fit, m: int) -> Gain:
        return paired_gain(a.val_aps, b.val_aps, compared=m)

    def sampling(a: _Fit, b: _Fit, m: int) -> Gain:
        return dataclasses.replace(both(a, b, m), standard_error=math.nan)

    # the candidates stand for the grid's shares above 0 (their values only label them)
    shares = tuple(round(0.01 * (j + 1), 6) for j in range(s.candidates))
    by_share = {0: scored[0], **{share: scored[j + 1] for j, share in enumerate(shares)}}
    grid = Grid(share=(0.0, *shares), weight=(1.0,), checkpoint=("best",))

    def takes(gain: Callable[[_Fit, _Fit, int], Gain]) -> bool:
        _, choice = choose(lambda params: by_share[params[SHARE]], grid, gain=gain)
        return choice.share != 0

    return Outcome(
        clear=takes(both),
        spread_clear=takes(spread),
        sampling_clear=takes(sampling),
        default_auprc=float(np.mean(scored[0].val_aps)),
        effect_auprc=float(np.mean(scored[1].val_aps) - np.mean(scored[0].val_aps)),
    )


def rates(s: Setting, scenario: str, reps: int, seed: int = 0) -> dict[str, float]:
    """The clear rates of `reps` simulated folds, with a 95 % Wilson interval for the rule's."""
    rng = np.random.default_rng([seed, s.positives, SCENARIOS.index(scenario)])
    out = [simulate_choice(s, scenario, rng, seed=i) for i in range(reps)]
    k = sum(o.clear for o in out)
    interval = binomtest(k, reps).proportion_ci(method="wilson")
    return {
        "positives": s.positives,
        "scenario": scenario,
        "reps": reps,
        "clear_rate": k / reps,
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "spread_only_rate": float(np.mean([o.spread_clear for o in out])),
        "sampling_only_rate": float(np.mean([o.sampling_clear for o in out])),
        "default_auprc": float(np.mean([o.default_auprc for o in out])),
        "effect_auprc": float(np.mean([o.effect_auprc for o in out])),
    }


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [
        "# The noise rule's error rates by positives per validation window",
        "",
        f"`{result['command']}` at commit {result['commit']} ({result['wall_seconds']:.0f} s).",
        "",
        f"{s['windows']} windows of p positive and {s['negatives']} negative rows; "
        f"`pipeline.augment.choose` picks between share 0 (the default) and {s['candidates']} "
        f"shares above 0 by the noise rule (family level {NOISE_ALPHA:.0%}); every fit's "
        f"positives {s['signal']:g} logits up, each fit with its own noise (sd {s['fit_noise']:g} "
        "logits). `null`: every share as good as share 0 (taking one is a false choice); `worse`: "
        "every share's positives `effect` logits lower; `better`: the first share's `effect` "
        "logits higher (taking a share is the rule's power). How often a share above 0 is taken, "
        "over the simulated folds [95 % Wilson interval]; the last two columns: the same with "
        "only one of the rule's two bars. Effect on AUPRC: the "
        "first candidate's mean validation AUPRC minus the default's.",
        "",
        "| positives per window | scenario | effect | folds | default AUPRC | effect on AUPRC "
        "| share taken "
        "| spread bar alone | sampling bar alone |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['positives']} | {r['scenario']} | {r['effect']:g} | {r['reps']} | "
            f"{r['default_auprc']:.3f} | "
            f"{r['effect_auprc']:+.3f} | "
            f"{r['clear_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | "
            f"{r['spread_only_rate']:.3f} | {r['sampling_only_rate']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positives", default="2,3,5,10,20,50")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--effects", default="0.1,0.5", help="logit shifts for worse / better")
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--negatives", type=int, default=Setting.negatives)
    parser.add_argument("--windows", type=int, default=Setting.windows)
    parser.add_argument("--candidates", type=int, default=Setting.candidates)
    parser.add_argument("--signal", type=float, default=Setting.signal)
    parser.add_argument("--fit-noise", type=float, default=Setting.fit_noise)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        positives = [int(p) for p in args.positives.split(",")]
        effects = [float(e) for e in args.effects.split(",")]
    except ValueError:
        parser.error(
            f"--positives (integers) and --effects (numbers) are comma-separated lists, got "
            f"{args.positives!r} and {args.effects!r}"
        )
    scenarios = args.scenarios.split(",")
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"--scenarios: unknown {unknown}; valid: {', '.join(SCENARIOS)}")
    if (
        min(positives) < 1
        or min(args.reps, args.negatives, args.candidates) < 1
        or args.windows < 2
    ):
        parser.error(
            "--positives, --reps, --negatives and --candidates need values >= 1, --windows >= 2"
        )
    if args.fit_noise < 0:
        parser.error(f"--fit-noise is a standard deviation, >= 0, got {args.fit_noise}")
    if min(effects) <= 0:
        parser.error(f"--effects must be > 0 (a logit shift), got {args.effects!r}")
    base = Setting(0, args.negatives, args.windows, args.candidates, args.signal, args.fit_noise)
    start = time.perf_counter()
    rows = []
    for p in positives:
        for scenario in scenarios:
            for effect in [0.0] if scenario == "null" else effects:
                s = dataclasses.replace(base, positives=p, effect=effect)
                rows.append({"effect": effect, **rates(s, scenario, args.reps)})
                r = rows[-1]
                print(
                    f"p={p:3d} {scenario:6s} effect {effect:g} ({r['effect_auprc']:+.3f} AUPRC) "
                    f"clears {r['clear_rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
                    flush=True,
                )
    settings = dataclasses.asdict(base)
    for key in ("positives", "effect"):
        settings.pop(key)
    result = {
        "command": "python benchmarks/noise_rule.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "commit": commit(),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": machine(np),
        "settings": settings,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return result


if __name__ == "__main__":
    main()
