from django_filters import rest_framework as filters

from execution.models import Backtest, BacktestStatus, Order, OrderStatusChoices, SideChoices
from strategies.models import Deployment, DeploymentStatus


class OrderFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=OrderStatusChoices.choices)
    side = filters.ChoiceFilter(choices=SideChoices.choices)
    instrument = filters.NumberFilter(field_name="instrument_id")
    strategy = filters.NumberFilter(field_name="deployment__strategy_id")
    deployment = filters.NumberFilter(field_name="deployment_id")
    source = filters.ChoiceFilter(choices=[("strategy", "strategy"), ("manual", "manual")])
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "side", "instrument", "strategy", "deployment", "source"]


class BacktestFilter(filters.FilterSet):
    # By id, not a ModelChoiceFilter over every user's strategies: that answered 200 (empty) for
    # another user's strategy and 400 for a missing one, telling the two apart.
    status = filters.ChoiceFilter(choices=BacktestStatus.choices)
    strategy = filters.NumberFilter(field_name="strategy_id")

    class Meta:
        model = Backtest
        fields = ["status", "strategy"]


class DeploymentFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=DeploymentStatus.choices)
    strategy = filters.NumberFilter(field_name="strategy_id")

    class Meta:
        model = Deployment
        fields = ["status", "strategy"]
