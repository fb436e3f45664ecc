from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("logos/<str:platform_key>/<str:digest>", views.platform_logo, name="logo"),
    path("connect/<str:platform_key>/", views.connect, name="connect"),
    path("connections/", views.connection_list, name="list"),
    path("connections/new/", views.picker, name="picker"),
    path("connections/return/", views.link_return, name="return"),
    path("connections/attempts/<uuid:attempt_id>/", views.attempt_outcome, name="attempt"),
    path("connections/<uuid:connection_id>/", views.connection_detail, name="detail"),
    path("connections/<uuid:connection_id>/check/", views.connection_check, name="check"),
    path(
        "connections/<uuid:connection_id>/progress/",
        views.connection_progress,
        name="progress",
    ),
    path(
        "connections/<uuid:connection_id>/reconnect/",
        views.connection_reconnect,
        name="reconnect",
    ),
    path(
        "connections/<uuid:connection_id>/disconnect/",
        views.connection_disconnect,
        name="disconnect",
    ),
]
