from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("insights/", views.dashboard, name="dashboard"),
    # Under admin/ with the admin's own pages (staff only); listed before the admin's URLs,
    # whose catch-all would answer first.
    path("admin/lending-review/<uuid:company_id>/", views.lending_review, name="lending_review"),
]
