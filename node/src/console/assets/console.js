// linli console: the live part of a page follows the server's events (server-sent
// events from this node only). Without this script every page still shows its
// numbers; it only stops updating by itself.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var badge = document.getElementById("live-badge");
  if (!live || !live.dataset.events || !window.EventSource) {
    return;
  }
  var source = new EventSource(live.dataset.events);
  source.addEventListener("part", function (event) {
    live.innerHTML = event.data;
    live.dataset.updated = String(Date.now());
  });
  source.addEventListener("open", function () {
    if (badge) badge.classList.remove("off");
  });
  source.addEventListener("error", function () {
    if (badge) badge.classList.add("off");
  });
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
