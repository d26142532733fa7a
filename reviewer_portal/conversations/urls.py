from django.urls import path

from reviewer_portal.conversations import api, chat_views, rep_views

app_name = "conversations"

urlpatterns = [
    path("api/support/conversations/", api.conversation_create, name="api-create"),
    path("api/support/conversations/<str:conversation_id>/", api.conversation_detail, name="api-detail"),
    path("api/support/conversations/<str:conversation_id>/messages/", api.message_create, name="api-message"),
    path("support/chat/", chat_views.chat_start, name="chat-start"),
    path("support/chat/<str:conversation_id>/", chat_views.chat, name="chat"),
    path("support/chat/<str:conversation_id>/messages/", chat_views.chat_message, name="chat-message"),
    path("conversations/<str:conversation_id>/", rep_views.conversation, name="conversation"),
    path("conversations/<str:conversation_id>/reply/", rep_views.reply, name="reply"),
    path("conversations/<str:conversation_id>/release/", rep_views.release, name="release"),
]
