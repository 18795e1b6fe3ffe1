// Watch page: starts the player on the playback URL the worker signed into this page, shows a
// clear message when playback fails, and fetches a fresh token from /v1/token on Retry.
// Served inline under the page's CSP nonce; see src/page.rs.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("watch-data").textContent);
  var video = document.getElementById("video");
  var statusBox = document.getElementById("status");
  var statusText = document.getElementById("status-text");
  var retryButton = document.getElementById("retry");
  var ivsPlayer = null;
  var hls = null;

  function showMessage(text, canRetry) {
    statusText.textContent = text;
    retryButton.hidden = !canRetry;
    statusBox.hidden = false;
    document.body.setAttribute("data-state", "error");
  }

  function clearMessage() {
    statusBox.hidden = true;
    document.body.setAttribute("data-state", "playing");
  }

  // HTTP status (IVS answers 403 for a refused token, 404 while the channel is offline) to words.
  function explain(status, type) {
    if (status === 403 || status === 401 || type === "ErrorAuthorization") {
      return "The stream refused this page's access token (expired or not valid here). Retry to get a fresh one.";
    }
    if (status === 404 || type === "ErrorNotAvailable") {
      return "The stream is offline right now. Retry when it is live.";
    }
    return "Playback failed" + (status ? " (HTTP " + status + ")" : "") + ". Check your connection and retry.";
  }

  function play(url) {
    document.body.setAttribute("data-state", "loading");
    if (window.IVSPlayer && window.IVSPlayer.isPlayerSupported) {
      if (!ivsPlayer) {
        var config = data.ivs_player ? { wasmWorker: data.ivs_player.wasm_worker, wasmBinary: data.ivs_player.wasm_binary } : {};
        ivsPlayer = window.IVSPlayer.create(config);
        ivsPlayer.attachHTMLVideoElement(video);
        ivsPlayer.addEventListener(window.IVSPlayer.PlayerEventType.ERROR, function (error) {
          showMessage(explain(error && error.code, error && error.type), true);
        });
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
          showMessage(explain(detail.response && detail.response.code, null), true);
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
    showMessage(explain(0, null), true);
  });

  retryButton.addEventListener("click", function () {
    statusText.textContent = "Getting a fresh token\u2026";
    retryButton.hidden = true;
    fetch(data.token_endpoint, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body.detail || "the token service answered " + response.status);
          }
          return body;
        });
      })
      .then(function (body) {
        play(body.playback_url);
      })
      .catch(function (error) {
        showMessage("Could not get a fresh token: " + error.message, true);
      });
  });

  play(data.playback_url);
})();
