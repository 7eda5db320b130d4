// Live updates without a build step: every element with data-live="<seconds>" is refreshed
// from the same URL (fetched, parsed, and its element of the same id swapped in).
(function () {
  document.querySelectorAll("[data-live]").forEach(function (el) {
    var every = Math.max(2, parseInt(el.getAttribute("data-live"), 10) || 5) * 1000;
    function refresh() {
      fetch(window.location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(el.id);
          if (fresh) { el.innerHTML = fresh.innerHTML; el.setAttribute("data-refreshed", new Date().toISOString()); }
        })
        .catch(function () { el.setAttribute("data-stale", "1"); })
        .finally(function () { setTimeout(refresh, every); });
    }
    setTimeout(refresh, every);
  });
})();
