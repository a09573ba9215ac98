"""The mirror's pages and who may see them; lists do a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.mirror.sync import sync_execute
from registry.models import AuditEvent, MetricHistory, SyncRun
from tests.factories import (
    ExperimentFactory,
    ModelVersionFactory,
    ProjectFactory,
    RegisteredModelFactory,
    RunFactory,
    UserFactory,
)

from .mlflow_helpers import log_run, unique

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "no_role", "manager", "reviewer", "engineer", "portal_admin", "outsider"]


@pytest.fixture
def mirror(private_project):
    """An internal experiment and model, and a private project's experiment and model."""
    public_experiment = ExperimentFactory(name="public-exp", mlflow_id="11")
    public_run = RunFactory(experiment=public_experiment, run_id="a" * 32, name="public-run")
    public_model = RegisteredModelFactory(name="public-model", aliases={"champion": 1})
    ModelVersionFactory(registered_model=public_model, version=1, run=public_run, aliases=["champion"])
    private_experiment = ExperimentFactory(name="private-exp", mlflow_id="12", project=private_project)
    private_run = RunFactory(experiment=private_experiment, run_id="b" * 32, name="private-run")
    private_model = RegisteredModelFactory(name="private-model", project=private_project)
    ModelVersionFactory(registered_model=private_model, version=1, run=private_run)
    return {"experiment": public_experiment, "run": public_run, "model": public_model}


def _login(client, request, role):
    if role == "no_role":
        client.force_login(UserFactory(username="nobody"))
    elif role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    return client


PAGES = {
    "experiments": "/experiments/",
    "experiment": "/experiments/11/",
    "run": f"/runs/{'a' * 32}/",
    "models": "/models/",
    "model": "/models/public-model/",
    "api experiments": "/api/v1/experiments/",
    "api experiment": "/api/v1/experiments/11/",
    "api runs": "/api/v1/runs/",
    "api run": f"/api/v1/runs/{'a' * 32}/",
    "api models": "/api/v1/models/",
    "api model": "/api/v1/models/public-model/",
    "api versions": "/api/v1/models/public-model/versions/",
}
PRIVATE_PAGES = {
    "experiment": "/experiments/12/",
    "run": f"/runs/{'b' * 32}/",
    "model": "/models/private-model/",
    "api experiment": "/api/v1/experiments/12/",
    "api run": f"/api/v1/runs/{'b' * 32}/",
    "api model": "/api/v1/models/private-model/",
    "api versions": "/api/v1/models/private-model/versions/",
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES)
def test_every_role_with_mirror_permissions_reads_the_mirror_and_others_are_turned_away(
    client, request, mirror, page, role
):
    response = _login(client, request, role).get(PAGES[page])
    api = page.startswith("api")
    expected = {"anonymous": 401 if api else 302, "no_role": 403}.get(role, 200)
    assert response.status_code == expected, f"{role} on {PAGES[page]}"


@pytest.mark.parametrize("role", ["outsider", "engineer", "portal_admin"])
@pytest.mark.parametrize("page", PRIVATE_PAGES)
def test_objects_of_a_private_project_are_404_for_non_members(client, request, mirror, page, role):
    response = _login(client, request, role).get(PRIVATE_PAGES[page])
    assert response.status_code == (404 if role == "outsider" else 200)


def test_lists_hide_the_objects_of_private_projects_from_non_members(client, mirror, outsider, engineer):
    client.force_login(outsider)
    assert "private-exp" not in client.get("/experiments/").content.decode()
    assert "private-model" not in client.get("/models/").content.decode()
    names = [row["name"] for row in client.get("/api/v1/runs/").json()["results"]]
    assert "public-run" in names and "private-run" not in names
    client.force_login(engineer)
    assert "private-exp" in client.get("/experiments/").content.decode()


def test_the_experiment_list_searches_and_counts_runs(client, engineer, mirror):
    RunFactory.create_batch(3, experiment=mirror["experiment"])
    ExperimentFactory(name="other-exp")
    client.force_login(engineer)

    page = client.get("/experiments/?q=public").content.decode()

    assert "public-exp" in page and "other-exp" not in page
    assert "<td>4</td>" in page  # 1 + 3 runs


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_pages_do_the_same_number_of_queries_for_many_rows_as_for_few(client, engineer, mirror):
    client.force_login(engineer)
    experiment = mirror["experiment"]
    urls = ["/experiments/", f"/experiments/{experiment.mlflow_id}/", "/models/", "/models/public-model/"]
    urls += ["/api/v1/experiments/", "/api/v1/runs/", "/api/v1/models/"]
    few = {url: _queries(client, url) for url in urls}
    for n in range(20):
        run = RunFactory(experiment=ExperimentFactory() if n % 2 else experiment)
        ModelVersionFactory(registered_model=RegisteredModelFactory(name=f"m{n % 5}"), run=run)
        ModelVersionFactory(registered_model=mirror["model"], run=run)
    many = {url: _queries(client, url) for url in urls}
    assert many == few


