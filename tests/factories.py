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


# --- the promotion gate


class PromotionPolicyFactory(factory.django.DjangoModelFactory):
    """A model's own policy (registered_model=None makes the default one: there is at most one)."""

    class Meta:
        model = "registry.PromotionPolicy"

    registered_model = factory.SubFactory(RegisteredModelFactory)
    governed_aliases = factory.LazyFunction(lambda: ["champion"])
    approvals_required = 1


class PromotionRequestFactory(factory.django.DjangoModelFactory):
    """A request row as it stands, snapshot fields copied from its version; the services
    (registry/promotions/requests.py) make real ones, with checks run and audited."""

    class Meta:
        model = "registry.PromotionRequest"

    model_version = factory.SubFactory(ModelVersionFactory)
    registered_model = factory.LazyAttribute(lambda r: r.model_version.registered_model)
    target_alias = "champion"
    version = factory.LazyAttribute(lambda r: r.model_version.version)
    run_id = factory.LazyAttribute(lambda r: r.model_version.run_id)
    source = factory.LazyAttribute(lambda r: r.model_version.source)
    signature_inputs = factory.LazyAttribute(lambda r: r.model_version.signature_inputs)
    requested_by = factory.SubFactory(UserFactory)
    justification = "Better on the holdout set."
    state = "pending"
    decided_at = factory.LazyAttribute(
        lambda r: None if r.state in ("pending", "superseded") else dt.datetime.now(dt.UTC)
    )
