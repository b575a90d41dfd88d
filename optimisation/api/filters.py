from django_filters import rest_framework as filters

from algosaas.api.filters import IdFilter
from optimisation.models import Sweep, SweepMethod, SweepStatus


class SweepFilter(filters.FilterSet):
    # By id, not a ModelChoiceFilter over every user's strategies: that would answer 200 (empty)
    # for another user's strategy and 400 for a missing one, telling the two apart.
    status = filters.ChoiceFilter(choices=SweepStatus.choices)
    method = filters.ChoiceFilter(choices=SweepMethod.choices)
    strategy = IdFilter(field_name="strategy_id")

    class Meta:
        model = Sweep
        fields = ["status", "method", "strategy"]


class StrategySweepFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=SweepStatus.choices)
    method = filters.ChoiceFilter(choices=SweepMethod.choices)

    class Meta:
        model = Sweep
        fields = ["status", "method"]
