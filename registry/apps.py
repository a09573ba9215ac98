from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from . import roles

        # Groups and their permissions are kept in code and re-applied after every migrate, so a
        # permission added by a later release reaches existing installations without a manual step.
        post_migrate.connect(roles.sync_role_groups_after_migrate, dispatch_uid="registry.sync_role_groups")
