// Asks once more before a destructive admin action (no build step; plain DOM, textContent only).
// A submit button with data-confirm="question" opens a <dialog>; "Confirm" posts the form with
// confirmed=1, "Cancel" does nothing. Without this script the server asks on a page instead.
(function () {
  "use strict";
  let dialog = null;
  let pending = null;

  function build() {
    dialog = document.createElement("dialog");
    dialog.id = "confirm-dialog";
    const question = document.createElement("p");
    question.id = "confirm-dialog-question";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.id = "confirm-dialog-cancel";
    cancel.textContent = "取消 Cancel";
    const ok = document.createElement("button");
    ok.type = "button";
    ok.id = "confirm-dialog-ok";
    ok.className = "danger";
    ok.textContent = "确定 Confirm";
    cancel.addEventListener("click", function () { pending = null; dialog.close(); });
    ok.addEventListener("click", function () {
      const chosen = pending;
      pending = null;
      dialog.close();
      if (!chosen) return;
      const flag = document.createElement("input");
      flag.type = "hidden";
      flag.name = "confirmed";
      flag.value = "1";
      chosen.form.appendChild(flag);
      chosen.form.requestSubmit(chosen.button);
      flag.remove(); // the entry list is built during requestSubmit: a page restored from history asks again
    });
    dialog.addEventListener("cancel", function () { pending = null; }); // Esc
    const actions = document.createElement("p");
    actions.append(cancel, " ", ok);
    dialog.append(question, actions);
    document.body.appendChild(dialog);
  }

  document.addEventListener("submit", function (event) {
    const button = event.submitter;
    const form = event.target;
    if (!button || !button.dataset.confirm) return;
    if (form.querySelector("input[name=confirmed][value='1']")) return; // confirmed just now
    event.preventDefault();
    if (!dialog) build();
    pending = { form: form, button: button };
    dialog.querySelector("#confirm-dialog-question").textContent = button.dataset.confirm;
    dialog.showModal();
  });
})();
