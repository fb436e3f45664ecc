from django.urls import path

from consents import views

app_name = "consents"

urlpatterns = [
    path("products/<slug:slug>/", views.product_detail, name="product"),
    path("products/<slug:slug>/consent/", views.consent_review, name="review"),
    path("products/<slug:slug>/withdraw/", views.consent_withdraw, name="withdraw"),
    path("products/<slug:slug>/keep-sharing/", views.keep_sharing, name="keep_sharing"),
    path("consents/", views.my_consents, name="mine"),
    path("consents/receipt.json", views.consent_receipt, name="receipt"),
]
