"""Operators see every sweep with its progress and can cancel one (through the service), and
every walk-forward and Monte Carlo report (read-only; a walk-forward can be cancelled)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from optimisation.exceptions import RobustnessConflict, SweepConflict
from optimisation.models import RobustnessRun, Sweep, SweepChunk
from optimisation.robustness import walk_forward_cancel
from optimisation.services import sweep_cancel
from optimisation.walkforward_steps import walk_forward_progress, walk_forward_resume


class SweepChunkInline(admin.TabularInline):
    model = SweepChunk
    fields = ["seq", "status", "attempts", "seconds", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Sweep)
class SweepAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "strategy",
        "method",
        "objective",
        "status",
        "progress",
        "best_value",
        "created_at",
    ]
    list_filter = ["status", "method", "objective"]
    search_fields = ["owner__email", "strategy__name"]
    list_select_related = ["owner", "strategy"]
    readonly_fields = [f.name for f in Sweep._meta.fields]
    inlines = [SweepChunkInline]
    actions = ["cancel_sweeps"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Progress")
    def progress(self, sweep: Sweep) -> str:
        pct = 100.0 * sweep.done / sweep.total if sweep.total else 100.0
        chunks = f"{sweep.chunks_done}/{sweep.chunks_total}"
        return f"{sweep.done}/{sweep.total} ({pct:.0f}%), chunks {chunks}"

    @admin.action(description="Cancel the selected sweeps")
    def cancel_sweeps(self, request: HttpRequest, queryset: QuerySet[Sweep]) -> None:
        cancelled = 0
        for sweep in queryset:
            try:
                sweep_cancel(sweep=sweep)
                cancelled += 1
            except SweepConflict as e:
                self.message_user(request, f"Sweep {sweep.pk}: {e.message}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} sweep(s).")


@admin.register(RobustnessRun)
class RobustnessRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "owner",
        "strategy",
        "backtest",
        "status",
        "progress",
        "seconds",
        "created_at",
    ]
    list_filter = ["kind", "status"]
    search_fields = ["owner__email", "strategy__name"]
    list_select_related = ["owner", "strategy", "backtest"]
    readonly_fields = [f.name for f in RobustnessRun._meta.fields]
    actions = ["cancel_walk_forwards", "resume_walk_forwards"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Progress")
    def progress(self, run: RobustnessRun) -> str:
        p = walk_forward_progress(run)
        if p is None:
            return "—"
        return (
            f"windows {p['windows_done']}/{p['windows_total']}, "
            f"chunks {p['chunks_done']}/{p['chunks_total']} ({p['percent']:.0f}%)"
        )

    @admin.action(description="Queue the pending steps of the selected walk-forwards again")
    def resume_walk_forwards(self, request: HttpRequest, queryset: QuerySet[RobustnessRun]) -> None:
        """For a run whose tasks were lost (a broker that lost them): a step already stored
        is skipped, one running now is recorded once."""
        steps = sum(walk_forward_resume(run_id=run.pk) for run in queryset)
        self.message_user(request, f"Queued {steps} step(s).")

    @admin.action(description="Cancel the selected walk-forwards")
    def cancel_walk_forwards(self, request: HttpRequest, queryset: QuerySet[RobustnessRun]) -> None:
        cancelled = 0
        for run in queryset:
            try:
                walk_forward_cancel(run=run)
                cancelled += 1
            except RobustnessConflict as e:
                self.message_user(request, f"Run {run.pk}: {e.message}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} walk-forward(s).")
