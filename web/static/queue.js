/* The lists (a queue, the front desk) by keyboard; live.js keeps them live.

   Keys: j/k move, o or Enter opens, x selects, c claims, e resolves, r reroutes,
   / searches (keys.js adds ? for help). Actions post to /items/<id>/<action> with
   the page's CSRF token and then ask the server for the row as the view now shows
   it, so a claimed row redraws and a resolved or rerouted one leaves.
   The cursor and rows are shared with live.js as window.IntakeList. */
(function () {
  "use strict";

  var keys = window.IntakeKeys;
  var queue = document.getElementById("queue");
  var desk = document.getElementById("front-desk");
  if (!keys || (!queue && !desk)) {
    return;
  }
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var cursor = null;

  // --- the cursor -------------------------------------------------------

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr.item-row, tr.queue-row"));
  }

  function current() {
    return cursor && document.body.contains(cursor) ? cursor : null;
  }

  /* Put the cursor on the row and bring it into view; `still` leaves the page where it
     is scrolled (a list redrawn live puts the cursor back where the person left it). */
  function select(row, still) {
    if (cursor) {
      cursor.classList.remove("cursor");
      cursor.setAttribute("aria-selected", "false");
    }
    cursor = row || null;
    if (cursor) {
      cursor.classList.add("cursor");
      cursor.setAttribute("aria-selected", "true");
      if (!still) {
        cursor.scrollIntoView({ block: "nearest" });
      }
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) {
      return;
    }
    var at = all.indexOf(current());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(at + step, 0), all.length - 1);
    select(all[next]);
  }

  function open() {
    var row = current();
    if (row && row.dataset.href) {
      remember(row);
      window.location.assign(row.dataset.href);
    }
  }

  /* The row a person opened and its neighbours, so that coming back puts the cursor where
     they were, or, when that row has left the list (resolved from its page), on the row
     that followed it, else the one before it. */
  function remember(row) {
    var all = rows();
    var at = all.indexOf(row);
    var place = { row: row.id, next: all[at + 1] ? all[at + 1].id : null, previous: at > 0 ? all[at - 1].id : null };
    try {
      window.sessionStorage.setItem("intake-cursor:" + window.location.pathname, JSON.stringify(place));
    } catch (ignored) { /* storage may be off; the cursor then starts at the top */ }
  }

  function recalled() {
    var place;
    try {
      place = JSON.parse(window.sessionStorage.getItem("intake-cursor:" + window.location.pathname) || "null");
    } catch (ignored) {
      return null;
    }
    if (!place || typeof place !== "object") {
      return null;
    }
    return [place.row, place.next, place.previous].map(function (id) {
      return id ? document.getElementById(id) : null;
    }).filter(Boolean)[0] || null;
  }

  function toggle() {
    var row = current();
    var box = row && row.querySelector("input.pick-item");
    if (box) {
      box.checked = !box.checked;
      row.classList.toggle("picked", box.checked);
    }
  }

  // --- acting on an item ------------------------------------------------

  function showError(message) {
    var place = document.getElementById("action-error");
    if (place) {
      place.textContent = message || "";
      place.hidden = !message;
    }
  }

  function post(itemId, action, fields) {
    return fetch("/items/" + itemId + "/" + action, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": csrf
      },
      body: new URLSearchParams(fields || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          throw new Error((answer.error && answer.error.message) || "the server answered " + response.status);
        }
        return answer;
      });
    });
  }

  function rowFrom(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    return holder.content.firstElementChild;
  }

  function removeRow(row) {
    var all = rows();
    var at = all.indexOf(row);
    var wasCursor = row === current();
    row.remove();
    if (queue && queue.tBodies[0].rows.length === 0 && document.getElementById("next-page")) {
      // The page is done but the view is not: draw it again, with what comes next.
      window.location.reload();
      return;
    }
    if (wasCursor) {
      var left = rows();
      select(left[Math.min(at, left.length - 1)]);
    }
    emptyState();
  }

  /* Redraw the row as the view now shows it, or drop it when it has left the view. */
  function refresh(row) {
    if (!queue) {
      // The front desk redraws its counts and decisions (live.js listens).
      document.dispatchEvent(new CustomEvent("intake:changed"));
      return Promise.resolve();
    }
    var url = queue.dataset.rows + "/" + row.dataset.itemId + (queue.dataset.view ? "?" + queue.dataset.view : "");
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (response.status === 204) {
        removeRow(row);
        return;
      }
      if (!response.ok) {
        return;
      }
      return response.text().then(function (html) {
        var fresh = rowFrom(html);
        var box = row.querySelector("input.pick-item");
        if (box && box.checked) {
          fresh.querySelector("input.pick-item").checked = true;
          fresh.classList.add("picked");
        }
        var wasCursor = row === current();
        row.replaceWith(fresh);
        if (wasCursor) {
          select(fresh);
        }
      });
    });
  }

  function act(action, fields) {
    var row = current();
    if (!row || !row.dataset.itemId) {
      return Promise.resolve();
    }
    row.classList.add("busy");
    return post(row.dataset.itemId, action, fields).then(function () {
      showError("");
      return refresh(row);
    }).catch(function (error) {
      var words = JSON.parse(document.body.dataset.wordsCouldNot || "{}");
      showError((words[action] || action) + ": " + error.message);
      throw error;
    }).finally(function () {
      row.classList.remove("busy");
    });
  }

  /* Resolve the row under the cursor and move on: a row that leaves the view hands the
     cursor to the next (removeRow); one the view keeps (status "all") passes it on here. */
  function resolve() {
    var row = current();
    var id = row && row.dataset.itemId;
    act("resolve").then(function () {
      var now = current();
      if (id && now && now.dataset.itemId === id) {
        move(1);
      }
    }).catch(function () {});
  }

  // --- the reroute dialog -----------------------------------------------

  var dialog = document.getElementById("reroute-dialog");

  function reroute() {
    var row = current();
    if (!row || !row.dataset.itemId || !dialog) {
      return;
    }
    var choice = document.getElementById("reroute-department");
    var firstFree = null;
    Array.prototype.forEach.call(choice.options, function (option) {
      option.disabled = option.value === row.dataset.department;
      if (!option.disabled && firstFree === null) {
        firstFree = option.value;
      }
    });
    if (choice.selectedOptions.length === 0 || choice.selectedOptions[0].disabled) {
      choice.value = firstFree;
    }
    var subject = row.querySelector(".open-item");
    dialog.querySelector(".reroute-what").textContent = subject ? "“" + subject.textContent + "”" : "";
    document.getElementById("reroute-reason").value = "";
    document.getElementById("reroute-error").hidden = true;
    dialog.showModal();
    choice.focus();
  }

  if (dialog) {
    document.getElementById("reroute-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var fields = {
        department: document.getElementById("reroute-department").value,
        reason: document.getElementById("reroute-reason").value
      };
      act("reroute", fields).then(function () {
        dialog.close();
      }, function (error) {
        var place = document.getElementById("reroute-error");
        place.textContent = error.message;
        place.hidden = false;
      });
    });
    document.getElementById("reroute-cancel").addEventListener("click", function () {
      dialog.close();
    });
  }

  // --- the empty state ------------------------------------------------

  function emptyState() {
    var empty = document.getElementById("queue-empty");
    if (empty && queue) {
      empty.hidden = queue.tBodies[0].rows.length > 0;
    }
  }


  // --- wiring -----------------------------------------------------------

  keys.bind("j", function () { move(1); });
  keys.bind("k", function () { move(-1); });
  keys.bind("ArrowDown", function () { move(1); });
  keys.bind("ArrowUp", function () { move(-1); });
  keys.bind("o", open);
  keys.bind("Enter", open);
  keys.bind("x", toggle);
  keys.bind("c", function () { act("claim").catch(function () {}); });
  keys.bind("e", resolve);
  keys.bind("r", reroute);
  keys.bind("/", function () {
    var search = document.getElementById("search");
    if (search) {
      search.focus();
      search.select();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("pick-item")) {
      event.target.closest("tr").classList.toggle("picked", event.target.checked);
    }
  });

  var bulkAction = document.getElementById("bulk-action");
  if (bulkAction) {
    var showFields = function () {
      document.querySelectorAll("#bulk .for-reroute").forEach(function (field) {
        field.hidden = bulkAction.value !== "reroute";
      });
      document.querySelectorAll("#bulk .for-priority").forEach(function (field) {
        field.hidden = bulkAction.value !== "priority";
      });
    };
    bulkAction.addEventListener("change", showFields);
    showFields();
  }

  select(recalled() || rows()[0]);
  window.IntakeList = {
    rows: rows,
    current: current,
    select: select,
    rowFrom: rowFrom,
    emptyState: emptyState
  };
})();
