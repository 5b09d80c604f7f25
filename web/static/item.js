// Keys on an item's page, bound through keys.js: c claim, e resolve, r reroute (the
// department list gets the cursor), n note, a answer (opens the reply box), t a template
// for the answer, f forward, b called back (a voicemail's caller), u back to the queue,
// l link the sender to a contact (at once when one is suggested, else the contact field
// gets the cursor), m merge into the suggested same request. Ctrl+Enter in the note adds
// it, in the reply or the forward's note sends it. A text's answer box counts what is left.
(function () {
  "use strict";
  function submit(id) {
    var form = document.getElementById(id);
    if (form) { form.requestSubmit(); }
  }
  function focus(id) {
    var field = document.getElementById(id);
    if (field) { field.focus(); }
  }
  IntakeKeys.bind("c", function () { submit("action-claim"); });
  IntakeKeys.bind("e", function () { submit("action-resolve"); });
  IntakeKeys.bind("b", function () { submit("action-called-back"); });
  IntakeKeys.bind("r", function () { focus("reroute-department"); });
  IntakeKeys.bind("n", function () { focus("note-text"); });
  IntakeKeys.bind("a", function () {
    var box = document.getElementById("reply-box");
    if (box) { box.open = true; }
    focus("reply-text");
  });
  IntakeKeys.bind("t", function () {
    var box = document.getElementById("reply-box");
    if (box) { box.open = true; }
    focus("reply-template");
  });
  IntakeKeys.bind("f", function () {
    var box = document.getElementById("forward-box");
    if (box) { box.open = true; }
    focus("forward-to");
  });
  IntakeKeys.bind("l", function () {
    var field = document.getElementById("link-contact");
    if (field && field.value) { submit("action-link"); } else { focus("link-contact"); }
  });
  IntakeKeys.bind("m", function () { submit("action-merge"); });
  IntakeKeys.bind("u", function () {
    var back = document.getElementById("back-to-queue");
    if (back) { window.location.href = back.href; }
  });
  function sendOnCtrlEnter(fieldId, formId) {
    var field = document.getElementById(fieldId);
    if (field) {
      field.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          submit(formId);
        }
      });
    }
  }
  sendOnCtrlEnter("note-text", "action-note");
  sendOnCtrlEnter("reply-text", "action-reply");
  sendOnCtrlEnter("forward-note", "action-forward");
  // A template's text goes into the answer: in place of an untouched earlier choice,
  // else at the cursor, so that nothing the person wrote is lost.
  var template = document.getElementById("reply-template");
  var answer = document.getElementById("reply-text");
  var filled = "";
  // What is left of a text, as Twilio counts it: in UTF-16 code units (an emoji is two),
  // which is what a string's length counts here.
  var left = document.getElementById("reply-left");
  function countLeft() {
    if (left && answer) { left.textContent = String(Number(left.dataset.limit) - answer.value.length); }
  }
  if (answer) { answer.addEventListener("input", countLeft); }
  // What is typed is kept in the tab as it is typed, so that a refusal (a colleague
  // resolved or merged the item meanwhile) loses nothing: it goes back in the box, or is
  // shown to copy where the page offers none. It is let go once the page comes back from
  // storing it: the address then names the form's key as "sent".
  var section = document.querySelector("section.answer[data-item]");
  var draftName = section ? "intake.answer." + section.dataset.item : "";
  function keptDraft() {
    try { return JSON.parse(sessionStorage.getItem(draftName) || "null"); } catch (error) { return null; }
  }
  function keepDraft() {
    if (!answer.value.trim()) { sessionStorage.removeItem(draftName); return; }
    var key = answer.form.elements.namedItem("key").value;
    sessionStorage.setItem(draftName, JSON.stringify({ key: key, text: answer.value }));
  }
  var address = new URL(window.location.href);
  var sent = address.searchParams.get("sent");
  var draft = draftName ? keptDraft() : null;
  if (sent !== null) {
    if (draft && draft.key === sent) { sessionStorage.removeItem(draftName); draft = null; }
    address.searchParams.delete("sent");  // a reload or a copied address says nothing of it
    window.history.replaceState(null, "", address.href);
  }
  if (answer) {
    answer.addEventListener("input", keepDraft);
    answer.form.addEventListener("submit", keepDraft);  // with the key it is sent with
    if (draft && !answer.value) {
      answer.value = draft.text;
      document.getElementById("reply-box").open = true;
    }
  } else if (draft) {
    document.getElementById("reply-draft-text").value = draft.text;
    document.getElementById("reply-draft").hidden = false;
    document.getElementById("reply-draft-discard").addEventListener("click", function () {
      sessionStorage.removeItem(draftName);
      document.getElementById("reply-draft").hidden = true;
    });
  }
  countLeft();  // a browser may put back what was written before a reload
  if (template && answer) {
    template.addEventListener("change", function () {
      if (!template.value) { return; }
      if (answer.value === "" || answer.value === filled) {
        answer.value = template.value;
      } else {
        answer.setRangeText(template.value, answer.selectionStart, answer.selectionEnd, "end");
      }
      filled = answer.value;
      countLeft();
      keepDraft();
    });
  }
})();
