// Status page: polls the JSON API every second. The token is kept in sessionStorage only; it can be
// given once as #token=... in the address (then removed from the address bar).
"use strict";

const TOKEN_KEY = "autohedge-token";
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("token")) {
  sessionStorage.setItem(TOKEN_KEY, hash.get("token"));
  history.replaceState(null, "", location.pathname);
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(path, method = "GET") {
  const response = await fetch(path, { method, headers: { Authorization: "Bearer " + token() } });
  if (response.status === 401) throw new Error("unauthorized: enter the API token (see README, AUTOHEDGE_API_TOKEN)");
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  if (cls) td.className = cls;
  return td;
}

function fill(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows.map(cells => { const tr = document.createElement("tr"); tr.append(...cells); return tr; }));
}

function say(text) { document.getElementById("message").textContent = text; }

async function refresh() {
  try {
    const health = await (await fetch("/health")).json();
    const badge = document.getElementById("health");
    badge.textContent = health.status + (health.reasons.length ? ": " + health.reasons.join("; ") : "");
    badge.className = "badge " + health.status;
    const [status, positions, actors, events] = await Promise.all([
      api("/status"), api("/positions"), api("/actors"), api("/events?limit=30"),
    ]);
    document.getElementById("summary").textContent =
      `${status.venue} · ${status.market_data} · ${status.strategy} · ${status.symbols.join(", ")} · ` +
      `${status.trading_enabled ? "trading" : "stopped"} · quotes ${status.counters.quotes} · ` +
      `orders ${status.counters.orders_submitted} · uptime ${Math.round(status.uptime_s)}s`;
    fill("positions", positions.map(p => [
      cell(p.symbol), cell(p.qty), cell(p.entry_price), cell(p.last_price), cell(p.take_profit), cell(p.stop_loss),
      cell(p.unrealized_pnl), cell(p.protected ? "protected" : "UNPROTECTED", p.protected ? "yes" : "no"),
      cell(p.exit_order_ids.join(", ")),
    ]));
    fill("actors", actors.actors.map(a => [
      cell(a.name), cell(a.state), cell(a.incarnation), cell(a.restarts),
      cell(a.next_restart_in_s === null ? null : a.next_restart_in_s.toFixed(1) + "s"), cell(a.last_error),
    ]));
    const gates = Object.keys(actors.entry_gates);
    document.getElementById("gates").textContent = (actors.kill_switch ? "KILL SWITCH ON. " : "") +
      (gates.length ? "Entries paused by: " + gates.join(", ") : "Entries open.") +
      (actors.parked_symbols.length ? " Parked: " + actors.parked_symbols.join(", ") : "");
    fill("events", events.slice().reverse().map(e => [
      cell(new Date(e.ts_ns / 1e6).toLocaleTimeString()), cell(e.level), cell(e.symbol), cell(e.kind), cell(e.text),
    ]));
    say("");
  } catch (error) {
    say(error.message);
  }
}

async function act(path, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  try { say((await api(path, "POST")).message); } catch (error) { say(error.message); }
  refresh();
}

document.getElementById("token-form").addEventListener("submit", event => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
  document.getElementById("token").value = "";
  refresh();
});
document.getElementById("stop").addEventListener("click",
  () => act("/trading/stop", "Stop trading? Exits keep protecting open positions."));
document.getElementById("start").addEventListener("click", () => act("/trading/start"));

refresh();
setInterval(refresh, 1000);
