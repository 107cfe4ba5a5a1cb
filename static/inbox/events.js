// The caller's real-time events: GET /api/v1/events with a ticket (EventSource cannot send a
// bearer token). EventSource reconnects by itself and sends Last-Event-ID; once its ticket has
// expired that retry is refused and the source closes, so a new ticket is fetched and the
// stream reopened from the last event seen (`last_event_id`), with a growing delay.

const TYPES = [
  "message.created",
  "message.read",
  "unread.changed",
  "thread.archived",
  "thread.deleted",
  "message.removed",
  "resync",
];

export function connectEvents(api, onEvent, onStatus) {
  let source = null;
  let lastId = null;
  let attempts = 0;
  let timer = null;
  let stopped = false;

  function schedule() {
    if (stopped) return;
    onStatus("reconnecting");
    const delay = Math.min(30000, 1000 * 2 ** attempts);
    attempts += 1;
    timer = setTimeout(open, delay);
  }

  async function open() {
    if (stopped) return;
    let ticket;
    try {
      ticket = (await api.post("/events/ticket")).ticket;
    } catch (error) {
      if (error.status !== 401) schedule();
      return;
    }
    if (stopped) return;
    const url = new URL("/api/v1/events", location.origin);
    url.searchParams.set("ticket", ticket);
    if (lastId) url.searchParams.set("last_event_id", lastId);
    source = new EventSource(url);
    source.addEventListener("open", () => {
      attempts = 0;
      onStatus("live");
    });
    source.addEventListener("error", () => {
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        schedule();
      } else {
        onStatus("reconnecting");
      }
    });
    for (const type of TYPES) {
      source.addEventListener(type, (message) => {
        if (message.lastEventId) lastId = message.lastEventId;
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        onEvent(type, event.data || {}, event);
      });
    }
  }

  open();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      if (source) source.close();
      source = null;
    },
  };
}
