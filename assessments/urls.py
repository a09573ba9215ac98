from django.urls import path

from assessments import views

app_name = "assessments"

urlpatterns = [
    path("assessments/", views.portfolio, name="portfolio"),
    path("assessments/portfolio.csv", views.portfolio_csv, name="portfolio_csv"),
    path("assessments/<slug:slug>/", views.scorecard, name="scorecard"),
    path("assessments/<slug:slug>/scorecard.csv", views.scorecard_export, {"fmt": "csv"}, name="scorecard_csv"),
    path("assessments/<slug:slug>/scorecard.json", views.scorecard_export, {"fmt": "json"}, name="scorecard_json"),
    path("assessments/<slug:slug>/answers/<str:code>/", views.answer, name="answer"),
    path("assessments/<slug:slug>/answers/<str:code>/review/", views.review, name="review"),
]
