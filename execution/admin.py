from django.contrib import admin

from execution.models import Instrument


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["symbol", "exchange", "name", "tick_size", "lot_size", "currency"]
    list_filter = ["exchange", "currency"]
    search_fields = ["symbol", "name"]
