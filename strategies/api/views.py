"""Strategy endpoints: thin viewsets that parse, call one service and render."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from algosaas.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from algosaas.api.viewsets import UserScopedReadOnlyViewSet
from strategies import catalog, rules_service, selectors, services
from strategies.api.filters import StrategyFilter
from strategies.api.serializers import (
    DeploymentSerializer,
    DeploySerializer,
    RuleParseRequestSerializer,
    RuleParseSerializer,
    StopSerializer,
    StrategyEventSerializer,
    StrategySerializer,
    StrategyTypeSerializer,
)
from strategies.models import Strategy

ARCHIVED_VALUES = {"": False, "0": False, "false": False, "1": True, "true": True}


class StrategyTypeViewSet(viewsets.ViewSet):
    """The catalogue of strategy types and their parameter schemas."""

    lookup_field = "key"
    # Any segment reaches the view, so an unknown key is a 404 in the API's error shape.
    lookup_value_regex = r"[^/]+"
    serializer_class = StrategyTypeSerializer

    @extend_schema(responses=StrategyTypeSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(list(catalog.describe_all()))

    @extend_schema(responses=StrategyTypeSerializer)
    def retrieve(self, request: Request, key: str) -> Response:
        try:
            return Response(catalog.describe(key))
        except catalog.UnknownStrategyType:
            raise Http404("No such strategy type.") from None


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("archived", bool, description="List archived strategies instead.")
        ]
    )
)
class StrategyViewSet(UserScopedReadOnlyViewSet):
    """Your strategies. Other users' strategies answer 404, as if they did not exist."""

    model = Strategy
    serializer_class = StrategySerializer
    filterset_class = StrategyFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "updated_at", "status"]
    ordering = ["-created_at", "-id"]

    def scoped_queryset(self, user) -> QuerySet[Strategy]:
        raw = self.request.query_params.get("archived", "").lower()
        if raw not in ARCHIVED_VALUES:  # a typo must not silently list the live strategies
            raise ValidationError({"archived": ["Must be true or false."]})
        archived = ARCHIVED_VALUES[raw]
        qs = selectors.strategies_for_user(user=user, include_archived=archived)
        return qs.filter(archived_at__isnull=False) if archived else qs

    # Their services lock and re-read the row (deploy snapshots the basket, stop answers with
    # the stopped row): the basket read with the request's strategy would be a second read.
    RELOCKING_ACTIONS = frozenset({"deploy", "stop"})

    def scoped_object(self, user, pk: str) -> Strategy:
        members = self.action not in self.RELOCKING_ACTIONS
        return selectors.strategy_get_for_user(user=user, strategy_id=pk, members=members)

    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        strategy = services.strategy_create(owner=request.user, **serializer.validated_data)
        return Response(self.get_serializer(strategy).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        strategy = self.get_object()
        serializer = self.get_serializer(strategy, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        strategy = services.strategy_update(strategy=strategy, **serializer.validated_data)
        return Response(self.get_serializer(strategy).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        services.strategy_delete(strategy=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=StrategySerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> Response:
        strategy = services.strategy_archive(strategy=self.get_object())
        return Response(self.get_serializer(strategy).data)

    @extend_schema(
        request=DeploySerializer,
        responses={201: DeploymentSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def deploy(self, request: Request, pk: str) -> Response:
        strategy = self.get_object()

        def start() -> Response:
            body = DeploySerializer(data=request.data)
            body.is_valid(raise_exception=True)
            deployment = services.strategy_deploy(
                strategy=strategy, actor=request.user, **body.validated_data
            )
            return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)

        return idempotent(request, start)

    @extend_schema(request=StopSerializer, responses=StrategySerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str) -> Response:
        body = StopSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        strategy = services.strategy_stop(
            strategy=self.get_object(), actor=request.user, **body.validated_data
        )
        return Response(self.get_serializer(strategy).data)

    @extend_schema(responses=StrategyEventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        qs = selectors.strategy_events(strategy=self.get_object())
        return self.paginated(qs, StrategyEventSerializer)

    @extend_schema(responses=DeploymentSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def deployments(self, request: Request, pk: str) -> Response:
        qs = selectors.deployments_for_strategy(strategy=self.get_object())
        return self.paginated(qs, DeploymentSerializer)


class RuleParseView(APIView):
    """Turn a rule's text into its document (or a 400 naming line and column)."""

    throttle_classes = [UserRateThrottle]

    @extend_schema(request=RuleParseRequestSerializer, responses=RuleParseSerializer)
    def post(self, request: Request) -> Response:
        body = RuleParseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(rules_service.rules_parse(text=body.validated_data["text"]))
