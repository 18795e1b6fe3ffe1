// Watch page: starts the player on the playback URL the worker signed into this page and heals
// itself. Every playback failure is shown in words. When the stream refuses the token (expired
// after a pause, reconnect after its lifetime, single use spent), the page fetches a fresh one
// from /v1/token and resumes on its own, once per failure, after a short backoff; only if that
// fails does it show the message and Retry. A session that expired meanwhile (/v1/token: 401)
// reloads the page, which the worker answers with the sign-in redirect or page.
// On a device-limited channel (`data.heartbeat`) it also keeps the device's slot: a heartbeat
// every `interval_ms` while the page is open, the slot released (sendBeacon) when the page closes,
// and on `409 device-evicted` (another device took over, or an operator revoked the viewer) the
// player stops and the page says why, with "Watch here instead". A refused token is renewed only
// after a heartbeat says the slot is still held, so an evicted page never takes it back by itself.
// Served inline under the page's CSP nonce; see src/page/watch.rs.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("watch-data").textContent);
  var video = document.getElementById("video");
  var statusBox = document.getElementById("status");
  var statusText = document.getElementById("status-text");
  var retryButton = document.getElementById("retry");
  var ivsPlayer = null;
  var hls = null;
  var renewedAutomatically = false; // one automatic renewal per failure; reset once playing again
  var RENEW_BACKOFF_MS = 1000;
  var SIGN_IN_RELOAD_KEY = "ivs-token-worker:sign-in-reload";
  var heartbeat = data.heartbeat || null;
  var evicted = false;
  var beatTimer = null;

  // An address with ?takeover=true (an old bookmark) takes nothing over (only the button's POST
  // does, and it redirects to the plain page); the address should not say otherwise.
  if (window.history && window.history.replaceState && /[?&]takeover=/.test(window.location.search)) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  function showMessage(text, canRetry) {
    statusText.textContent = text;
    retryButton.hidden = !canRetry;
    statusBox.hidden = false;
    document.body.setAttribute("data-state", "error");
  }

  function clearMessage() {
    statusBox.hidden = true;
    renewedAutomatically = false;
    document.body.setAttribute("data-state", "playing");
  }

  // A failure in words, and whether a fresh token may cure it. IVS answers 403 for a refused
  // token and 404 while the channel is offline; status 0 or a network type means no answer at all.
  function explain(status, type) {
    if (status === 403 || status === 401 || type === "ErrorAuthorization") {
      return { tokenRefused: true, text: "The stream refused this page's access token (expired, already used, or not valid here)." };
    }
    if (status === 404 || type === "ErrorNotAvailable") {
      return { text: "The stream is offline right now. Retry when it is live." };
    }
    if (!status || type === "ErrorNetwork" || type === "ErrorNetworkIO" || type === "ErrorTimeout") {
      return { text: "The stream could not be reached (network error). Check your connection, then retry." };
    }
    return { text: "Playback failed (HTTP " + status + "). Retry in a moment." };
  }

  function stopPlayer() {
    if (ivsPlayer) {
      ivsPlayer.pause();
      ivsPlayer.delete();
      ivsPlayer = null;
    }
    if (hls) {
      hls.destroy();
      hls = null;
    }
    video.pause();
    video.removeAttribute("src");
    video.load();
  }

  // This device lost its slot: stop for good (no automatic renewal), say why, offer to take over.
  function showEvicted(text) {
    if (evicted) {
      return;
    }
    evicted = true;
    if (beatTimer !== null) {
      clearInterval(beatTimer);
    }
    stopPlayer();
    showMessage(text, false);
    // A form POST to this worker, never a link: a takeover evicts another device, and only this
    // origin's own page may ask for one (the worker ignores `takeover` on a GET).
    var form = document.createElement("form");
    form.method = "post";
    form.action = heartbeat.takeover_url;
    var button = document.createElement("button");
    button.id = "takeover";
    button.type = "submit";
    button.textContent = "Watch here instead";
    form.appendChild(button);
    statusBox.appendChild(form);
    document.body.setAttribute("data-state", "evicted");
  }

  var EVICTED_TEXT = "This stream is now playing on another device of this account, so it stopped here.";

  // One heartbeat; `onHeld` runs when the slot is still this device's (or the answer says
  // nothing either way: a network error never stops playback).
  function beat(onHeld) {
    fetch(heartbeat.endpoint, { method: "POST", credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 409) {
          showEvicted(EVICTED_TEXT);
        } else if (onHeld) {
          onHeld();
        }
      })
      .catch(function () {
        if (onHeld) {
          onHeld();
        }
      });
  }

  function failed(status, type) {
    var failure = explain(status, type);
    if (evicted) {
      return;
    }
    if (failure.tokenRefused && heartbeat && !renewedAutomatically) {
      // A revoked session looks like any refused token: ask whether the slot is still ours first.
      renewedAutomatically = true;
      showMessage(failure.text + " Getting a fresh one\u2026", false);
      beat(function () {
        setTimeout(renewToken, RENEW_BACKOFF_MS);
      });
    } else if (failure.tokenRefused && !renewedAutomatically) {
      renewedAutomatically = true;
      showMessage(failure.text + " Getting a fresh one\u2026", false);
      setTimeout(renewToken, RENEW_BACKOFF_MS);
    } else if (failure.tokenRefused) {
      showMessage(failure.text + " Retry to get a fresh one.", true);
    } else {
      showMessage(failure.text, true);
    }
  }

  // The session ended while watching: the page itself leads to sign-in (LOGIN_URL redirect or the
  // sign-in page). Reloads at most once a minute, so a broken sign-in cannot loop.
  function signInAgain() {
    var last = Number(sessionStorage.getItem(SIGN_IN_RELOAD_KEY) || 0);
    if (Date.now() - last < 60000) {
      showMessage("Your session has expired. Sign in again, then reload this page.", false);
      return;
    }
    sessionStorage.setItem(SIGN_IN_RELOAD_KEY, String(Date.now()));
    showMessage("Your session has expired. Taking you to sign in\u2026", false);
    window.location.reload();
  }

  function renewToken() {
    fetch(data.token_endpoint, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) {
          return null;
        }
        return response.json().then(function (body) {
          if (response.status === 403 && heartbeat && /device-limit$/.test(body.type || "")) {
            showEvicted(EVICTED_TEXT);
            return undefined;
          }
          if (!response.ok) {
            throw new Error(body.detail || "the token service answered " + response.status);
          }
          return body;
        });
      })
      .then(function (body) {
        if (body === null) {
          signInAgain();
        } else if (body !== undefined) {
          play(body.playback_url);
        }
      })
      .catch(function (error) {
        showMessage("Could not get a fresh token: " + error.message, true);
      });
  }

  function play(url) {
    document.body.setAttribute("data-state", "loading");
    if (window.IVSPlayer && window.IVSPlayer.isPlayerSupported) {
      if (!ivsPlayer) {
        var config = data.ivs_player ? { wasmWorker: data.ivs_player.wasm_worker, wasmBinary: data.ivs_player.wasm_binary } : {};
        ivsPlayer = window.IVSPlayer.create(config);
        ivsPlayer.attachHTMLVideoElement(video);
        var events = window.IVSPlayer.PlayerEventType;
        ivsPlayer.addEventListener(events.ERROR, function (error) {
          failed(error && error.code, error && error.type);
        });
        // The player retries network errors by itself, silently: say what is going on meanwhile.
        if (events.RECOVERABLE_ERROR) {
          ivsPlayer.addEventListener(events.RECOVERABLE_ERROR, function (error) {
            var failure = explain(error && error.code, error && error.type);
            if (!failure.tokenRefused) {
              showMessage(failure.text, true);
            }
          });
        }
        ivsPlayer.addEventListener(window.IVSPlayer.PlayerState.PLAYING, clearMessage);
      }
      ivsPlayer.setAutoplay(true);
      ivsPlayer.setMuted(true);
      ivsPlayer.load(url);
      ivsPlayer.play();
    } else if (window.Hls && window.Hls.isSupported()) {
      if (hls) {
        hls.destroy();
      }
      hls = new window.Hls();
      hls.on(window.Hls.Events.ERROR, function (_event, detail) {
        if (detail && detail.fatal) {
          failed(detail.response && detail.response.code, null);
        }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      video.muted = true;
      video.play().catch(function () {});
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
      video.play().catch(function () {});
    } else {
      showMessage("This browser cannot play this stream.", false);
    }
  }

  video.addEventListener("playing", clearMessage);
  video.addEventListener("error", function () {
    var code = video.error ? " (media error " + video.error.code + ")" : "";
    showMessage("The video could not be played" + code + ". Retry in a moment.", true);
  });

  retryButton.addEventListener("click", function () {
    statusText.textContent = "Getting a fresh token\u2026";
    retryButton.hidden = true;
    renewToken();
  });

  if (heartbeat) {
    beatTimer = setInterval(function () {
      beat(null);
    }, heartbeat.interval_ms);
    // The page closes (or is reloaded): give the slot up, so the account's next device needs no
    // takeover. A reload asks again at once and keeps its slot.
    // A reload's release may reach the ledger just after the reload's own admission: one early
    // heartbeat takes the slot back from "released" at once rather than an interval later.
    setTimeout(function () {
      beat(null);
    }, 2000);
    window.addEventListener("pagehide", function () {
      if (!evicted && navigator.sendBeacon) {
        navigator.sendBeacon(heartbeat.endpoint + "&release=true");
      }
    });
  }

  play(data.playback_url);
})();
