from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo and the local stack (`manage.py demo`, `manage.py runlocal`, the stand-in training
    pipeline). It depends on the domain apps; none of them imports it."""

    name = "mlopsportal.demo"
    label = "demo"
    verbose_name = "Demo and local stack"
