/* The lists kept live: a queue polls for new items and adds them at its top, the
   front desk redraws its counts and its decisions, and the tab title counts what
   arrived unseen. Ages ("5 min") are kept fresh. Uses queue.js's window.IntakeList. */
(function () {
  "use strict";

  var POLL_MS = 1200;
  var AGE_MS = 30000;
  var list = window.IntakeList;
  var queue = document.getElementById("queue");
  var desk = document.getElementById("front-desk");
  if (!list || (!queue && !desk)) {
    return;
  }
  var baseTitle = document.title;
  var unseen = 0;

  // --- ages, the title, the empty state ---------------------------------

  // The page's language, with the browser's CLDR data, as the server's Babel writes an age.
  var relative = new Intl.RelativeTimeFormat(document.documentElement.lang || "en", { style: "short" });

  function age(since) {
    var minutes = Math.floor((Date.now() - since.getTime()) / 60000);
    if (minutes < 1) {
      return document.body.dataset.wordNow || "now";
    }
    if (minutes < 60) {
      return relative.format(-minutes, "minute");
    }
    if (minutes < 1440) {
      return relative.format(-Math.round(minutes / 60), "hour");
    }
    return relative.format(-Math.round(minutes / 1440), "day");
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

  // --- live: a queue ----------------------------------------------------

  var announced = {};  // ids of rows the page has shown or counted, drawn ones included
  list.rows().forEach(function (row) { announced[row.id] = true; });

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
        var fresh = answer.rows.map(list.rowFrom).filter(function (row) {
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
          list.emptyState();
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

  // The new items the page was drawn with, so one that arrives before the first poll counts.
  var lastNew = Array.prototype.reduce.call(
    document.querySelectorAll("tr.queue-row td.count-new"),
    function (total, cell) { return total + (Number(cell.textContent.trim()) || 0); },
    0
  );
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
        if (total > lastNew) {
          unseen += total - lastNew;
          title();
        }
        lastNew = total;
        if (answer.decisions_html !== lastDecisions) {
          redrawDecisions(answer.decisions_html);
        }
      });
  }

  /* Draw the decisions as the server lists them now (at least once a minute, as their
     ages change), keeping the person's place: the cursor on its item, else on the row
     that took its place; the keyboard focus on the same item's link; the page scrolled
     where it was. */
  function redrawDecisions(html) {
    var box = document.getElementById("decisions-box");
    var was = list.current();
    var wasDecision = was && was.classList.contains("decision");
    var at = list.rows().indexOf(was);
    var focused = box.contains(document.activeElement) ? document.activeElement.closest("tr") : null;
    box.innerHTML = html;
    lastDecisions = html;
    if (wasDecision) {
      var again = document.getElementById(was.id);
      var all = list.rows();
      list.select(again || all[Math.min(at, all.length - 1)], true);
    }
    if (focused) {
      var row = document.getElementById(focused.id) || list.current();
      var link = row && box.contains(row) ? row.querySelector("a.open-item") : null;
      if (link) {
        link.focus({ preventScroll: true });
      }
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

  document.addEventListener("keydown", seen);
  document.addEventListener("pointerdown", seen);
  window.addEventListener("focus", seen);
  window.setInterval(refreshAges, AGE_MS);
  if (queue) {
    pollForever(pollQueue);
  } else {
    var box = document.getElementById("decisions-box");
    lastDecisions = box ? box.innerHTML : null;
    document.addEventListener("intake:changed", function () { refreshDesk(); });
    pollForever(refreshDesk);
  }
})();
