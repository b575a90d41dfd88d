"""Shapes of the execution API."""

from rest_framework import serializers

from execution.models import Instrument


class InstrumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Instrument
        fields = ["id", "exchange", "symbol", "name", "tick_size", "lot_size", "currency"]
