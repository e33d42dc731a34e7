// The review page's keyboard and saving. Every change is sent at once; the page moves on only after
// what it sent was saved. It reads its settings from <body data-...>; it never builds HTML.
"use strict";
(function () {
  const body = document.body;
  const question = body.dataset.question;
  const student = Number(body.dataset.student);
  const state = document.getElementById("state");
  const comment = document.getElementById("comment");
  let pending = Promise.resolve();
  let unanswered = 0;  // changes sent whose answer has not come back yet
  let timer = null;

  function send(action, data) {
    const payload = Object.assign({question: question, student: student}, data);
    unanswered += 1;
    pending = pending.then(() => fetch(body.dataset.api + "/" + action, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload),
      credentials: "same-origin", cache: "no-store", keepalive: true})  // keepalive: a closing tab still saves
      .then((response) => {
        if (!response.ok) { throw new Error("the server answered " + response.status); }
        return response.json();
      })
      .then((grade) => { unanswered -= 1; if (unanswered === 0) { show(grade); } })  // an older answer must not
      .catch((error) => {                                       // undo a toggle made since it was sent
        unanswered -= 1;
        state.textContent = "NOT SAVED: " + error.message;
        state.classList.add("error");
      }));
    return pending;
  }

  function show(grade) {
    document.querySelectorAll("button.item").forEach((button) => {
      button.setAttribute("aria-pressed", grade.given.includes(button.dataset.item) ? "true" : "false");
    });
    document.getElementById("score").textContent = String(grade.score);
    document.getElementById("empty-given").hidden = !grade.empty_given;
    document.getElementById("progress").textContent = grade.progress;
    state.textContent = grade.graded ? "graded, saved" : "saved";
    state.classList.remove("error");
  }

  function toggle(button) {
    const given = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", given ? "true" : "false");  // at once: a second press toggles back
    send("mark", {item: button.dataset.item, given: given});
  }

  function go(url) {
    if (!url) { return; }
    saveComment();
    pending.then(() => { window.location.href = url; });
  }

  function saveComment() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
      send("comment", {text: comment.value});
    }
  }

  document.querySelectorAll("button.item").forEach((button) => button.addEventListener("click", () => toggle(button)));
  document.getElementById("graded").addEventListener("click", () => send("graded", {}).then(() => go(body.dataset.next)));
  comment.addEventListener("input", () => {
    if (timer !== null) { clearTimeout(timer); }
    state.textContent = "editing";
    timer = setTimeout(saveComment, 400);
  });
  comment.addEventListener("blur", saveComment);
  window.addEventListener("pagehide", saveComment);

  document.addEventListener("keydown", (event) => {
    if (event.target === comment) {
      if (event.key === "Escape") { comment.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const items = document.querySelectorAll("button.item");
    if (/^[1-9]$/.test(event.key) && Number(event.key) <= items.length) {
      toggle(items[Number(event.key) - 1]);
    } else if (event.key === "j" || event.key === "ArrowRight") {
      go(body.dataset.next);
    } else if (event.key === "k" || event.key === "ArrowLeft") {
      go(body.dataset.previous);
    } else if (event.key === "Enter") {
      send("graded", {}).then(() => go(body.dataset.next));
    } else if (event.key === "n") {
      go(body.dataset.names);
    } else if (event.key === "c") {
      comment.focus();
    } else {
      return;
    }
    event.preventDefault();
  });
})();
