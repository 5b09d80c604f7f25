/* The lists (a queue, the front desk) by keyboard and kept live.

   Keys: j/k move, o or Enter opens, x selects, c claims, e resolves, r reroutes,
   / searches (keys.js adds ? for help). Actions post to /items/<id>/<action> with
   the page's CSRF token and then ask the server for the row as the view now shows
   it, so a claimed row redraws and a resolved or rerouted one leaves.
   Live: the page polls for new items and counts the unseen ones in the tab title. */
(function () {
  "use strict";

  var POLL_MS = 1200;
  var AGE_MS = 30000;
  var keys = window.IntakeKeys;
  var queue = document.getElementById("queue");
  var desk = document.getElementById("front-desk");
  if (!keys || (!queue && !desk)) {
    return;
  }
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var baseTitle = document.title;
  var unseen = 0;
  var cursor = null;

  // --- the cursor -------------------------------------------------------

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr.item-row, tr.queue-row"));
  }

  function current() {
    return cursor && document.body.contains(cursor) ? cursor : null;
  }

  function select(row) {
    if (cursor) {
      cursor.classList.remove("cursor");
      cursor.setAttribute("aria-selected", "false");
    }
    cursor = row || null;
    if (cursor) {
      cursor.classList.add("cursor");
      cursor.setAttribute("aria-selected", "true");
      cursor.scrollIntoView({ block: "nearest" });
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

  /* The row a person opened, so that coming back puts the cursor where they were. */
  function remember(row) {
    try {
      window.sessionStorage.setItem("intake-cursor:" + window.location.pathname, row.id);
    } catch (ignored) { /* storage may be off; the cursor then starts at the top */ }
  }

  function recalled() {
    try {
      var id = window.sessionStorage.getItem("intake-cursor:" + window.location.pathname);
      return id ? document.getElementById(id) : null;
    } catch (ignored) {
      return null;
    }
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
      return refreshDesk();
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
      showError("Could not " + action + " this item: " + error.message);
      throw error;
    }).finally(function () {
      row.classList.remove("busy");
    });
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

  // --- ages, the title, the empty state ---------------------------------

  function age(since) {
    var minutes = Math.floor((Date.now() - since.getTime()) / 60000);
    if (minutes < 1) {
      return "now";
    }
    if (minutes < 60) {
      return minutes + " min";
    }
    if (minutes < 1440) {
      return Math.floor(minutes / 60) + " h";
    }
    return Math.floor(minutes / 1440) + " d";
  }

  function refreshAges() {
    document.querySelectorAll("td.age time[datetime]").forEach(function (time) {
      time.textContent = age(new Date(time.getAttribute("datetime")));
    });
  }

  function title() {
    document.title = unseen > 0 ? "(" + unseen + ") " + baseTitle : baseTitle;
  }

  function seen() {
    if (unseen) {
      unseen = 0;
      title();
    }
  }

  function emptyState() {
    var empty = document.getElementById("queue-empty");
    if (empty && queue) {
      empty.hidden = queue.tBodies[0].rows.length > 0;
    }
  }

  // --- live: a queue ----------------------------------------------------

  var announced = {};  // ids of rows the page has shown or counted

  function pollQueue() {
    var url = queue.dataset.since + "?after=" + queue.dataset.after + (queue.dataset.view ? "&" + queue.dataset.view : "");
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer) {
          return;
        }
        queue.dataset.after = answer.after;
        // The answer repeats the last minute's items (one may have committed late): only
        // rows this page has not had yet count.
        var fresh = answer.rows.map(rowFrom).filter(function (row) {
          var known = announced[row.id] || document.getElementById(row.id);
          announced[row.id] = true;
          return !known;
        });
        if (!fresh.length) {
          return;
        }
        if (queue.dataset.insert === "yes" && !answer.more) {
          var body = queue.tBodies[0];
          for (var i = fresh.length - 1; i >= 0; i--) {
            fresh[i].classList.add("fresh");
            body.insertBefore(fresh[i], body.firstChild);
          }
          emptyState();
        } else {
          // Another order or a later page: new items would not go at the top. Say so instead.
          var notice = document.getElementById("live-notice");
          var count = notice.querySelector(".live-count");
          count.textContent = String(Number(count.textContent) + fresh.length);
          notice.hidden = false;
        }
        unseen += fresh.length;
        title();
      });
  }

  // --- live: the front desk ---------------------------------------------

  var lastNew = null;
  var lastDecisions = null;

  function setCount(row, name, value, busyClass) {
    var cell = row.querySelector("td.count-" + name);
    if (cell) {
      cell.querySelector("a").textContent = String(value);
      cell.classList.toggle(busyClass, value > 0);
    }
  }

  function refreshDesk() {
    return fetch(desk.dataset.live, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer) {
          return;
        }
        var total = 0;
        answer.counts.forEach(function (count) {
          total += count.new;
          var row = document.querySelector('tr.queue-row[data-department="' + count.department + '"]');
          if (row) {
            setCount(row, "new", count.new, "busy");
            setCount(row, "claimed", count.claimed, "busy-claimed");
            setCount(row, "overdue", count.overdue, "late");
          }
        });
        if (lastNew !== null && total > lastNew) {
          unseen += total - lastNew;
          title();
        }
        lastNew = total;
        if (answer.decisions_html !== lastDecisions) {
          redrawDecisions(answer.decisions_html);
        }
      });
  }

  function redrawDecisions(html) {
    var box = document.getElementById("decisions-box");
    var was = current();
    var wasDecision = was && was.classList.contains("decision");
    var at = rows().indexOf(was);
    box.innerHTML = html;
    lastDecisions = html;
    if (wasDecision) {
      var again = document.getElementById(was.id);
      var all = rows();
      select(again || all[Math.min(at, all.length - 1)]);
    }
  }

  function pollForever(poll) {
    function next() {
      window.setTimeout(function () {
        poll().catch(function () { /* a missed poll is retried on the next tick */ }).then(next);
      }, POLL_MS);
    }
    next();
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
  keys.bind("e", function () { act("resolve").catch(function () {}); });
  keys.bind("r", reroute);
  keys.bind("/", function () {
    var search = document.getElementById("search");
    if (search) {
      search.focus();
      search.select();
    }
  });

  document.addEventListener("keydown", seen);
  document.addEventListener("pointerdown", seen);
  window.addEventListener("focus", seen);
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
  window.setInterval(refreshAges, AGE_MS);
  if (queue) {
    pollForever(pollQueue);
  } else {
    var box = document.getElementById("decisions-box");
    lastDecisions = box ? box.innerHTML : null;
    pollForever(refreshDesk);
  }
})();
