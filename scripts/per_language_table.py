"""Per query language, one setting's mAP of each system of an experiment (mean over its seeds), with the
language's resource class (Joshi et al. 2020, ``langmix.data.languages``) and whether training saw it; then
the means per class and over the languages seen / unseen in training (docs/studies.md, study 1).

    python scripts/per_language_table.py runs/studies/unseen-languages --setting mo

Read back from each run's ``eval/<dataset>/metrics.json`` (the numbers the summary averages).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from langmix.data.languages import resource_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="an experiment's output folder")
    parser.add_argument("--dataset", default="xquad-r")
    parser.add_argument("--setting", default="mo", choices=("mo", "cr", "mul"))
    a = parser.parse_args()
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seen: set[str] = set()
    for path in sorted(a.folder.glob(f"runs/*/eval/{a.dataset}/metrics.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        system = doc["model"].get("system") or doc["model"]["run"]
        seen |= set(doc["model"].get("training_languages") or [])
        for lang, v in doc["summary"][a.setting]["map"].items():
            if lang != "mean":
                values[system][lang].append(v)
    systems = sorted(values, key=lambda s: (s != "base", s))
    langs = sorted(next(iter(values.values())), key=lambda x: (-(resource_class(x) or 0), x))
    print("| language | class | seen | " + " | ".join(systems) + " |")
    print("|" + "---|" * (len(systems) + 3))
    for lang in langs:
        cells = [f"{np.mean(values[s][lang]):.3f}" for s in systems]
        flag = "yes" if lang in seen else "no"
        print(f"| {lang} | {resource_class(lang)} | {flag} | " + " | ".join(cells) + " |")
    print()
    print("| class / group | languages | " + " | ".join(systems) + " |")
    print("|" + "---|" * (len(systems) + 2))
    groups = [
        (str(cls), [x for x in langs if resource_class(x) == cls])
        for cls in sorted({resource_class(x) for x in langs}, key=lambda c: -(c or 0))
    ]
    groups += [("seen", [x for x in langs if x in seen]), ("unseen", [x for x in langs if x not in seen])]
    for name, group in groups:
        if group:
            cells = [f"{np.mean([np.mean(values[s][x]) for x in group]):.3f}" for s in systems]
            print(f"| {name} | {', '.join(group)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
