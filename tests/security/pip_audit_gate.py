"""Run pip-audit on the pinned requirements: fail on a known vulnerability, never on the network.

``python -m tests.security.pip_audit_gate requirements.txt`` (``make security`` does). pip-audit
asks PyPI's JSON API for each pinned release's advisories. Where that service cannot be reached,
or answers 404 for the releases (a mirror that serves only project pages does), pip-audit reports
"No known vulnerabilities found" with every dependency skipped: this gate says plainly that the
dependencies were NOT audited instead, and passes, so a network outage never fails a build. A
vulnerability it did find always fails it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT = 900  # seconds: pip-audit builds a throwaway virtualenv to resolve the pins


def classify(report: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Return (vulnerabilities, audited, skipped) lines of a pip-audit JSON report."""
    vulns, audited, skipped = [], [], []
    for dep in report.get("dependencies", []):
        name = f"{dep['name']} {dep.get('version', '')}".strip()
        if "skip_reason" in dep:
            skipped.append(f"{name}: {dep['skip_reason']}")
            continue
        audited.append(name)
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            vulns.append(f"{name}: {vuln['id']} (fixed in: {fixes})")
    return vulns, audited, skipped


def verdict(report: dict[str, Any] | None, stderr: str = "") -> tuple[int, str]:
    """The exit status and the message for a pip-audit run (``report`` None: it produced none)."""
    if report is None:
        return 0, (
            "pip-audit: NOT AUDITED - it could not reach its vulnerability service "
            f"(a network problem, not a finding).\n{stderr.strip()[-2000:]}"
        )
    vulns, audited, skipped = classify(report)
    lines = []
    if vulns:
        lines.append(f"pip-audit: {len(vulns)} known vulnerabilities:")
        lines += [f"  {v}" for v in vulns]
    if skipped:
        total = len(audited) + len(skipped)
        lines.append(
            f"pip-audit: WARNING - {len(skipped)} of {total} dependencies were NOT audited "
            "(the vulnerability service had no data for them: offline, or a PyPI mirror "
            "without per-release pages). Run `make security` where pypi.org is reachable."
        )
        lines += [f"  {s}" for s in skipped[:5]]
        if len(skipped) > 5:
            lines.append(f"  ... and {len(skipped) - 5} more")
    if audited and not vulns:
        lines.append(f"pip-audit: {len(audited)} dependencies audited, no known vulnerabilities.")
    return (1 if vulns else 0), "\n".join(lines)


def main(argv: list[str]) -> int:
    requirements = argv[0] if argv else "requirements.txt"
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.json"
        try:
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip_audit",
                    "-r",
                    requirements,
                    "--format",
                    "json",
                    "--output",
                    str(output),
                    "--progress-spinner",
                    "off",
                ],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            stderr = run.stderr
        except subprocess.TimeoutExpired:
            stderr = f"pip-audit timed out after {TIMEOUT}s"
        try:
            report = json.loads(output.read_text())
        except (OSError, ValueError):
            report = None
    status, message = verdict(report, stderr)
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
