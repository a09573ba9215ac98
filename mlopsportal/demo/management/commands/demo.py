from typing import Any

from django.core.management.base import BaseCommand

from mlopsportal.demo.steps import DEMO_USERS, demo_load


class Command(BaseCommand):
    help = "Load the demo: users for every role, projects, MLflow runs and models, monitors, scorecards. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo_load(progress=self.stdout.write)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Demo logins:"))
        for demo_user in DEMO_USERS:
            self.stdout.write(
                f"  {demo_user.role.value:<9} {demo_user.username:<10} password: {logins[demo_user.username]}"
            )
