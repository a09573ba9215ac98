"""The world the authorization matrix is played in, and how one cell of it is observed.

Every object sits in one private project. Its engineer leads it; the manager and the reviewer are
members; the admin is an admin; the outsider is an engineer who belongs to nothing, so for them
every object here must behave like one that does not exist.

Routes come from the URL configuration itself (`routes()`), so a route added without an entry in
the matrix is noticed."""

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

ROLES = ("anonymous", "manager", "reviewer", "engineer", "admin", "outsider")


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name"
    pattern: str
    callback: Any

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    @property
    def is_admin_site(self) -> bool:
        return self.name.startswith("admin:")

    def methods(self) -> tuple[str, ...]:
        """The methods a route answers: DRF's own list for the API; GET and POST for pages, whose
        decorators do not say which they accept (the matrix records 405 where one is refused)."""
        actions = getattr(self.callback, "actions", None)
        if actions:
            # DRF adds "head" to a viewset's actions at its first GET: leave it out, it is GET's twin.
            return tuple(sorted(method.upper() for method in actions if method not in ("head", "options")))
        view_class = getattr(self.callback, "cls", None)
        if view_class is not None:
            handlers = [m for m in view_class.http_method_names if m not in ("options", "head")]
            return tuple(sorted(m.upper() for m in handlers if hasattr(view_class, m)))
        return ("GET", "POST")


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = ":".join(filter(None, [namespace, entry.name or str(entry.pattern)]))
            yield Route(name=name, pattern=prefix + str(entry.pattern), callback=entry.callback)


def routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


@dataclass
class World:
    users: dict[str, Any]
    kwargs: dict[str, str]  # URL keyword -> value, for the objects of the private project
    bodies: dict[str, dict[str, str]]  # route name -> a form body, where an empty one proves nothing
    pk_for: dict[str, int]  # which object a route's <pk> names, by the route's name prefix


