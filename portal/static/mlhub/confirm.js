// A form with data-confirm="question" submits only when the person agrees. A listener in
// a file, not an onsubmit attribute: the Content-Security-Policy runs no inline script.
"use strict";

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
