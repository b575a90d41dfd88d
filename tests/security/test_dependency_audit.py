"""The ``make security`` gate around pip-audit: findings fail the build, the network never does."""

from __future__ import annotations

from tests.security.pip_audit_gate import verdict

AUDITED = {"name": "django", "version": "5.2.19", "vulns": []}
SKIPPED = {"name": "numpy", "skip_reason": "Dependency not found on PyPI and could not be audited"}
VULNERABLE = {
    "name": "requests",
    "version": "2.19.0",
    "vulns": [{"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "aliases": []}],
}


def test_a_known_vulnerability_fails():
    status, message = verdict({"dependencies": [AUDITED, VULNERABLE], "fixes": []})
    assert status == 1
    assert "PYSEC-2018-28" in message and "2.20.0" in message


def test_a_clean_audit_passes():
    status, message = verdict({"dependencies": [AUDITED], "fixes": []})
    assert status == 0
    assert "1 dependencies audited, no known vulnerabilities" in message


def test_dependencies_the_service_had_no_data_for_are_called_out_not_passed_silently():
    status, message = verdict({"dependencies": [SKIPPED, SKIPPED], "fixes": []})
    assert status == 0
    assert "2 of 2 dependencies were NOT audited" in message
    assert "no known vulnerabilities" not in message


def test_an_unreachable_service_is_reported_and_does_not_fail():
    status, message = verdict(None, "ConnectionError: pypi.org unreachable")
    assert status == 0
    assert "NOT AUDITED" in message and "unreachable" in message


def test_a_vulnerability_still_fails_when_other_dependencies_were_skipped():
    status, _ = verdict({"dependencies": [SKIPPED, VULNERABLE], "fixes": []})
    assert status == 1
