"""Live updates: gate changes pushed to reviewers' browsers over WebSocket, as hints to re-read."""
