"""The fault tests' fixtures (a clean job queue, real ``qcluster`` processes) from execution's."""

from execution.tests.faults.conftest import _clean_job_queue, qcluster  # noqa: F401
