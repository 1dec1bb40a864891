#!/usr/bin/env python3
"""Turns bench/run.sh's raw numbers into a table (markdown, printed and
written to results.md), results.json and chart.svg (ratios to crun).
usage: report.py WORKDIR OUTDIR"""
import json
import os
import statistics
import sys

work, out = sys.argv[1], sys.argv[2]
RUNTIMES = ["crun", "runc", "ward", "floor"]
COLORS = {"crun": "#4c72b0", "runc": "#999999", "ward": "#dd8452", "floor": "#55a868"}
SCENARIOS = [
    ("run", "run /bin/true", "ms"),
    ("lifecycle", "create+start+wait+delete", "ms"),
    ("exec", "exec /bin/true", "ms"),
    ("many2", "50 containers, 2 at a time", "ms"),
    ("many10", "50 containers, 10 at a time", "ms"),
]

rows = []  # (scenario label, runtime, min, median, unit)
data = {"scenarios": {}, "rss_kib": {}, "size": {}, "machine": {}}

for key, label, unit in SCENARIOS:
    res = {}
    for f in sorted(os.listdir(work)):
        if f.startswith(f"hf-{key}-") and f.endswith(".json"):
            for r in json.load(open(os.path.join(work, f)))["results"]:
                res.setdefault(r["command"], {"times": []})["times"] += r["times"]
    if not res:
        continue
    data["scenarios"][key] = {}
    for rt in RUNTIMES:
        if rt not in res:
            continue
        t = [x * 1000 for x in res[rt]["times"]]
        entry = {"min": min(t), "median": statistics.median(t), "mean": statistics.mean(t),
                 "stddev": statistics.stdev(t) if len(t) > 1 else 0.0, "runs": len(t)}
        data["scenarios"][key][rt] = entry
        rows.append((label, rt, entry["min"], entry["median"], unit, key))

rss = {}
for line in open(os.path.join(work, "rss")):
    rt, what, kib = line.split()
    rss.setdefault(f"{what} {rt}", []).append(int(kib))
for k, v in rss.items():
    data["rss_kib"][k] = {"min": min(v), "median": statistics.median(v), "max": max(v)}

for line in open(os.path.join(work, "size")):
    parts = line.split()
    data["size"][parts[0]] = {"bytes": int(parts[1]), "libs": parts[2:]}

for line in open(os.path.join(work, "machine")):
    k, _, v = line.strip().partition("=")
    data["machine"][k] = v


def ratio(key, rt, stat):
    s = data["scenarios"].get(key, {})
    if "crun" not in s or rt not in s:
        return None
    return s[rt][stat] / s["crun"][stat]


lines = []
m = data["machine"]
lines.append(f"Machine: {m.get('cores')} cores, kernel {m.get('kernel')}; "
             f"load average {m.get('load_before')} before, {m.get('load_after')} after "
             f"(other jobs were running: read min as the best case, median as the usual one). "
             f"{m.get('versions')}.")
lines.append("")
lines.append("| scenario | runtime | min | median | median / crun | min / crun |")
lines.append("| --- | --- | ---: | ---: | ---: | ---: |")
for label, rt, mn, med, unit, key in rows:
    r, rm = ratio(key, rt, "median"), ratio(key, rt, "min")
    lines.append(f"| {label} | {rt} | {mn:.1f} {unit} | {med:.1f} {unit} | "
                 f"{r:.2f}x | {rm:.2f}x |")
for what in ["run", "exec"]:
    c = data["rss_kib"].get(f"{what} crun")
    for rt in RUNTIMES:
        v = data["rss_kib"].get(f"{what} {rt}")
        if not v:
            continue
        r = f"{v['median'] / c['median']:.2f}x" if c else "-"
        rm = f"{v['min'] / c['min']:.2f}x" if c else "-"
        lines.append(f"| peak RSS, {what} | {rt} | {v['min']} KiB | {v['median']:.0f} KiB "
                     f"(max {v['max']}) | {r} | {rm} |")
cs = data["size"].get("crun")
for rt in ["crun", "runc", "ward"]:
    s = data["size"].get(rt)
    if s:
        r = f"{s['bytes'] / cs['bytes']:.2f}x" if cs else "-"
        lines.append(f"| stripped binary | {rt} | {s['bytes'] / 1e6:.2f} MB | "
                     f"{len(s['libs'])} libs: {' '.join(s['libs']) or '(static)'} | {r} | |")
table = "\n".join(lines) + "\n"
print(table)
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "results.md"), "w").write(table)
json.dump(data, open(os.path.join(out, "results.json"), "w"), indent=2)

# The chart: one group per measure, one bar per runtime, median / crun's.
groups = [(label, {rt: ratio(key, rt, "median") for rt in RUNTIMES}) for key, label, _ in SCENARIOS
          if key in data["scenarios"]]
for what in ["run", "exec"]:
    c = data["rss_kib"].get(f"{what} crun")
    if c:
        groups.append((f"peak RSS, {what}", {rt: data["rss_kib"][f"{what} {rt}"]["median"] / c["median"]
                                            for rt in RUNTIMES if f"{what} {rt}" in data["rss_kib"]}))
if cs:
    groups.append(("stripped binary size", {rt: data["size"][rt]["bytes"] / cs["bytes"]
                                            for rt in ["crun", "runc", "ward"] if rt in data["size"]}))
bar_h, gap, left, width = 14, 16, 210, 420
vmax = max([2.0] + [v for _, g in groups for v in g.values() if v is not None])
scale = width / vmax
y = 40
body = []
for label, g in groups:
    present = [rt for rt in RUNTIMES if g.get(rt) is not None]
    body.append(f'<text x="{left - 8}" y="{y + bar_h * len(present) / 2 + 4}" '
                f'text-anchor="end">{label}</text>')
    for rt in present:
        v = g[rt]
        body.append(f'<rect x="{left}" y="{y}" width="{v * scale:.1f}" height="{bar_h - 2}" '
                    f'fill="{COLORS[rt]}"/>')
        body.append(f'<text x="{left + v * scale + 4:.1f}" y="{y + bar_h - 4}" '
                    f'font-size="10">{rt} {v:.2f}x</text>')
        y += bar_h
    y += gap
h = y + 30
one = left + scale
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{h}" '
       f'font-family="sans-serif" font-size="12">',
       '<rect width="100%" height="100%" fill="white"/>',
       f'<text x="10" y="20" font-weight="bold">median time (or size) relative to crun '
       f'(1.0 = crun; shorter is better)</text>',
       *body,
       f'<line x1="{one:.1f}" y1="30" x2="{one:.1f}" y2="{y}" stroke="black" stroke-dasharray="4,3"/>',
       f'<text x="{one:.1f}" y="{y + 14}" text-anchor="middle">1.0 (crun)</text>',
       f'<text x="10" y="{h - 6}" font-size="10">{m.get("cores")} cores, load {m.get("load_before")}; '
       f'{m.get("versions")}</text>',
       '</svg>']
open(os.path.join(out, "chart.svg"), "w").write("\n".join(svg) + "\n")
print(f"wrote {out}/results.md, results.json, chart.svg", file=sys.stderr)
