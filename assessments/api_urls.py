from django.urls import path

from assessments import api

urlpatterns = [
    path("assessments/portfolio/", api.PortfolioView.as_view(), name="assessments-portfolio"),
    path("assessments/scorecards/<slug:slug>/", api.ScorecardView.as_view(), name="assessments-scorecard"),
    path("assessments/scorecards/<slug:slug>/answers/", api.AnswerView.as_view(), name="assessments-answer"),
    path(
        "assessments/scorecards/<slug:slug>/answers/<str:code>/review/",
        api.ReviewView.as_view(),
        name="assessments-review",
    ),
]