def test_the_runs_table_sorts_by_a_chosen_metric_and_filters_by_status(client, engineer):
    experiment = ExperimentFactory(mlflow_id="77")
    RunFactory(experiment=experiment, name="low", metrics={"auc": 0.6, "loss": 1.0}, params={"depth": "3"})
    RunFactory(experiment=experiment, name="high", metrics={"auc": 0.9}, params={"depth": "5"})
    RunFactory(experiment=experiment, name="failed", metrics={"auc": 0.7}, status="FAILED")
    client.force_login(engineer)

    page = client.get("/experiments/77/?metric=auc&param=depth&sort=-metrics.auc").content.decode()
    assert page.index(">high</a>") < page.index(">failed</a>") < page.index(">low</a>")
    assert 'class="metric-col"' in page and ">auc ↓<" in page.replace("auc ↓ <", "auc ↓<")

    page = client.get("/experiments/77/?metric=auc&sort=metrics.auc").content.decode()
    assert page.index(">low</a>") < page.index(">failed</a>") < page.index(">high</a>")

    page = client.get("/experiments/77/?status=FAILED").content.decode()
    assert ">failed</a>" in page and ">high</a>" not in page


def test_the_runs_table_paginates(client, engineer):
    experiment = ExperimentFactory(mlflow_id="78")
    RunFactory.create_batch(55, experiment=experiment)
    client.force_login(engineer)
    page = client.get("/experiments/78/").content.decode()
    assert "Page 1 of 2" in page and "55 in all" in page


def test_comparing_runs_shows_params_side_by_side_highlights_differences_and_charts_histories(
    client, engineer, mlflow_uri, mlflow_client, settings
):
    experiment_id = mlflow_client.create_experiment(unique("compare"))
    a = log_run(mlflow_client, experiment_id, params={"lr": "0.1", "seed": "1"}, metrics={"loss": [0.9, 0.5, 0.3]})
    b = log_run(mlflow_client, experiment_id, params={"lr": "0.2", "seed": "1"}, metrics={"loss": [0.8, 0.6]})
    sync_execute(kind=SyncRun.Kind.FULL)
    client.force_login(engineer)

    page = client.get(f"/runs/compare/?run={a}&run={b}").content.decode()

    assert '<tr class="differs"><th scope="row">lr</th>' in page
    assert '<tr><th scope="row">seed</th>' in page  # same value: not highlighted
    assert "vendor/plotly/plotly.min.js" in page and 'id="chart-0"' in page
    histories = {h.run.run_id: h.points for h in MetricHistory.objects.select_related("run")}
    assert [p[2] for p in histories[a]] == [0.9, 0.5, 0.3] and [p[2] for p in histories[b]] == [0.8, 0.6]

    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # cached: the page no longer needs MLflow
    again = client.get(f"/runs/compare/?run={a}&run={b}").content.decode()
    assert 'id="chart-0"' in again and "not available" not in again


def test_the_run_page_shows_lineage_facts_and_says_when_histories_are_unavailable(client, engineer, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    settings.MLFLOW_REQUEST_RETRIES = 0
    run = RunFactory(
        git_commit="abc123",
        datasets=[
            {"name": "train", "digest": "d1g35t", "source": "s3://x", "source_type": "s3", "context": "training"}
        ],
        metrics={"loss": 0.2},
    )
    ModelVersionFactory(registered_model=RegisteredModelFactory(name="from-run"), run=run, version=4)
    client.force_login(engineer)

    page = client.get(run.get_absolute_url()).content.decode()

    assert "abc123" in page and "d1g35t" in page and "from-run v4" in page
    assert "not available right now" in page
    assert f"#/experiments/{run.experiment.mlflow_id}/runs/{run.run_id}" in page


def test_the_model_page_shows_aliases_versions_lineage_and_signatures(client, reviewer):
    model = RegisteredModelFactory(name="churn", aliases={"champion": 2})
    run = RunFactory(git_commit="feedbeef", datasets=[{"name": "train", "digest": "abcd1234"}])
    ModelVersionFactory(registered_model=model, version=1, run=run)
    ModelVersionFactory(
        registered_model=model,
        version=2,
        run=run,
        aliases=["champion"],
        signature_inputs=[{"name": "tenure", "type": "long", "required": True}],
        signature_outputs=[{"name": None, "type": "double", "required": True}],
    )
    client.force_login(reviewer)

    page = client.get("/models/churn/").content.decode()

    assert "@champion → v2" in page
    assert page.index('id="v2"') < page.index('id="v1"')  # newest first
    assert "<td>tenure</td><td><code>long</code></td>" in page
    assert "This version has no signature." in page and "abcd1234" in page and "feedbeef" in page


def test_an_engineer_links_an_experiment_and_a_model_to_their_project_and_it_is_audited(
    client, engineer, private_project
):
    experiment = ExperimentFactory(mlflow_id="90")
    model = RegisteredModelFactory(name="linkable")
    client.force_login(engineer)

    client.post("/experiments/90/project/", {"project": private_project.pk})
    client.post("/models/linkable/project/", {"project": private_project.pk})

    experiment.refresh_from_db()
    model.refresh_from_db()
    assert experiment.project == model.project == private_project
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"experiment.linked", "registered_model.linked"}
    assert 'name="project"' in client.get("/experiments/90/").content.decode()


