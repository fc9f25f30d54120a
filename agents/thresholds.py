"""The numbers the rubric, the findings and the follow-up rules share (no heavy imports here:
the engine's research driver reads them, and it must not load scipy)."""

ALPHA = 0.05              # significance level of Welch's t-test
MIN_SEEDS = 3             # seeds needed for a confidence interval worth the name
QUALITY_MARGIN = 0.01     # "quality kept": within 1 point (a fraction) of the baseline
REPRODUCIBLE_STD = 0.01   # the baseline's quality may vary by at most 1 point (std) across seeds
CI_TOO_WIDE = 0.01        # a quality CI half-width above 1 point cannot tell "kept within 1 point"
PROMISING_E = 1.1         # an E above this that is not yet significant deserves more seeds
