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
  if (response.status === 401) throw new Error(
    "unauthorized: open the address `autohedge run` printed (it carries the token), or enter the value of AUTOHEDGE_API_TOKEN");
  if (!response.ok) {
    // A refusal (409, 422, 503) says why in its detail: show it, not just the status.
    const detail = await response.json().then(body => body.detail, () => null);
    throw new Error(path + ": HTTP " + response.status + (typeof detail === "string" ? ": " + detail : ""));
  }
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
    document.getElementById("venues").textContent = Object.entries(status.venues).map(venueText).join(" ");
    fill("events", events.slice().reverse().map(e => [
      cell(new Date(e.ts_ns / 1e6).toLocaleTimeString()), cell(e.level), cell(e.symbol), cell(e.kind), cell(e.text),
    ]));
    if (tick % 5 === 0) await refreshPnl();
    tick += 1;
    say("");
  } catch (error) {
    say(error.message);
  }
}

let tick = 0;

// A venue's private streams: the user stream's reconnects, and the order session's state and counters.
function venueText([name, venue]) {
  let text = `${name}: user stream reconnects ${venue.user_stream_reconnects}`;
  const session = venue.order_session;
  if (session) {
    text += ` · order session ${session.state}` +
      (session.next_attempt_in_s === null ? "" : ` (next attempt in ${session.next_attempt_in_s.toFixed(1)}s)`) +
      `: reconnects ${session.reconnects}, requests ${session.requests}, failures ${session.failures}, ` +
      `REST fallbacks ${session.fallbacks}` + (session.last_error ? `, last error: ${session.last_error}` : "");
  }
  return text + ".";
}

// Values arrive as decimal strings already at the symbol's precision: shown as they are.
async function refreshPnl() {
  const [pnl, trades] = await Promise.all([api("/pnl"), api("/trades?limit=20")]);
  document.getElementById("pnl-summary").textContent = pnl.journal
    ? `realized ${pnl.realized_pnl} after fees ${pnl.fees} · unrealized ${pnl.unrealized_pnl ?? "—"} · ` +
      `${pnl.closed_trades} trades · win rate ${(pnl.win_rate * 100).toFixed(1)}%`
    : "no journal in this process (journal.enabled is false)";
  drawEquity(pnl.equity);
  fill("trades", trades.map(t => [
    cell(new Date(t.closed_ns / 1e6).toLocaleTimeString()), cell(t.symbol), cell(t.qty), cell(t.entry_price),
    cell(t.exit_price), cell(t.realized_pnl, t.realized_pnl.startsWith("-") ? "no" : "yes"), cell(t.fees),
    cell(t.hold_s.toFixed(1) + "s"), cell(t.reason),
  ]));
}

// The equity curve: cumulative realized P&L as a step line, zero marked.
function drawEquity(points) {
  const canvas = document.getElementById("equity");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (points.length === 0) {
    ctx.fillText("no realized P&L yet", 10, canvas.height / 2);
    return;
  }
  const values = points.map(p => Number(p.realized_pnl));
  const low = Math.min(0, ...values), high = Math.max(0, ...values);
  const span = high - low || 1, pad = 10;
  const x = i => pad + (canvas.width - 2 * pad) * (points.length === 1 ? 1 : i / (points.length - 1));
  const y = v => canvas.height - pad - (canvas.height - 2 * pad) * (v - low) / span;
  ctx.strokeStyle = "#999";
  ctx.beginPath(); ctx.moveTo(pad, y(0)); ctx.lineTo(canvas.width - pad, y(0)); ctx.stroke();
  ctx.strokeStyle = "#1f5fbf";
  ctx.beginPath(); ctx.moveTo(x(0), y(values[0]));
  values.forEach((v, i) => { if (i > 0) { ctx.lineTo(x(i), y(values[i - 1])); ctx.lineTo(x(i), y(v)); } });
  ctx.stroke();
  ctx.fillStyle = "#222";
  ctx.fillText(`${points[points.length - 1].realized_pnl}`, canvas.width - 80, 14);
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
