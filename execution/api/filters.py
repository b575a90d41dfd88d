from django_filters import rest_framework as filters

from algosaas.api.filters import IdFilter, MultipleChoiceFilter, UTCDateTimeFilter
from execution.models import (
    Backtest,
    BacktestStatus,
    Order,
    OrderRoleChoices,
    OrderStatusChoices,
    SideChoices,
)
from strategies.models import Deployment, DeploymentStatus


class OrderFilter(filters.FilterSet):
    status = MultipleChoiceFilter(choices=OrderStatusChoices.choices)
    side = filters.ChoiceFilter(choices=SideChoices.choices)
    instrument = IdFilter(field_name="instrument_id")
    strategy = IdFilter(field_name="deployment__strategy_id")
    deployment = IdFilter(field_name="deployment_id")
    source = filters.ChoiceFilter(choices=[("strategy", "strategy"), ("manual", "manual")])
    role = MultipleChoiceFilter(choices=OrderRoleChoices.choices)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "side", "instrument", "strategy", "deployment", "source", "role"]


class BacktestFilter(filters.FilterSet):
    # By id, not a ModelChoiceFilter over every user's strategies: that answered 200 (empty) for
    # another user's strategy and 400 for a missing one, telling the two apart.
    status = filters.ChoiceFilter(choices=BacktestStatus.choices)
    strategy = IdFilter(field_name="strategy_id")

    class Meta:
        model = Backtest
        fields = ["status", "strategy"]


class DeploymentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=DeploymentStatus.choices)
    strategy = IdFilter(field_name="strategy_id")

    class Meta:
        model = Deployment
        fields = ["status", "strategy"]
