// Applies the theme chosen in the user menu before the page is first painted (so a dark choice
// does not flash light). Loaded without defer in <head>; a blocked or missing script leaves the
// system's setting (prefers-color-scheme) in charge. The choice lives in this browser only.
(function () {
  "use strict";
  var root = document.documentElement, choice = null;
  root.classList.add("js");
  try { choice = window.localStorage.getItem("theme"); } catch (e) { /* storage off: follow the system */ }
  if (choice === "dark" || choice === "light") root.classList.add(choice);
})();