def build_world() -> World:
    from django.contrib.contenttypes.models import ContentType

    from assessments.models import AnswerStatus, AttestedAnswer, Criterion
    from monitoring.models import Alert, ShadowEvaluation
    from monitoring.services.ingest_tokens import ingest_token_create
    from monitoring.services.monitors import monitor_create
    from monitoring.services.notifications import channel_add
    from registry.models import Experiment
    from registry.promotions.models import GateAlert, PromotionRequest
    from registry.roles import Role

    from .factories import ExperimentFactory, ProjectFactory, RunFactory, UserFactory
    from .registry.gate_support import default_policy, mirror_model

    users = {
        "manager": UserFactory(username="m-manager", roles=[Role.MANAGER]),
        "reviewer": UserFactory(username="r-reviewer", roles=[Role.REVIEWER]),
        "engineer": UserFactory(username="e-engineer", roles=[Role.ENGINEER]),
        "admin": UserFactory(username="a-admin", roles=[Role.ADMIN]),
        "outsider": UserFactory(username="o-outsider", roles=[Role.ENGINEER]),
    }
    project = ProjectFactory(name="Private pilot", visibility="private")
    project.memberships.create(user=users["engineer"], role="lead")
    project.memberships.create(user=users["manager"], role="member")
    project.memberships.create(user=users["reviewer"], role="member")

    experiment = ExperimentFactory(project=project)
    run = RunFactory(experiment=experiment)
    default_policy()
    model = mirror_model("pilot-secret-model", project=project)
    Experiment.objects.filter(runs__model_versions__registered_model=model).update(project=project)
    version = model.versions.get(version=2)
    request = PromotionRequest.objects.create(
        registered_model=model,
        model_version=version,
        target_alias="champion",
        version=2,
        holder_version=1,
        requested_by=users["engineer"],
        justification="Better AUC",
    )
    gate_alert = GateAlert.objects.create(
        kind=GateAlert.Kind.BYPASS, registered_model=model, alias="champion", message="moved outside the gate"
    )
    monitor = monitor_create(
        actor=None,
        project=project,
        name="pilot-monitor",
        model_name=model.name,
        alias="champion",
        expected_schema=[{"name": "x", "type": "double", "required": True}],
    )
    token = ingest_token_create(actor=None, monitor=monitor, name="serving")
    channel = channel_add(actor=None, monitor=monitor, kind="email", target="team@pilot.example")
    alert = Alert.objects.create(
        monitor=monitor, kind=Alert.Kind.VOLUME, dedupe_key=f"m{monitor.pk}-volume", title="Few rows"
    )
    evaluation = ShadowEvaluation.objects.create(
        model_name=model.name, alias="champion", candidate_version=2, holder_version=1, monitor=monitor
    )
    attested = Criterion.objects.filter(kind=Criterion.Kind.ATTESTED).order_by("code").first()
    AttestedAnswer.objects.create(
        project=project,
        criterion=attested,
        status=AnswerStatus.MET,
        answered_by=users["engineer"],
        answered_at=timezone.now(),
        note="Retraining runs nightly from the pipeline",
    )
    return World(
        users=users,
        kwargs={
            "slug": project.slug,
            "mlflow_id": experiment.mlflow_id,
            "run_id": run.run_id,
            "name": model.name,
            "model": model.name,
            "monitor_id": str(monitor.pk),
            "token_id": str(token.token.pk),
            "channel_id": str(channel.pk),
            "verb": "acknowledge",
            "code": attested.code,
            # the admin site's own URLs
            "app_label": "registry",
            "object_id": str(project.pk),
            "content_type_id": str(ContentType.objects.get_for_model(project).pk),
            "id": str(users["admin"].pk),
            "url": "no-such-admin-page/",
        },
        bodies={
            "registry:project_mirror_link": {"model": model.name},
            "monitoring:shadow_run": {"model": model.name, "version": "2", "alias": "champion"},
        },
        pk_for={
            "registry:gate_alert": gate_alert.pk,
            "registry:promotion": request.pk,
            "promotion": request.pk,
            "monitoring:monitor": monitor.pk,
            "monitor": monitor.pk,
            "monitoring:alert": alert.pk,
            "monitoring:shadow": evaluation.pk,
            "alert": alert.pk,
        },
    )


_GROUP = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def url_of(route: Route, world: World) -> str:
    def value(match: re.Match) -> str:
        key = match.group(1) or match.group(2)
        if key == "pk":
            prefix = next(p for p in sorted(world.pk_for, key=len, reverse=True) if route.name.startswith(p))
            return str(world.pk_for[prefix])
        return world.kwargs[key]

    path = _GROUP.sub(value, route.pattern).replace("^", "").replace("$", "")
    return "/" + path


def outcome(response: Any) -> str:
    """A response as the matrix writes it: the status, or where a redirect goes."""
    if response.status_code in (301, 302, 303):
        location = response.headers.get("Location", "")
        if location.startswith("/login/"):
            return "login"
        if location.startswith("/admin/login/"):
            return "admin-login"
        return "redirect"
    return str(response.status_code)


def observe(client: Any, world: World, route: Route, method: str, role: str) -> tuple[str, str]:
    """One cell: the route, called with `method` by `role`, with an empty body (or the route's entry
    in `world.bodies`); returns the outcome and the body. Whatever the call changes is rolled back,
    so the next cell sees the same world."""
    url = url_of(route, world)
    client.logout()
    if role != "anonymous":
        client.force_login(world.users[role])
    with contextlib.suppress(_RolledBack), transaction.atomic():
        if method == "GET":
            response = client.get(url)
        elif route.is_api:
            response = client.generic(method, url, "{}", content_type="application/json")
        else:
            response = client.generic(
                method,
                url,
                urlencode(world.bodies.get(route.name, {})),
                content_type="application/x-www-form-urlencoded",
            )
        result = (outcome(response), response.content.decode(errors="replace"))
        raise _RolledBack
    return result


class _RolledBack(Exception):
    pass
