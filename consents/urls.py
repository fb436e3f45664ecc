from django.urls import path

from consents import views

app_name = "consents"

urlpatterns = [
    path("products/<slug:slug>/", views.product_detail, name="product"),
    path("products/<slug:slug>/consent/", views.consent_review, name="review"),
    path("products/<slug:slug>/withdraw/", views.consent_withdraw, name="withdraw"),
    path("products/<slug:slug>/keep-sharing/", views.keep_sharing, name="keep_sharing"),
    path("products/<slug:slug>/wording/<int:version>/", views.wording, name="wording"),
    path("consents/", views.my_consents, name="mine"),
    path("consents/receipt/", views.consent_receipt_page, name="receipt_page"),
    path("consents/receipt.json", views.consent_receipt, name="receipt"),
    path("consents/<slug:slug>/", views.consent_detail, name="consent"),
]
