// Stage page: joins the IVS real-time stage with the participant token the worker signed into
// this page (no token round trip), renders every remote participant, publishes camera and
// microphone on "Join on camera" when the token allows it, explains SDK errors in words, and
// fetches a fresh token from /v1/stage-token on Retry. Inline under the page's CSP nonce; see
// src/page.rs.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("stage-data").textContent);
  var statusBox = document.getElementById("status");
  var statusText = document.getElementById("status-text");
  var retryButton = document.getElementById("retry");
  var connection = document.getElementById("connection");
  var participants = document.getElementById("participants");
  var empty = document.getElementById("empty");
  var cameraButton = document.getElementById("join-camera");
  var SDK = window.IVSBroadcastClient;
  var stage = null;
  var publishing = false;
  var localStreams = [];
  var tiles = {};
  var watchdog = 0;
  // The SDK keeps retrying a refused or unreachable events endpoint without emitting an error, so
  // the page says so itself when a join has not connected after this long (and keeps trying).
  var JOIN_WATCHDOG_MS = 15000;

  function showMessage(text, canRetry) {
    statusText.textContent = text;
    retryButton.hidden = !canRetry;
    statusBox.hidden = false;
    document.body.setAttribute("data-state", "error");
  }

  function clearMessage() {
    statusBox.hidden = true;
  }

  // A StageError (or a join() rejection) to words a viewer can act on.
  function explain(error) {
    var codes = (SDK && SDK.StageErrorCode) || {};
    var code = error && error.code;
    var detail = error && error.message ? " (" + String(error.message).slice(0, 160) + ")" : "";
    if (code === codes.TOKEN_MALFORMED || code === codes.TOKEN_EXPIRED || code === codes.TOKEN_NOT_ALLOWED) {
      return "The stage refused this page's access token (expired or not valid here). Retry to get a fresh one." + detail;
    }
    if (code === codes.STAGE_AT_CAPACITY) {
      return "The stage is full right now. Retry in a moment.";
    }
    if (code === codes.STAGE_DELETED) {
      return "This stage no longer exists.";
    }
    if (code === codes.CODEC_MISMATCH) {
      return "This browser cannot send or receive the stage's video format.";
    }
    return "Could not connect to the stage: the network or the stage service did not answer. Check your connection and retry." + detail;
  }

  function setConnection(state) {
    connection.textContent = { connecting: "Connecting...", connected: "Connected", disconnected: "Disconnected", errored: "Connection failed" }[state] || state;
    document.body.setAttribute("data-connection", state);
  }

  function tileFor(participant) {
    var tile = tiles[participant.id];
    if (!tile) {
      var figure = document.createElement("figure");
      var video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.muted = participant.isLocal;
      var caption = document.createElement("figcaption");
      var name = participant.attributes && participant.attributes.display_name;
      caption.textContent = participant.isLocal ? "You" : name || "Participant";
      figure.appendChild(video);
      figure.appendChild(caption);
      participants.appendChild(figure);
      tile = tiles[participant.id] = { figure: figure, video: video, media: new MediaStream() };
      video.srcObject = tile.media;
    }
    empty.hidden = true;
    return tile;
  }

  function removeTile(participant) {
    var tile = tiles[participant.id];
    if (tile) {
      tile.figure.remove();
      delete tiles[participant.id];
    }
    empty.hidden = Object.keys(tiles).length > 0;
  }

  var strategy = {
    stageStreamsToPublish: function () { return localStreams; },
    shouldPublishParticipant: function () { return publishing; },
    shouldSubscribeToParticipant: function () { return SDK.SubscribeType.AUDIO_VIDEO; },
  };

  function join(token) {
    if (stage) {
      stage.leave();
    }
    setConnection("connecting");
    window.clearTimeout(watchdog);
    watchdog = window.setTimeout(function () {
      showMessage(explain(null) + " (Still trying.)", true);
    }, JOIN_WATCHDOG_MS);
    var E = SDK.StageEvents;
    stage = new SDK.Stage(token, strategy);
    stage.on(E.STAGE_CONNECTION_STATE_CHANGED, function (state) {
      setConnection(state);
      if (state === SDK.StageConnectionState.CONNECTED) {
        window.clearTimeout(watchdog);
        clearMessage();
      }
    });
    stage.on(E.ERROR, function (error) {
      window.clearTimeout(watchdog);
      showMessage(explain(error), true);
    });
    stage.on(E.STAGE_PARTICIPANT_STREAMS_ADDED, function (participant, streams) {
      var tile = tileFor(participant);
      streams.forEach(function (stream) { tile.media.addTrack(stream.mediaStreamTrack); });
    });
    stage.on(E.STAGE_PARTICIPANT_STREAMS_REMOVED, function (participant, streams) {
      var tile = tiles[participant.id];
      if (tile) {
        streams.forEach(function (stream) { tile.media.removeTrack(stream.mediaStreamTrack); });
        if (tile.media.getTracks().length === 0) {
          removeTile(participant);
        }
      }
    });
    stage.on(E.STAGE_PARTICIPANT_LEFT, removeTile);
    stage.join().catch(function (error) {
      setConnection("errored");
      showMessage(explain(error), true);
    });
  }

  retryButton.addEventListener("click", function () {
    retryButton.disabled = true;
    fetch(data.token_endpoint, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body.detail || "HTTP " + response.status);
          }
          return body;
        });
      })
      .then(function (body) {
        clearMessage();
        join(body.token);
      })
      .catch(function (error) {
        showMessage("Could not get a fresh access token: " + error.message, true);
      })
      .then(function () {
        retryButton.disabled = false;
      });
  });

  if (cameraButton) {
    cameraButton.addEventListener("click", function () {
      if (publishing) {
        publishing = false;
        localStreams.forEach(function (s) { s.mediaStreamTrack.stop(); });
        localStreams = [];
        cameraButton.textContent = "Join on camera";
        stage.refreshStrategy();
        return;
      }
      navigator.mediaDevices
        .getUserMedia({ video: true, audio: true })
        .then(function (media) {
          localStreams = media.getTracks().map(function (track) { return new SDK.LocalStageStream(track); });
          publishing = true;
          cameraButton.textContent = "Leave camera";
          stage.refreshStrategy();
        })
        .catch(function (error) {
          showMessage("The camera or microphone is not available (" + error.name + "). Allow access and try again.", false);
        });
    });
  }

  if (!SDK || !SDK.Stage) {
    showMessage("The stage software did not load. Reload the page.", false);
    return;
  }
  join(data.token);
})();
