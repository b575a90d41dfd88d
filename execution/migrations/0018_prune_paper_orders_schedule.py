"""The daily django-q2 schedule that prunes the order records of long-stopped paper runs."""

from django.db import migrations

NAME = "prune-paper-orders"


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={
            "func": "execution.tasks.prune_paper_orders",
            "schedule_type": "D",  # daily
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0017_dhan_security_ids"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(create, remove)]
