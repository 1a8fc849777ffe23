#!/usr/bin/env python3
"""Prints the README's result tables (Markdown) from the files tools/make_results.sh writes.

Usage: tools/results_markdown.py [DEST]   (DEST defaults to docs/results)
Reads DEST/eval.json (ckv eval) and DEST/niah-<budget>/niah.json (ckv niah, one run per budget). Only formats:
every number comes from those files.
"""
import json
import pathlib
import sys

POLICIES = ["fullkv", "streaming", "snapkv", "pyramidkv", "compresskv", "compresskv-ea"]


def niah_tables(dest):
    budgets = {}
    for path in sorted(dest.glob("niah-*/niah.json")):
        data = json.loads(path.read_text())
        budgets[int(data["budget"])] = data
    if not budgets:
        return ""
    order = sorted(budgets)
    any_run = budgets[order[0]]
    lengths = ", ".join(str(x) for x in any_run["lengths"])
    depths = ", ".join(f"{d:g}" for d in any_run["depths"])
    out = [f"NIAH score (share of answers that recall the needle, ROUGE-1 recall > 0.5); context lengths {lengths} "
           f"tokens x depths {depths} x {len({r['needle'] for r in any_run['runs']})} evaluation needles "
           f"= {any_run['summary'][next(iter(any_run['summary']))]['runs']} prompts per cell:", "",
           "| policy | " + " | ".join(f"budget {b}" for b in order) + " |",
           "|---|" + "---|" * len(order)]
    # FullKV does not depend on the budget and may have run at one budget only: its score fills every column.
    full = [budgets[b]["summary"]["fullkv"]["score"] for b in order if "fullkv" in budgets[b]["summary"]]
    for policy in POLICIES:
        cells = []
        for b in order:
            summary = budgets[b]["summary"]
            if policy in summary:
                cells.append(f"{summary[policy]['score']:.3f}")
            elif policy == "fullkv" and full:
                cells.append(f"{full[0]:.3f}")
            else:
                cells.append("")
        out.append(f"| {policy} | " + " | ".join(cells) + " |")
    # Per length, at each budget: where the policies lose the needle.
    out += ["", "NIAH score by context length (all depths and needles):", "",
            "| policy | budget | " + " | ".join(f"{l} tokens" for l in any_run["lengths"]) + " |",
            "|---|---|" + "---|" * len(any_run["lengths"])]
    for policy in POLICIES[1:]:
        for b in order:
            runs = [r for r in budgets[b]["runs"] if r["policy"] == policy]
            if not runs:
                continue
            cells = []
            for length in any_run["lengths"]:
                sel = [r["recalled"] for r in runs if r["length"] == length]
                cells.append(f"{sum(sel) / len(sel):.2f}" if sel else "")
            out.append(f"| {policy} | {b} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def eval_table(dest):
    path = dest / "eval.json"
    if not path.exists():
        return ""
    rows = json.loads(path.read_text())
    budgets = sorted({r["budget"] for r in rows})
    first = rows[0]
    out = [f"Fidelity against FullKV ({first['texts']} texts, {first['steps']} teacher-forced steps in all): "
           "top-1 agreement / mean KL(FullKV || policy) in nats:", "",
           "| policy | " + " | ".join(f"budget {b}" for b in budgets) + " |", "|---|" + "---|" * len(budgets)]
    for policy in POLICIES:
        cells = []
        for b in budgets:
            match = [r for r in rows if r["policy"] == policy and r["budget"] == b]
            cells.append(f"{match[0]['top1_agreement']:.3f} / {match[0]['mean_kl']:.3f}" if match else "")
        out.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main():
    dest = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results")
    print(eval_table(dest))
    print(niah_tables(dest))


if __name__ == "__main__":
    main()
