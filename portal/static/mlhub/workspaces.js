// "My workspaces": live start progress, and a create form that follows its template.
// A file, not inline code: the Content-Security-Policy runs no inline script.
"use strict";

const BUSY = new Set(["starting", "stopping"]);
const POLL_MS = 1500;

// Each starting or stopping card asks the portal's API (which reads the database, kept in
// step with the hub's progress stream) until the state settles, then the page reloads.
function follow(card) {
  const poll = async () => {
    let workspace;
    try {
      // The card names its API address: under a path prefix it is not /api/v1/...
      const response = await fetch(card.dataset.api, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(response.statusText);
      workspace = await response.json();
    } catch (error) {
      window.setTimeout(poll, POLL_MS * 2);
      return;
    }
    const queue = card.querySelector("[data-queue]");
    // Settled, or out of the start queue (its progress bar is the page's to draw).
    const settled = !BUSY.has(workspace.state) && !workspace.start_queued;
    if (settled || (queue && workspace.queue_position === null)) {
      window.location.reload();
      return;
    }
    if (queue) queue.textContent = queueText(workspace);
    const bar = card.querySelector("[data-progress] progress");
    const text = card.querySelector("[data-progress-message]");
    if (bar) bar.value = workspace.progress;
    if (text && workspace.progress_message) text.textContent = workspace.progress_message;
    window.setTimeout(poll, POLL_MS);
  };
  window.setTimeout(poll, POLL_MS);
}

// The card's words for a start waiting in the queue, as portal/workspaces/start_queue.py
// writes them: "Waiting to start: 3rd in line, about 40 s".
function queueText(workspace) {
  const n = workspace.queue_position;
  const suffix = n % 100 >= 10 && n % 100 <= 20 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10];
  const seconds = workspace.queue_wait_seconds;
  const about = seconds < 58
    ? `about ${Math.max(5, 5 * Math.round(seconds / 5))} s`
    : `about ${Math.round(seconds / 60)} min`;
  return `Waiting to start: ${n}${suffix || "th"} in line, ${about}`;
}

function followTemplate(form) {
  const select = form.querySelector("select[name=template]");
  if (!select) return;
  const field = (name) => form.querySelector(`[name=${name}]`);
  const help = (name) => form.querySelector(`[data-help-for=${name}]`);
  const apply = () => {
    const chosen = select.selectedOptions[0].dataset;
    form.querySelector("[data-template-description]").textContent = chosen.description || "";
    field("cpu").placeholder = chosen.cpu;
    field("cpu").max = chosen.cpuMax;
    help("cpu").textContent = `cores, default ${chosen.cpu}, at most ${chosen.cpuMax}`;
    field("memory").placeholder = `${chosen.memory}M`;
    help("memory").textContent =
      `default ${chosen.memory}M, at most ${chosen.memoryMax}M (e.g. "2G")`;
    field("gpus").disabled = chosen.gpusMax === "0";
    help("gpus").textContent =
      chosen.gpusMax === "0" ? "this template has no GPUs" : `"all" or ids, at most ${chosen.gpusMax}`;
    const days = field("days_to_live");
    days.placeholder = chosen.days === "0" ? "never expires" : chosen.days;
    days.max = chosen.daysMax === "0" ? "" : chosen.daysMax;
    days.min = chosen.daysMax === "0" ? "0" : "1";
    help("days_to_live").textContent = chosen.daysMax === "0"
      ? "empty: the template's; 0: never expires"
      : `default ${chosen.days}, at most ${chosen.daysMax}`;
  };
  select.addEventListener("change", apply);
  apply();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-workspace]").forEach((card) => {
    if (BUSY.has(card.dataset.state)) follow(card);
  });
  document.querySelectorAll("[data-workspace-form]").forEach(followTemplate);
});
