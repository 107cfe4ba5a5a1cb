"""axe-core (from npm, as package-lock.json pins it; never served by the app) run over a page in
the browser. It is evaluated through the DevTools protocol, which the pages' CSP does not govern,
so the pages need no exception for it."""

from __future__ import annotations

from functools import cache
from typing import Any
from weakref import WeakSet

from portal.settings import PROJECT_ROOT

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")
_REGISTERED: WeakSet[Any] = WeakSet()  # the browser contexts whose documents get axe

_RUN = """async () => {
  const result = await axe.run(document, {iframes: false, resultTypes: ["violations"]});
  return result.violations
    .filter((v) => ["critical", "serious"].includes(v.impact))
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}));
}"""


@cache
def _source() -> str:
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run `make install-test` (npm ci installs axe-core)")
    return AXE.read_text(encoding="utf-8")


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """The critical and serious axe-core violations of the page as it is shown now. Message
    bodies render in sandboxed frames without script, which axe cannot enter: it checks the
    page around them (each frame has its title). The first check in a browser context also
    registers axe for every later document of that context, so that a walk over many pages
    sends its half megabyte through the protocol once, not once a page."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source() + "\n;undefined")
        if page.context not in _REGISTERED:  # (pages without script run no init script)
            page.context.add_init_script(_source())
            _REGISTERED.add(page.context)
    return list(page.evaluate(_RUN))
