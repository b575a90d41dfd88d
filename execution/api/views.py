"""Execution endpoints: thin viewsets over user-scoped selectors."""

from rest_framework import mixins, viewsets

from execution.api.serializers import InstrumentSerializer
from execution.models import Instrument


class InstrumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tradable instruments (shared by all users); ``?search=`` matches symbol and name."""

    queryset = Instrument.objects.all()
    serializer_class = InstrumentSerializer
    search_fields = ["symbol", "name"]
    filterset_fields = ["exchange", "currency"]
    ordering_fields = ["symbol", "exchange"]
