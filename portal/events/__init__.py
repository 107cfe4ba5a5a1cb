"""Real-time events: what a user (or the staff's queue) should learn of a change, published after
the change commits and delivered over server-sent events (``GET /api/v1/events``, ``/mod/events``).

- :mod:`portal.events.model`: an event and its id;
- :mod:`portal.events.publish`: what the services call, inside their transaction, to queue an
  event for after the commit;
- :mod:`portal.events.hub`: the process's publisher, fan-out (Litestar's channels), history and
  presence, in memory or in Redis (``PORTAL_REDIS_URL``);
- :mod:`portal.events.stream`: one client's stream: resume, backlog, keep-alive.
"""
