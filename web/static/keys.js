/* Keys for the pages: the "?" help overlay, and bindings that stay quiet while a
   person types. A page's own script adds its keys with IntakeKeys.bind(key, fn). */
(function () {
  "use strict";

  var bindings = {};

  function typing(target) {
    return Boolean(target && target.closest &&
      target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function help() {
    return document.getElementById("keys-help");
  }

  function toggleHelp(show) {
    var overlay = help();
    if (overlay) {
      overlay.hidden = show === undefined ? !overlay.hidden : !show;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    if (event.key === "Escape") {
      if (help() && !help().hidden) {
        toggleHelp(false);
        event.preventDefault();
      } else if (typing(event.target)) {
        event.target.blur();
      }
      return;
    }
    // A dialog, a text field or a focused link or button keeps its keys to itself.
    if (typing(event.target) || document.querySelector("dialog[open]")) {
      return;
    }
    if (event.key === "Enter" && event.target.closest && event.target.closest("a, button")) {
      return;
    }
    if (event.key === "?") {
      toggleHelp();
      event.preventDefault();
      return;
    }
    var action = bindings[event.key];
    if (action) {
      event.preventDefault();
      action(event);
    }
  });

  window.IntakeKeys = {
    bind: function (key, action) {
      bindings[key] = action;
    },
    toggleHelp: toggleHelp,
    typing: typing
  };
})();
