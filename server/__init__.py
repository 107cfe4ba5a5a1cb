"""The composition root: the app factory, the CLI, the ASGI middlewares and the worker loops."""
