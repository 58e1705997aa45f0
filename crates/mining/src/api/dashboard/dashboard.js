/* The sha256d dashboard: polls the API every two seconds and draws what it reads.
   Everything from the API goes into the page as text (textContent), never as markup:
   pool URLs, reject reasons and device names come from outside. */
"use strict";

(function () {
  var POLL_MS = 2000;
  var READ_KEY = "sha256d-read-token";
  var $ = function (id) { return document.getElementById(id); };

  function readToken() {
    return sessionStorage.getItem(READ_KEY) || $("control-token").value || "";
  }

  function headers(token) {
    var h = { "Accept": "application/json" };
    if (token) { h["Authorization"] = "Bearer " + token; }
    return h;
  }

  /* Resolves to the parsed body; rejects with {status, message} carrying the server's text. */
  function call(method, path, token, body) {
    var init = { method: method, headers: headers(token), cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var message = data && typeof data.error === "string" ? data.error : text;
          throw { status: res.status, message: message || res.statusText };
        }
        return data;
      });
    });
  }

  function si(x, unit) {
    if (x === null || x === undefined || !isFinite(x)) { return "–"; }
    var prefixes = [[1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < prefixes.length; i++) {
      if (Math.abs(x) >= prefixes[i][0]) {
        return (x / prefixes[i][0]).toPrecision(3) + " " + prefixes[i][1] + unit;
      }
    }
    return (x === 0 ? "0" : x.toPrecision(3)) + " " + unit;
  }

  function count(n) {
    return n === null || n === undefined ? "–" : String(n);
  }

  function duration(s) {
    s = Math.floor(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s";
  }

  /* Sets an element's text, and its raw number (for scripts and tests) where there is one. */
  function show(id, text, raw) {
    var el = $(id);
    el.textContent = text;
    if (raw !== undefined && raw !== null) { el.setAttribute("data-value", String(raw)); }
  }

  function renderStatus(s) {
    show("version", "v" + s.version);
    show("uptime", duration(s.uptime_seconds), s.uptime_seconds);
    show("measured", si(s.hashrate.measured_hs, "H/s"), s.hashrate.measured_hs);
    show("proven", si(s.hashrate.proven_hs, "H/s"), s.hashrate.proven_hs);
    var high = s.hashrate.proven_high_hs;
    show("proven-range", si(s.hashrate.proven_low_hs, "H/s") + " to " +
      (high === null ? "∞" : si(high, "H/s")) + " (" + Math.round(s.hashrate.confidence * 100) + "%)");
    show("hashes", si(s.hashes_total, "H"), s.hashes_total);
    var sh = s.shares;
    show("accepted", count(sh.accepted), sh.accepted);
    show("rejected", count(sh.rejected_total), sh.rejected_total);
    show("stale", count(sh.stale), sh.stale);
    show("found", count(sh.found), sh.found);
    show("hardware-errors", count(sh.hardware_errors), sh.hardware_errors);
    show("best-share", s.best_share_difficulty ? s.best_share_difficulty.toPrecision(4) : "0",
      s.best_share_difficulty);
    show("difficulty", s.difficulty === null ? "–" : String(s.difficulty), s.difficulty);
    show("blocks", count(s.blocks.found), s.blocks.found);
    show("blocks-detail", count(s.blocks.accepted) + " accepted, " + count(s.blocks.candidates) +
      " candidates");
    var reasons = $("reject-reasons");
    reasons.replaceChildren();
    Object.keys(sh.rejected).forEach(function (reason) {
      var li = document.createElement("li");
      li.textContent = sh.rejected[reason] + " × " + reason;
      reasons.appendChild(li);
    });

    var p = s.power;
    show("watts", p.watts === null ? "–" : si(p.watts, "W"), p.watts);
    show("power-source", p.source === null ? "not measured" : p.source);
    show("joules", p.joules === null ? "–" : si(p.joules, "J"), p.joules);
    show("joules-per-th", p.joules_per_verified_th === null ? "–" :
      p.joules_per_verified_th.toPrecision(3) + " J/TH", p.joules_per_verified_th);

    var sp = s.setpoint;
    show("setpoint-cap", sp === null ? "no power control" : sp.cap);
    show("setpoint-source", sp === null || sp.source === null ? "none" : sp.source);
    show("duty", sp === null ? "–" : Math.round(sp.duty * 100) + "%", sp === null ? null : sp.duty);
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
  }

  function renderDevices(d) {
    var body = $("devices").tBodies[0];
    body.replaceChildren();
    d.devices.forEach(function (dev) {
      var tr = document.createElement("tr");
      tr.id = "device-" + dev.index;
      cell(tr, String(dev.index));
      cell(tr, dev.engine);
      cell(tr, dev.failure !== null ? "failed: " + dev.failure : (dev.enabled ? "hashing" : "disabled"),
        dev.failure !== null ? "bad" : "");
      cell(tr, si(dev.measured_hs, "H/s"), "num");
      cell(tr, si(dev.proven_hs, "H/s"), "num");
      cell(tr, dev.claims_more_than_proven ? "more than proven" : "ok",
        dev.claims_more_than_proven ? "bad" : "good");
      cell(tr, count(dev.hardware_errors), dev.hardware_errors ? "num bad" : "num");
      cell(tr, count(dev.known_answer_misses), dev.known_answer_misses ? "num bad" : "num");
      cell(tr, count(dev.known_answers_passed), "num");
      cell(tr, count(dev.accepted), "num");
      cell(tr, count(dev.rejected), "num");
      cell(tr, count(dev.stale), "num");
      cell(tr, dev.device, "wide");
      body.appendChild(tr);
    });
  }

  function renderPools(p) {
    var body = $("pools").tBodies[0];
    body.replaceChildren();
    p.pools.forEach(function (pool) {
      var tr = document.createElement("tr");
      cell(tr, String(pool.index) + (pool.active ? " ●" : ""));
      cell(tr, pool.url, "wide");
      cell(tr, pool.user);
      cell(tr, pool.status, pool.status === "alive" ? "good" : "");
      cell(tr, count(pool.accepted), "num");
      cell(tr, count(pool.rejected), "num");
      cell(tr, pool.difficulty === null ? "–" : String(pool.difficulty), "num");
      body.appendChild(tr);
    });
  }

  /* Up to the last hour as two polylines in the SVG's 600 x 200 box, time running to the
     newest point; a run younger than the hour fills the width. The history has a point every
     step; the status's rates, as of now, end the lines, so a young run shows a line too. */
  function renderHistory(h, status) {
    var points = h.points.slice();
    var last = points.length ? points[points.length - 1].at : 0;
    if (status && status.uptime_seconds > last) {
      points.push({
        at: status.uptime_seconds,
        measured_hs: status.hashrate.measured_hs,
        proven_hs: status.hashrate.proven_hs
      });
    }
    var end = points.length ? points[points.length - 1].at : 0;
    var start = points.length ? points[0].at : 0;
    var span = Math.min(h.span_seconds, Math.max(end - start, h.step_seconds));
    var top = 0;
    points.forEach(function (pt) { top = Math.max(top, pt.measured_hs, pt.proven_hs); });
    top = top > 0 ? top * 1.1 : 1;
    var line = function (key) {
      return points.map(function (pt) {
        var x = 600 - (end - pt.at) / span * 600;
        var y = 199 - pt[key] / top * 195;
        return x.toFixed(1) + "," + y.toFixed(1);
      }).join(" ");
    };
    $("line-measured").setAttribute("points", line("measured_hs"));
    $("line-proven").setAttribute("points", line("proven_hs"));
    show("chart-span", span >= 3600 ? "last hour" : "last " + duration(span), span);
    show("chart-max", si(top, "H/s"), top);
    show("chart-points", String(points.length), points.length);
  }

  /* One chain of polls: a poll asked for while one is out runs right after it. */
  var polling = false, again = false, timer = null;
  function poll() {
    clearTimeout(timer);
    if (polling) { again = true; return; }
    polling = true;
    var token = readToken();
    Promise.all([
      call("GET", "v1/status", token),
      call("GET", "v1/devices", token),
      call("GET", "v1/pools", token),
      call("GET", "v1/history", token)
    ]).then(function (r) {
      renderStatus(r[0]);
      renderDevices(r[1]);
      renderPools(r[2]);
      renderHistory(r[3], r[0]);
      show("status", "updated " + new Date().toLocaleTimeString());
      $("status").className = "muted";
    }, function (err) {
      var why = err && err.status ? err.status + ": " + err.message
        : "no answer (" + (err && err.message ? err.message : String(err)) + ")";
      show("status", err && err.status === 401 ? "needs the read token (" + why + ")" : why);
      $("status").className = "bad";
    }).then(function () {
      polling = false;
      if (again) {
        again = false;
        poll();
      } else {
        timer = setTimeout(poll, POLL_MS);
      }
    });
  }

  function setpointBody() {
    var kind = $("setpoint-kind").value;
    var value = Number($("setpoint-value").value);
    if (kind === "off") { return { off: true }; }
    if (kind === "release") { return { release: true }; }
    if (!$("setpoint-value").value || !isFinite(value) || value < 0) {
      throw new Error("give a number of " + (kind === "watts" ? "watts" : "hashes per second"));
    }
    return kind === "watts" ? { watts: value } : { hashrate_hs: value };
  }

  $("setpoint-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var out = $("control-result");
    var body;
    try { body = setpointBody(); } catch (e) {
      out.textContent = e.message;
      out.className = "bad";
      return;
    }
    out.textContent = "sending…";
    out.className = "muted";
    call("PUT", "v1/setpoint", $("control-token").value, body).then(function (r) {
      out.textContent = "applied: " + (r && r.setpoint ? JSON.stringify(r.setpoint) : "released");
      out.className = "good";
      poll();
    }, function (err) {
      out.textContent = err && err.status
        ? "refused (" + err.status + "): " + err.message
        : "the miner does not answer";
      out.className = "bad";
    });
  });

  $("setpoint-kind").addEventListener("change", function () {
    var kind = $("setpoint-kind").value;
    $("setpoint-value").disabled = kind === "off" || kind === "release";
  });
  $("setpoint-value").disabled = true;

  $("read-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var token = $("read-token").value;
    if (token) { sessionStorage.setItem(READ_KEY, token); } else { sessionStorage.removeItem(READ_KEY); }
    $("read-token").value = "";
    $("read-token").placeholder = token ? "read token kept for this tab" : "read token (if the API asks for one)";
    poll();
  });

  poll();
})();
