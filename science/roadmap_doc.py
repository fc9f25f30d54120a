"""The roadmap the lab was designed from (the mission, four phases with their goals, tasks and
success criteria, and the metrics it tracks), shipped with the package: the lab steers by it and
`lab roadmap` measures the lab against it (science/roadmap_standing.py evaluates each criterion)."""

from __future__ import annotations

from dataclasses import dataclass

MISSION = ("Develop and publish energy-efficient AI training methods that reduce computational costs by 2-10x "
           "while maintaining model quality.")

#: the eight baseline research areas of phase 1, each the catalog entry that studies it
BASELINE_AREAS: tuple[tuple[str, str], ...] = (
    ("quantization", "Quantization"),
    ("pruning", "Pruning"),
    ("optimizers", "Optimizer efficiency"),
    ("batch_size", "Batch size optimization"),
    ("mixed_precision", "Mixed precision"),
    ("distillation", "Knowledge distillation"),
    ("checkpointing", "Gradient checkpointing"),
    ("micro_architecture", "Efficient architectures"),
)

#: thresholds the criteria state (ratings are out of 10; E is the efficiency score)
AVERAGE_RATING = 6.0
GOOD_RATING = 7.0
TOP_RATING = 8.0
PUBLISHABLE_RATING = 9.0
EFFICIENCY = 2.0
NOVEL_EFFICIENCY = 3.0
REAL_DATASETS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
#: research velocity target of the metrics-tracking section
TARGET_EXPERIMENTS_PER_DAY = 1.0


@dataclass(frozen=True)
class CriterionSpec:
    id: str
    text: str


@dataclass(frozen=True)
class Phase:
    number: int
    name: str
    weeks: str
    goal: str
    tasks: tuple[str, ...]
    criteria: tuple[CriterionSpec, ...]


PHASES: tuple[Phase, ...] = (
    Phase(1, "Foundation", "weeks 1-2", "Run all 8 baseline experiments",
          tuple(f"{title} ({name})" for name, title in BASELINE_AREAS),
          (CriterionSpec("p1.areas", "All 8 baseline experiments run successfully"),
           CriterionSpec("p1.average", f"Average quality rating ≥ {AVERAGE_RATING:g}/10"),
           CriterionSpec("p1.two_good", f"At least 2 experiments rated ≥ {GOOD_RATING:g}/10"))),
    Phase(2, "Refinement", "weeks 3-4", "Improve top experiments to publication quality",
          ("Re-run top 3 experiments with validator suggestions", "Add proper baselines and statistical tests",
           "Implement energy tracking (codecarbon)", "Compare against SOTA methods",
           "Document reproducibility steps"),
          (CriterionSpec("p2.three_top", f"3+ experiments rated {TOP_RATING:g}+/10"),
           CriterionSpec("p2.efficiency", f"Efficiency scores ≥ {EFFICIENCY:g}x baseline"),
           CriterionSpec("p2.error_bars", "Results with error bars"),
           CriterionSpec("p2.reproduced", "Reproducible results"))),
    Phase(3, "Innovation", "weeks 5-6", "Discover novel methods",
          ("Combine best techniques (e.g., quantization + pruning)", "Test on real datasets (MNIST, CIFAR-10)",
           "Optimize for edge devices", "Benchmark energy consumption", "Compare to published papers"),
          (CriterionSpec("p3.combined", f"1+ novel (combined) method with {NOVEL_EFFICIENCY:g}x+ efficiency gain"),
           CriterionSpec("p3.real_data", "Real-world dataset validation (MNIST, CIFAR-10)"),
           CriterionSpec("p3.energy", "Energy consumption measured (hardware counters)"),
           CriterionSpec("p3.publishable", f"Publishable quality ({PUBLISHABLE_RATING:g}+/10)"))),
    Phase(4, "Publication", "weeks 7-8", "Public release and community impact",
          ("Write technical paper", "Create model zoo (Hugging Face)", "Create demo/tutorial notebooks",
           "Submit to arXiv", "Share on blogs"),
          (CriterionSpec("p4.paper", "ArXiv paper (compiled PDF and its source archive)"),
           CriterionSpec("p4.zoo", "Model zoo with model cards (Hugging Face format)"),
           CriterionSpec("p4.blog", "Blog post with results"),
           CriterionSpec("p4.slides", "Presentation slides"))),
)

SPECS: dict[str, CriterionSpec] = {c.id: c for p in PHASES for c in p.criteria}
PHASE_OF: dict[str, int] = {c.id: p.number for p in PHASES for c in p.criteria}
