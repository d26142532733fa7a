"""Where a portal decision's time goes, read from what benchmarks/decision_parts_app.py wrote in the
portal's process, for `python benchmarks/decision_latency.py --parts`.

Each decision's parts, in milliseconds:

  arrival to view   the request's arrival to the view's checks: Django's handler, the middleware
                    (session, user, roles, CSRF, security headers), the hop to a thread
  checks            who may decide, the form, the recorded-first write (`_check_and_record`)
  update            the run's Update, awaited on the server's loop (`send_async`)
  reply             the answer taken in and the decision panel rendered (`_answered`)
  last byte         the request's arrival to the reply's last byte sent

What (b) measures beyond `last byte` is the HTTP exchange itself: the client and the server's
own protocol handling. The writes made after the reply (`AfterReply`) are in no part.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks.figures import percentile

PARTS = ("arrival to view", "checks", "update", "reply", "last byte")
FILE_VARIABLE = "DECISION_PARTS_FILE"  # where the portal's process appends them, one line each


def read_parts(path: Path, warmup: int) -> dict[str, list[float]]:
    """The parts of each decision the portal timed, the first `warmup` dropped."""
    decisions = [json.loads(line) for line in path.read_text().splitlines()][warmup:]
    return {part: [d[part] for d in decisions if d.get(part) is not None] for part in PARTS}


def parts_report(parts: dict[str, list[float]], sdk: list[float], portal: list[float], target: float) -> str:
    """Medians of the parts, and what `target` times (a) leaves beside the Update. `sdk` and
    `portal` are (a)'s and (b)'s samples, in seconds."""
    a50, b50 = (percentile(samples, 50) * 1000 for samples in (sdk, portal))
    lines = ["", "Of (b), the median of each part, timed in the portal's process (decision_parts_app.py):"]
    if not all(parts.values()):  # every decision refused before its Update, or all warm-up
        return "\nOf (b): no decision was timed in every part (see the portal's log)."
    lines += [f"  {part:36} {len(parts[part]):>4} {statistics.median(parts[part]):>9.2f}" for part in PARTS]
    update, last_byte = (statistics.median(parts[part]) for part in ("update", "last byte"))
    lines += [
        f"  {'HTTP exchange: (b) p50 - last byte':36} {'':>4} {b50 - last_byte:>9.2f}",
        "",
        f"The Update alone is {update / a50:.2f}x (a). At {target}x (a), {target * a50:.2f} ms, the target",
        f"leaves {target * a50 - update:.2f} ms for everything else in (b), which took {b50 - update:.2f} ms here.",
    ]
    return "\n".join(lines)
