from django.apps import AppConfig


class BrokersConfig(AppConfig):
    name = "brokers"
    verbose_name = "Broker accounts"

    def ready(self) -> None:
        from brokers import checks  # noqa: F401 - registers the deploy check
