from django.urls import path, register_converter

from reviewer_portal.codec import views
from reviewer_portal.run_ids import RUN_ID, RunIdConverter


class NamespaceConverter(RunIdConverter):
    regex = rf"(?:{RUN_ID}|\{{namespace\}})"


app_name = "codec"
# A namespace, or the literal "{namespace}" (filled in from X-Namespace: one endpoint for all).
register_converter(NamespaceConverter, "namespace")

urlpatterns = [
    path("<namespace:namespace>/decode", views.codec_view, {"operation": "decode"}, name="decode"),
    path("<namespace:namespace>/encode", views.codec_view, {"operation": "encode"}, name="encode"),
    path(
        "<namespace:namespace>/workflows/<run_id:workflow_id>/decode",
        views.codec_view,
        {"operation": "decode"},
        name="decode-run",
    ),
]
