"""Account URLs, included at /accounts/. Names are global (no namespace): Django's auth views
and LOGIN_URL refer to them as `login`, `password_reset_done` and so on."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from companies import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("signup/sent/", views.signup_sent, name="signup_sent"),
    path("signup/confirm/<token>/", views.signup_confirm_view, name="signup_confirm"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("close/", views.account_close_view, name="account_close"),
    path("closed/", views.account_closed, name="account_closed"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
