"""What the config says of each department before any correction: the learner's seeds.

A department's name, description and keywords become weighted terms (routing.normalize).
A keyword of one word is the department's own, and weighs KEYWORD_WEIGHT; a keyword
phrase weighs as much when its words stand together (`management fee`), while each of
its words alone counts only as a word of the description (the `loc` of `loc de muncă`
is any place). Filler words say nothing, and neither do the words of the office's own
name (`Casa Someș`, which a description may mention and every caller may say) unless a
keyword has them.
"""

from __future__ import annotations

from config.settings import Department, Settings
from routing.normalize import Normalizer, phrase_term

# A keyword counts as this many words of its department's description.
KEYWORD_WEIGHT = 5.0
# The least a department's seeds weigh in all: one described in a word or two is not
# thereby certain of them (a department named "Sales" is not all sales).
SEED_MASS = 30.0


class ConfigSeeds:
    """Each department's seed terms, its keywords, the filler and the writers, from the config."""

    def __init__(self, settings: Settings, normalizer: Normalizer) -> None:
        spelled = {
            d.id: [f for k in d.keywords for f in normalizer.spellings(k)] for d in settings.departments
        }
        # A phrase is one term when its words stand together: a keyword like a word.
        self.keywords = {
            d: {f[0] if len(f) == 1 else phrase_term(f) for f in forms} for d, forms in spelled.items()
        }
        single = {f[0] for forms in spelled.values() for f in forms if len(f) == 1}
        # Filler words say nothing, unless the config made one a keyword of its own: the
        # "de" of "contract de administrare" is still filler in any other sentence. The
        # office's name is said to every department, unless a keyword names its words.
        named = {t for forms in spelled.values() for f in forms for t in f}
        name = {t for form in normalizer.spellings(settings.office_name) for t in form} - named
        self.filler = (normalizer.filler - single) | name
        self.seeds: dict[str, dict[str, float]] = {}
        for department in settings.departments:
            seed = self._weighed(department, spelled[department.id], normalizer)
            total = max(sum(seed.values()), SEED_MASS)
            self.seeds[department.id] = {t: w / total for t, w in seed.items()}
        self.vocabulary = frozenset().union(*self.seeds.values())
        # Each writer word or phrase as its terms, in every office language that knows it.
        self.writers = [
            (department.id, form) for department in settings.departments
            for writer in department.writers for form in normalizer.spellings(writer)
        ]  # fmt: skip

    def _weighed(
        self, department: Department, spelled: list[tuple[str, ...]], normalizer: Normalizer
    ) -> dict[str, float]:
        """The department's terms: its keywords at KEYWORD_WEIGHT, the words of its keyword
        phrases, name and description at one each (each spelled in the languages that know it)."""
        seed: dict[str, float] = dict.fromkeys(self.keywords[department.id], KEYWORD_WEIGHT)
        phrases = [t for f in spelled if len(f) > 1 for t in f]
        words = f"{department.name} {department.description}".split()
        described = [t for word in words for form in normalizer.spellings(word) for t in form]
        for term in [*phrases, *described]:
            if len(term) >= 2 and not term.isdigit() and term not in self.filler:
                seed.setdefault(term, 1.0)
        return seed
