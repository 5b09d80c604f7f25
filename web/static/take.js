// The take-a-message form: only a letter sends its scan (the file field is disabled for a
// call or a visit, so a file chosen before the kind changed is not sent), and a scan larger
// than the server reads is stopped here, before the upload, with everything typed in place.
(function () {
  "use strict";
  var form = document.querySelector("form.take");
  var scan = form && form.elements.namedItem("scan");
  var letter = document.getElementById("kind-post");
  if (!scan || !letter) { return; }
  var limit = Number(scan.dataset.maxBytes);

  function followKind() {
    scan.disabled = !letter.checked;
  }
  // The problem next to the field, and on the field, where it stops the form being sent.
  function checkSize() {
    var problem = scan.files.length && scan.files[0].size > limit ? scan.dataset.tooLarge : "";
    scan.setCustomValidity(problem);
    var shown = document.getElementById("scan-error");
    if (!shown && problem) {
      shown = document.createElement("span");
      shown.className = "field-error";
      shown.id = "scan-error";
      scan.after(shown);
    }
    if (shown) {
      shown.textContent = problem;
      shown.hidden = !problem;
    }
  }
  form.addEventListener("change", function (event) {
    if (event.target.name === "kind") { followKind(); }
    if (event.target === scan) { checkSize(); }
  });
  followKind();
})();
