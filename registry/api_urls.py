from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("projects", api.ProjectViewSet, basename="project")

urlpatterns = [path("me/", api.MeView.as_view(), name="me"), *router.urls]
