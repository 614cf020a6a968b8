"""The exercise catalog: where the content folders are and what ``exercise.toml`` says.

An installed wheel carries the content under ``dskata/_content``; a source
checkout has it at the repository's top level. Both look the same from here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dskata.errors import BadParts, KitError, UnknownExercise

SCORECARD_ROWS: dict[str, tuple[str, ...]] = {
    "Coding & correctness": ("correctness", "concurrency"),
    "Data consistency & integrity": ("integrity",),
    "Distributed system design (failure handling)": ("resilience",),
    "Performance engineering": ("performance",),
    "Coding & correctness (tests)": ("testing",),
    "Coding & correctness (clarity)": ("code health",),
}
DIMENSIONS: tuple[str, ...] = (
    "correctness",
    "concurrency",
    "integrity",
    "resilience",
    "performance",
    "testing",
    "code health",
)
NOT_MEASURED: tuple[str, ...] = (
    "Collaboration and communication",
    "Leadership and ownership",
    "System design discussion (trade-offs argued out loud)",
)


@cache
def content_root() -> Path:
    """Returns the folder that holds exercises/, graders/, reference_solutions/ and seeds/."""
    packaged = Path(__file__).resolve().parent / "_content"
    if (packaged / "exercises").is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "exercises").is_dir():
        return checkout
    raise KitError(f"exercise content not found (looked in {packaged} and {checkout})")


@dataclass(frozen=True)
class Part:
    number: int
    title: str
    minutes: int
    public_tests: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # extra packages the workspace needs for this part
    services: tuple[str, ...] = ()  # real services its tests need: "redis"


@dataclass(frozen=True)
class Threshold:
    meets: float
    exceeds: float


@dataclass(frozen=True)
class TestingRubric:
    """``[rubric.testing]``: points for the candidate's own tests killing the mutants."""

    points: float
    timeout_s: float = 60.0  # wall time of one run of the candidate's tests
    # A mutant whose declared checks all lie in these dimensions is left out of the
    # fraction (listed as not counted): unit tests can hardly see speed or memory.
    uncounted_dimensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthRubric:
    """``[rubric.code_health]``: points for code-health signals; each met signal earns a share."""

    points: float
    rules: tuple[str, ...] = ("E", "F", "W", "B")  # ruff rule codes selected
    max_ruff_findings: int = 0
    max_mypy_errors: int = 0
    max_complexity: int = 10
    max_lines: int = 400


@dataclass(frozen=True)
class Exercise:
    slug: str
    title: str
    version: str
    module: str
    summary: str
    parts: tuple[Part, ...]
    support: tuple[str, ...] = ()
    candidate_dependencies: tuple[str, ...] = ("pytest>=8",)
    rubric: dict[str, Threshold] = field(default_factory=dict)
    default_threshold: Threshold = Threshold(meets=0.6, exceeds=0.9)
    testing: TestingRubric | None = None  # None: the exercise does not grade own tests
    code_health: HealthRubric | None = None

    @property
    def module_name(self) -> str:
        return self.module.removesuffix(".py")

    @property
    def part_numbers(self) -> tuple[int, ...]:
        return tuple(p.number for p in self.parts)

    @property
    def exercise_dir(self) -> Path:
        return content_root() / "exercises" / self.slug

    @property
    def grader_dir(self) -> Path:
        return content_root() / "graders" / self.slug

    @property
    def reference_dir(self) -> Path:
        return content_root() / "reference_solutions" / self.slug

    @property
    def reference_module(self) -> Path:
        return self.reference_dir / self.module

    @property
    def stub_module(self) -> Path:
        return self.exercise_dir / self.module

    @property
    def mutants_dir(self) -> Path:
        return self.grader_dir / "mutants"

    def threshold(self, row: str) -> Threshold:
        return self.rubric.get(row, self.default_threshold)

    def check_parts(self, parts: tuple[int, ...] | None) -> tuple[int, ...]:
        """Returns the parts to grade: all when None; raises BadParts for unknown ones."""
        if parts is None:
            return self.part_numbers
        unknown = sorted(set(parts) - set(self.part_numbers))
        if unknown:
            have = ", ".join(map(str, self.part_numbers))
            raise BadParts(f"exercise {self.slug!r} has parts {have}; no part {unknown[0]}")
        if not parts:
            raise BadParts("--parts must name at least one part")
        return tuple(sorted(set(parts)))


def parse_parts(text: str) -> tuple[int, ...]:
    """Parses ``"1,2"`` or ``"1-3"``; raises BadParts on anything else."""
    numbers: set[int] = set()
    for chunk in text.replace(" ", "").split(","):
        if not chunk:
            continue
        lo, sep, hi = chunk.partition("-")
        try:
            first = int(lo)
            last = int(hi) if sep else first
        except ValueError:
            raise BadParts(f"--parts={text!r}: expected numbers like 1,2 or 1-3") from None
        if first < 1 or last < first:
            raise BadParts(f"--parts={text!r}: expected numbers like 1,2 or 1-3")
        numbers.update(range(first, last + 1))
    if not numbers:
        raise BadParts(f"--parts={text!r}: expected numbers like 1,2 or 1-3")
    return tuple(sorted(numbers))


def _load(path: Path) -> Exercise:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rubric = data.get("rubric", {})
    default = Threshold(float(rubric.get("meets", 0.6)), float(rubric.get("exceeds", 0.9)))
    rows = {
        name: Threshold(
            float(v.get("meets", default.meets)), float(v.get("exceeds", default.exceeds))
        )
        for name, v in rubric.get("rows", {}).items()
    }
    parts = tuple(
        Part(
            number=int(p["number"]),
            title=str(p["title"]),
            minutes=int(p.get("minutes", 0)),
            public_tests=tuple(p.get("public_tests", ())),
            dependencies=tuple(p.get("dependencies", ())),
            services=tuple(p.get("services", ())),
        )
        for p in data["parts"]
    )
    testing = rubric.get("testing")
    health = rubric.get("code_health")
    return Exercise(
        testing=TestingRubric(
            float(testing["points"]),
            float(testing.get("timeout_s", 60.0)),
            tuple(str(d) for d in testing.get("uncounted_dimensions", ())),
        )
        if testing
        else None,
        code_health=HealthRubric(
            points=float(health["points"]),
            rules=tuple(str(r) for r in health.get("rules", HealthRubric.rules)),
            max_ruff_findings=int(health.get("max_ruff_findings", 0)),
            max_mypy_errors=int(health.get("max_mypy_errors", 0)),
            max_complexity=int(health.get("max_complexity", 10)),
            max_lines=int(health.get("max_lines", 400)),
        )
        if health
        else None,
        slug=str(data["slug"]),
        title=str(data["title"]),
        version=str(data["version"]),
        module=str(data["module"]),
        summary=str(data.get("summary", "")),
        parts=parts,
        support=tuple(data.get("support", ())),
        candidate_dependencies=tuple(data.get("candidate_dependencies", ("pytest>=8",))),
        rubric=rows,
        default_threshold=default,
    )


def all_exercises() -> list[Exercise]:
    """Returns every exercise in the catalog, sorted by slug."""
    root = content_root() / "exercises"
    return [_load(p) for p in sorted(root.glob("*/exercise.toml"))]


def get_exercise(slug: str) -> Exercise:
    """Returns one exercise; raises UnknownExercise with the known slugs."""
    path = content_root() / "exercises" / slug / "exercise.toml"
    if not path.is_file():
        known = ", ".join(e.slug for e in all_exercises()) or "none"
        raise UnknownExercise(f"unknown exercise {slug!r} (known: {known})")
    return _load(path)
