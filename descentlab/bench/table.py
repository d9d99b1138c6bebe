"""The results as a text table."""

from __future__ import annotations

from typing import Any


def fmt_rate(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.2f} {prefix}{unit}/s"
    return f"{v:.1f} {unit}/s"


def format_table(results: dict[str, Any]) -> str:
    """The results as a text table (one line per case)."""
    rows = [("case", "descentlab", "pytorch", "ratio", "GFLOP/s dl | pt", "dl % gemm")]
    for name, c in results["cases"].items():
        dl, pt = c["descentlab"], c["pytorch"]
        gf = c.get("gflops")
        rows.append(
            (
                name,
                fmt_rate(dl["throughput"], c["unit"]),
                fmt_rate(pt["throughput"] if pt else None, c["unit"]),
                f"{c['ratio']:.2f}x" if c["ratio"] is not None else "-",
                (
                    f"{gf['descentlab']:.1f} | {gf['pytorch']:.1f}"
                    if gf and gf["pytorch"]
                    else f"{gf['descentlab']:.1f} | -"
                    if gf
                    else ""
                ),
                f"{100 * c['gemm_fraction']:.0f}%" if c.get("gemm_fraction") else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            s.ljust(w) if i == 0 else s.rjust(w)
            for i, (s, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    mem = results.get("memory")
    if mem:
        dl_m, pt_m = mem["descentlab"], mem["pytorch"]
        pt_text = f"{pt_m['rss_delta_mib']:.1f} MiB" if pt_m else "-"
        lines.append(
            f"memory (one SimpleConvNet step): descentlab "
            f"{dl_m['rss_delta_mib']:.1f} MiB RSS peak "
            f"({dl_m.get('tracemalloc_peak_mib', float('nan')):.1f} MiB tracemalloc), "
            f"pytorch {pt_text} RSS peak"
        )
    m = results["meta"]
    lines.append(
        f"threads {m['threads']} ({m['thread_control']}), backend {m['backend']}, "
        f"repeats {m['repeats']}, load {m['loadavg_before']} -> {m['loadavg_after']}"
    )
    lines += [f"note: {n}" for n in results["notes"]]
    return "\n".join(lines)
