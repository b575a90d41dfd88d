from django_filters import rest_framework as filters

from strategies.models import Strategy, StrategyStatus


class StrategyFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=StrategyStatus.choices)
    strategy_type = filters.CharFilter()
    instrument = filters.NumberFilter(field_name="instrument_id")

    class Meta:
        model = Strategy
        fields = ["status", "strategy_type", "instrument", "timeframe", "product"]
