// Keys on an item's page: c claim, e resolve, r reroute (focus the department),
// n note, u back to the queue. Keys typed into a field are left alone.
(function () {
  "use strict";
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }
  function submit(id) {
    var form = document.getElementById(id);
    if (form) { form.requestSubmit(); }
  }
  function focus(id) {
    var field = document.getElementById(id);
    if (field) { field.focus(); }
  }
  var keys = {
    c: function () { submit("action-claim"); },
    e: function () { submit("action-resolve"); },
    r: function () { focus("reroute-department"); },
    n: function () { focus("note-text"); },
    u: function () {
      var back = document.querySelector("header.top nav a:last-child");
      if (back) { window.location.href = back.href; }
    }
  };
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) { return; }
    var handler = keys[event.key];
    if (handler) { event.preventDefault(); handler(); }
  });
})();
