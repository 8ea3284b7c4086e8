"""Strip outputs, execution counts and widget state from notebooks/*.ipynb.

    python scripts/clean_notebooks.py           # clean in place
    python scripts/clean_notebooks.py --check   # exit 1 and list dirty notebooks

Also sets the kernelspec to python3 so every notebook opens the same kernel.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KERNELSPEC = {
    "name": "python3",
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
}


def problems(nb: dict) -> list[str]:
    """What is stored in the notebook that should not be."""
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("outputs"):
            found.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has an execution count")
        if cell.get("metadata", {}).get("execution"):
            found.append(f"cell {i} has execution timing metadata")
    meta = nb.get("metadata", {})
    if "widgets" in meta:
        found.append("widget state in the notebook metadata")
    if meta.get("kernelspec", {}).get("name") != "python3":
        found.append("kernelspec is not python3")
    return found


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    meta = nb.setdefault("metadata", {})
    meta.pop("widgets", None)
    meta["kernelspec"] = dict(KERNELSPEC)
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report")
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.paths or sorted(Path("notebooks").glob("*.ipynb"))
    dirty = 0
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        found = problems(nb)
        if not found:
            continue
        dirty += 1
        if args.check:
            print(f"{path}: {'; '.join(found)}")
        else:
            path.write_text(
                json.dumps(clean(nb), indent=1, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
            print(f"cleaned {path}")
    if args.check and dirty:
        print("Run `make clean-notebooks` before committing.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