def test_linking_to_a_project_one_is_not_a_member_of_is_refused(client, outsider, reviewer, private_project):
    ExperimentFactory(mlflow_id="91")
    other = ProjectFactory(name="Other")
    client.force_login(outsider)
    assert client.post("/experiments/91/project/", {"project": other.pk}).status_code == 302  # not in the choices
    assert ExperimentFactory._meta.model.objects.get(mlflow_id="91").project is None
    client.force_login(reviewer)
    assert client.post("/experiments/91/project/", {"project": private_project.pk}).status_code == 403
    assert 'name="project"' not in client.get("/experiments/91/").content.decode()


def test_a_refused_link_says_the_services_reason_on_the_page_and_to_a_script(client, reviewer, private_project):
    ExperimentFactory(mlflow_id="92")
    client.force_login(reviewer)
    refused = client.post("/experiments/92/project/", {"project": private_project.pk})
    assert refused.status_code == 403
    assert "Only engineers of both projects, or an admin, can move this link." in refused.content.decode()
    scripted = client.post(
        "/experiments/92/project/", {"project": private_project.pk}, headers={"Accept": "application/json"}
    )
    assert scripted.status_code == 403 and "Only engineers of both projects" in scripted.json()["error"]["message"]


def test_the_openapi_schema_documents_the_mirror_endpoints(client, engineer):
    client.force_login(engineer)
    paths = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()["paths"]
    for path in [
        "/api/v1/experiments/",
        "/api/v1/experiments/{mlflow_id}/",
        "/api/v1/runs/",
        "/api/v1/runs/{run_id}/",
        "/api/v1/runs/{run_id}/history/",
        "/api/v1/models/",
        "/api/v1/models/{name}/",
        "/api/v1/models/{name}/versions/",
        "/api/v1/sync/",
    ]:
        assert path in paths, path


def test_the_models_api_nests_versions_with_signatures(client, manager):
    model = RegisteredModelFactory(name="api-model", aliases={"champion": 1})
    ModelVersionFactory(
        registered_model=model,
        version=1,
        aliases=["champion"],
        signature_inputs=[{"name": "x", "type": "double", "required": True}],
    )
    client.force_login(manager)
    body = client.get("/api/v1/models/api-model/").json()
    assert body["aliases"] == {"champion": 1}
    assert body["versions"][0]["signature_inputs"] == [{"name": "x", "type": "double", "required": True}]
    assert client.get("/api/v1/models/api-model/versions/").json()[0]["version"] == 1


def test_an_engineer_links_an_experiment_from_the_mirror_on_the_project_page(client, engineer, private_project):
    ExperimentFactory(mlflow_id="95", name="unlinked-exp")
    RegisteredModelFactory(name="unlinked-model")
    client.force_login(engineer)

    page = client.get(private_project.get_absolute_url()).content.decode()
    assert '<option value="95">unlinked-exp</option>' in page and '<option value="unlinked-model">' in page

    client.post(f"/projects/{private_project.slug}/mlflow/", {"experiment": "95"})
    client.post(f"/projects/{private_project.slug}/mlflow/", {"model": "unlinked-model"})

    page = client.get(private_project.get_absolute_url()).content.decode()
    assert 'href="/experiments/95/">unlinked-exp</a>' in page and 'href="/models/unlinked-model/">' in page


def test_a_reviewer_sees_the_projects_models_but_no_link_form(client, reviewer, private_project):
    RegisteredModelFactory(name="linked-model", project=private_project)
    RegisteredModelFactory(name="free-model")
    client.force_login(reviewer)
    page = client.get(private_project.get_absolute_url()).content.decode()
    assert "linked-model" in page and "free-model" not in page
    assert client.post(f"/projects/{private_project.slug}/mlflow/", {"model": "free-model"}).status_code == 403


def test_comparing_fewer_than_two_runs_goes_back_to_the_experiment_with_a_message(client, outsider, mirror):
    experiment = mirror["experiment"]
    client.force_login(outsider)

    none_selected = client.get(f"/runs/compare/?experiment={experiment.mlflow_id}")
    hidden = client.get("/runs/compare/?experiment=12")  # the private project's: not the outsider's to see

    assert none_selected.status_code == 302
    assert none_selected.headers["Location"] == experiment.get_absolute_url() + "#compare-runs"
    assert hidden.headers["Location"] == "/experiments/"
    page = client.get(none_selected.headers["Location"]).content.decode()
    assert "Select two or more runs to compare." in page
