"""Every order gets a role; existing rows take it from their source and client order id."""

from django.db import migrations, models

# The engine's leg suffixes (``execution.engine.legs``, copied: a migration keeps its own
# history). Manual orders are ``m{deployment}-…`` with source "manual".
LEG_ROLES = {
    "x": "exit",
    "e": "entry",
    "sq": "square_off",
    "mis": "square_off",
    "sl": "stop",
    "tp": "target",
}


def derive_roles(apps, schema_editor):
    Order = apps.get_model("execution", "Order")
    Order.objects.filter(source="manual").update(role="manual")
    for suffix, role in LEG_ROLES.items():
        Order.objects.exclude(source="manual").filter(
            client_order_id__endswith=f"-{suffix}"
        ).update(role=role)


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0011_paper_order_records"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="role",
            field=models.CharField(
                choices=[
                    ("entry", "Entry"),
                    ("exit", "Exit"),
                    ("stop", "Stop"),
                    ("target", "Target"),
                    ("square_off", "Square-off"),
                    ("manual", "Manual"),
                ],
                default="entry",
                max_length=10,
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="order",
            name="order_type",
            field=models.CharField(
                choices=[("MARKET", "MARKET"), ("LIMIT", "LIMIT"), ("SL", "SL"), ("SL-M", "SL-M")],
                max_length=6,
            ),
        ),
        migrations.RunPython(derive_roles, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    role__in=["entry", "exit", "stop", "target", "square_off", "manual"]
                ),
                name="order_role_known",
            ),
        ),
    ]
