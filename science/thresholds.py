"""The numbers the rubric, the findings and the follow-up rules share (no heavy imports here:
the engine's research driver reads them)."""

ALPHA = 0.05              # significance level (two-sided), after Holm's correction when a headline is chosen
MIN_SEEDS = 5             # seeds per variant the rubric asks for: paired CIs worth the name
PRELIMINARY_CAP = 6       # the highest rating of a preliminary experiment (smoke, or fewer than MIN_SEEDS seeds)
#: "quality kept": the CI of the change stays within this margin on the bad side, said by the
#: quality's kind (contract.units.margin): 1 point of a fraction, 1 % of the reference of a
#: perplexity or a loss; an entry may declare its own (`Experiment.quality_margin`)
QUALITY_MARGIN = 0.01
BUDGET_TOLERANCE = 0.01   # a reference with over 1 % fewer optimizer steps than its variant is under-budgeted
CI_TOO_WIDE = 0.01        # a quality CI half-width above the margin (1 point, 1 % of the reference) cannot tell "kept"
PROMISING_E = 1.1         # an E above this that is not yet significant deserves more seeds
GAIN_RATIO = 1.1          # effect point: the CI's lower bound of a cost ratio exceeds this (10 % cheaper)
LARGE_RATIO = 2.0         # large-effect point: the CI's lower bound of a cost ratio reaches this
LARGE_STABILITY = 0.25    # large-effect point: divergence rate lower by at least 25 points (CI lower bound)
LARGE_QUALITY = 0.01      # large-effect point: a fraction higher by at least 1 point (CI lower bound)
LARGE_QUALITY_RELATIVE = 0.05  # the same for an unbounded quality (perplexity): at least 5 % of the reference
