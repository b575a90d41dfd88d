from django_filters import rest_framework as filters

from algosaas.api.filters import IdFilter, MultipleChoiceFilter
from strategies.models import Strategy, StrategyStatus


class StrategyFilter(filters.FilterSet):
    status = MultipleChoiceFilter(choices=StrategyStatus.choices)
    strategy_type = filters.CharFilter()
    instrument = IdFilter(field_name="instrument_id")

    class Meta:
        model = Strategy
        fields = ["status", "strategy_type", "instrument", "timeframe", "product"]
