from django.urls import path

import reviewer_portal.run_ids  # noqa: F401  (registers the run_id converter)
from reviewer_portal.codec import views

app_name = "codec"
urlpatterns = [
    path("<run_id:namespace>/decode", views.codec_view, {"operation": "decode"}, name="decode"),
    path("<run_id:namespace>/encode", views.codec_view, {"operation": "encode"}, name="encode"),
    path(
        "<run_id:namespace>/workflows/<run_id:workflow_id>/decode",
        views.codec_view,
        {"operation": "decode"},
        name="decode-run",
    ),
]
