import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from registry.models import Experiment, ModelVersion, Project, ProjectMembership, RegisteredModel, Run
from registry.roles import Role

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create: bool, extracted: list[Role] | None, **kwargs) -> None:
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=[r.value for r in extracted]))
            self.is_staff = Role.ADMIN in extracted
            self.save(update_fields=["is_staff"])


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.LazyAttribute(lambda p: p.name.lower().replace(" ", "-"))
    team = "Data science"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMembership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)


# --- MLflow mirror rows, for tests that do not need a real MLflow server behind them.


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    mlflow_id = factory.Sequence(lambda n: str(1000 + n))
    name = factory.Sequence(lambda n: f"experiment-{n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    run_id = factory.Sequence(lambda n: f"{n:032x}")
    experiment = factory.SubFactory(ExperimentFactory)
    name = factory.Sequence(lambda n: f"run-{n}")
    status = Run.Status.FINISHED
    start_time = factory.Faker("date_time_this_year", tzinfo=dt.UTC)
    params = factory.LazyFunction(lambda: {"lr": "0.1"})
    metrics = factory.LazyFunction(lambda: {"accuracy": 0.9})


class RegisteredModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredModel
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"model-{n}")


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    registered_model = factory.SubFactory(RegisteredModelFactory)
    version = factory.Sequence(lambda n: n + 1)
    run = factory.SubFactory(RunFactory)
    run_id = factory.LazyAttribute(lambda v: v.run.run_id if v.run else "")
    status = "READY"
    signature_read = True


class MonitorFactory(factory.django.DjangoModelFactory):
    """A monitor row as a test needs it; `monitoring.services` makes real ones (reference, tokens)."""

    class Meta:
        model = "monitoring.Monitor"

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"monitor-{n}")
    model_name = factory.Sequence(lambda n: f"model-{n}")
    alias = "champion"


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Alert"

    monitor = factory.SubFactory(MonitorFactory)
    kind = "volume"
    dedupe_key = factory.Sequence(lambda n: f"alert-{n}")
    title = factory.LazyAttribute(lambda alert: f"{alert.kind} on {alert.monitor.name}")
